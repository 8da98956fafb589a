//! `/monitors/<id>` (state, uptime, percentiles, response-time chart, history, alerts),
//! the add-monitor form, and pause / delete for monitors made outside the config file.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use pharos_model::{MonitorSpec, Outcome, ProbeResult};
use pharos_store::{AlertRecord, MonitorSource};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{self, Nav, ago, latency_chart, millis, percent, state_badge};
use super::{error_page, guard, may_post};
use pharos_app::monitors::{MonitorDetail, MonitorSummary};
use pharos_web::api::monitors::{load_detail, parse_id};
use pharos_web::api::{ApiError, parse_json};
use pharos_web::{PublicPage, SharedState};

const HISTORY: u64 = 100;

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Monitors), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let detail = match parse_id(&id) {
        Ok(id) => load_detail(&state, id, HISTORY).await,
        Err(e) => Err(e),
    };
    let d = match detail {
        Ok(d) => d,
        Err(e) => return error_page(e, signed_in),
    };
    let id2 = d.summary.id.clone();
    let alerts = state
        .with_store(move |s| s.alerts_with_label("monitor", id2.as_str(), 20))
        .await
        .unwrap_or_default();
    let body = body(
        &d,
        &alerts,
        signed_in,
        may_post(&caller, "/monitors/{id}/pause"),
    );
    layout::page(&d.summary.name, Nav::None, signed_in, body).into_response()
}

fn body(d: &MonitorDetail, alerts: &[AlertRecord], signed_in: bool, may_change: bool) -> Markup {
    let m = &d.summary;
    html! {
        (heading(d))
        (cards(d))
        // The ping URL is a credential: whoever has it can fail the job or keep a dead
        // one looking up, so a public monitor page leaves it out.
        @if let Some(url) = d.ping_url.as_ref().filter(|_| signed_in) {
            h2 { "Ping URL" }
            p { "Have the job request this URL when it succeeds; add " code { "/start" } " when it begins, " code { "/fail" } " or " code { "/<exit code>" } " when it ends." }
            pre data-testid="ping-url" { code { (url) } }
            p.small.muted { "Last ping: " (ago(d.last_ping_at)) }
        }
        @if m.kind != "heartbeat" {
            h2 { "Response time" }
            div.chartbox { (latency_chart(&response_points(&d.recent_results), 1100, 160)) }
        }
        @if !d.numbers.is_empty() {
            h2 { "Recorded values" }
            table { thead { tr { th { "Field" } th.num { "Value" } th { "At" } } }
                tbody { @for n in &d.numbers { tr { td { code { (n.name) } } td.num { (n.value) } td { (ago(Some(n.at))) } } } } }
        }
        h2 { "Alerts" }
        (alert_table(alerts))
        h2 { "History" }
        (history(m, &d.recent_results))
        @if m.source == MonitorSource::Api && may_change {
            (manage(m))
        }
    }
}

/// Response times oldest first, each with whether the check passed.
fn response_points(results: &[ProbeResult]) -> Vec<(Option<f64>, bool)> {
    results
        .iter()
        .rev()
        .map(|r| (r.latency_ms, r.outcome != Outcome::Down))
        .collect()
}

fn heading(d: &MonitorDetail) -> Markup {
    let m = &d.summary;
    html! {
        p.small { a href="/" { "← All monitors" } }
        h1 { (state_badge(m.state)) " " (m.name) }
        p.muted {
            (m.kind) " · " (m.target)
            @if m.kind != "heartbeat" { " · every " (d.spec.interval) }
            @if m.source == MonitorSource::Config { " · defined in the config file" }
            @if d.in_maintenance { " · " strong { "in maintenance" } }
        }
        @if let Some(desc) = &d.description { p { (desc) } }
        @if let Some(e) = &m.last_error { div.error-box data-testid="last-error" { "Last check failed: " (e) } }
    }
}

fn cards(d: &MonitorDetail) -> Markup {
    let m = &d.summary;
    html! {
        div.cards {
            div.card { div.label { "Uptime 24 h" } div.value data-uptime="24h" { (percent(m.uptime_percent.h24)) } }
            div.card { div.label { "Uptime 7 d" } div.value { (percent(m.uptime_percent.d7)) } }
            div.card { div.label { "Uptime 30 d" } div.value { (percent(m.uptime_percent.d30)) } }
            div.card { div.label { "p50 (24 h)" } div.value { (millis(d.latency_24h.p50_ms)) } }
            div.card { div.label { "p95 (24 h)" } div.value { (millis(d.latency_24h.p95_ms)) } }
            div.card { div.label { "p99 (24 h)" } div.value { (millis(d.latency_24h.p99_ms)) } }
            div.card { div.label { "State since" } div.value.small { (ago(d.last_state_change)) } }
        }
    }
}

fn alert_table(alerts: &[AlertRecord]) -> Markup {
    html! {
        @if alerts.is_empty() { p.muted { "No alerts yet." } } @else {
            table { thead { tr { th { "State" } th { "Alert" } th { "Started" } th { "Ended" } } }
                tbody { @for a in alerts { tr {
                    td { span class={ "badge " (a.alert.state.as_str()) } { (layout::capitalized(a.alert.state.as_str())) } }
                    td { (a.alert.name()) div.small.muted { (a.alert.annotations.get("summary").map(String::as_str).unwrap_or("")) } }
                    td { (ago(Some(a.alert.starts_at))) } td { (ago(a.alert.ends_at)) }
                } } } }
        }
    }
}

fn history(m: &MonitorSummary, results: &[ProbeResult]) -> Markup {
    html! {
        @if results.is_empty() {
            p.muted { @if m.kind == "heartbeat" { "No pings yet." } @else { "No checks yet." } }
        }
        table.history {
            thead { tr { th { "Time" } th { "Outcome" } th.num { "Response time" } th.num { "Status" } th { "Detail" } } }
            tbody {
                @for r in results {
                    tr data-outcome=(r.outcome.as_str()) {
                        td.small { (r.at.format("%Y-%m-%d %H:%M:%S")) }
                        td { span class={ "badge " (r.outcome.as_str()) } { (layout::capitalized(r.outcome.as_str())) } }
                        td.num { (millis(r.latency_ms)) }
                        td.num { @if let Some(c) = r.status_code { (c) } }
                        td.small { (r.error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// Pause or resume and delete, for monitors made through the API or this UI.
fn manage(m: &MonitorSummary) -> Markup {
    html! {
        h2 { "Manage" }
        div style="display:flex; gap:1rem" {
            form method="post" action={ "/monitors/" (m.id) "/pause" } {
                button.primary type="submit" { @if m.paused { "Resume" } @else { "Pause" } }
            }
            form method="post" action={ "/monitors/" (m.id) "/delete" } {
                button.danger type="submit" { "Delete monitor" }
            }
        }
    }
}

/// The add-monitor form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct NewMonitor {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    expected_status: String,
    #[serde(default)]
    keyword: String,
    #[serde(default)]
    json_assertion: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    ping_host: String,
    #[serde(default)]
    domain_name: String,
    #[serde(default)]
    expiry_warning_days: String,
    #[serde(default)]
    grpc_address: String,
    #[serde(default)]
    grpc_service: String,
    #[serde(default)]
    grpc_tls: String,
    #[serde(default)]
    dns_name: String,
    #[serde(default)]
    record_type: String,
    #[serde(default)]
    resolver: String,
    #[serde(default)]
    expected: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    grace: String,
    #[serde(default)]
    interval: String,
    #[serde(default)]
    failures_before_down: String,
}

impl NewMonitor {
    /// The same JSON the API takes, so the form is checked by the same rules.
    fn to_json(&self) -> Value {
        let set = |m: &mut serde_json::Map<String, Value>, k: &str, v: &str| {
            if !v.trim().is_empty() {
                m.insert(k.into(), json!(v.trim()));
            }
        };
        let mut check = serde_json::Map::new();
        match self.kind.as_str() {
            "tcp" => set(&mut check, "address", &self.address),
            "icmp" => set(&mut check, "host", &self.ping_host),
            "domain" => {
                set(&mut check, "name", &self.domain_name);
                if let Ok(days) = self.expiry_warning_days.trim().parse::<u32>() {
                    check.insert("expiry_warning_days".into(), json!(days));
                }
            }
            "grpc" => {
                set(&mut check, "address", &self.grpc_address);
                set(&mut check, "service", &self.grpc_service);
                if !self.grpc_tls.is_empty() {
                    check.insert("tls".into(), json!(true));
                }
            }
            "dns" => {
                set(&mut check, "name", &self.dns_name);
                set(&mut check, "record_type", &self.record_type);
                set(&mut check, "resolver", &self.resolver);
                let expected: Vec<&str> = self
                    .expected
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                if !expected.is_empty() {
                    check.insert("expected".into(), json!(expected));
                }
            }
            "heartbeat" => {
                set(&mut check, "period", &self.period);
                set(&mut check, "schedule", &self.schedule);
                set(&mut check, "timezone", &self.timezone);
                set(&mut check, "grace", &self.grace);
            }
            _ => {
                set(&mut check, "url", &self.url);
                set(&mut check, "method", &self.method);
                set(&mut check, "keyword", &self.keyword);
                if !self.expected_status.trim().is_empty() {
                    let codes: Vec<&str> = self
                        .expected_status
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect();
                    check.insert("expected_status".into(), json!(codes));
                }
                if !self.json_assertion.trim().is_empty() {
                    check.insert(
                        "json_assertions".into(),
                        json!([self.json_assertion.trim()]),
                    );
                }
            }
        }
        let kind = if ["tcp", "dns", "grpc", "domain", "icmp", "heartbeat"]
            .contains(&self.kind.as_str())
        {
            self.kind.as_str()
        } else {
            "http"
        };
        let mut m = serde_json::Map::new();
        m.insert("name".into(), json!(self.name.trim()));
        m.insert(kind.into(), Value::Object(check));
        if kind != "heartbeat" {
            set(&mut m, "interval", &self.interval);
        }
        if let Ok(n) = self.failures_before_down.trim().parse::<u32>() {
            m.insert("failures_before_down".into(), json!(n));
        }
        Value::Object(m)
    }
}

pub async fn new_form(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = if may_post(&caller, "/monitors/new") {
        form(&NewMonitor::default(), None)
    } else {
        html! {
            h1 { "Add a monitor" }
            p.muted #cannot-add { "Your role (" (caller) ") reads monitors but does not change them. Ask an admin for the editor role, or an editor to add this monitor." }
        }
    };
    layout::page("Add monitor", Nav::NewMonitor, signed_in, body).into_response()
}

pub async fn create(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Form(input): Form<NewMonitor>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bytes = serde_json::to_vec(&input.to_json()).unwrap_or_default();
    let result = match parse_json::<MonitorSpec>(&bytes) {
        Ok(spec) => state
            .create_monitor(&caller, spec)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => Redirect::to(&format!("/monitors/{id}")).into_response(),
        Err(e) => {
            let page = layout::page(
                "Add monitor",
                Nav::NewMonitor,
                signed_in,
                form(&input, Some(&e.message)),
            );
            (e.status, page).into_response()
        }
    }
}

fn form(v: &NewMonitor, error: Option<&str>) -> Markup {
    let kind = if v.kind.is_empty() {
        "http"
    } else {
        v.kind.as_str()
    };
    html! {
        h1 { "Add a monitor" }
        @if let Some(e) = error { div.error-box role="alert" { (e) } }
        form.stack method="post" action="/monitors/new" {
            label { "Name" input name="name" required value=(v.name) placeholder="API health"; }
            label { "Type"
                select name="kind" {
                    option value="http" selected[kind == "http"] { "HTTP(S) — Pharos requests a URL" }
                    option value="tcp" selected[kind == "tcp"] { "TCP — Pharos connects to host:port" }
                    option value="dns" selected[kind == "dns"] { "DNS — Pharos asks a resolver for a record" }
                    option value="grpc" selected[kind == "grpc"] { "gRPC — Pharos calls the health checking protocol" }
                    option value="icmp" selected[kind == "icmp"] { "Ping — Pharos sends ICMP echo requests" }
                    option value="domain" selected[kind == "domain"] { "Domain — Pharos reads the registration expiry (RDAP)" }
                    option value="heartbeat" selected[kind == "heartbeat"] { "Heartbeat — your job pings Pharos" }
                }
            }
            fieldset.http {
                legend { "HTTP" }
                label { "URL" input name="url" type="url" value=(v.url) placeholder="https://example.com/health"; }
                label { "Method" input name="method" value=(v.method) placeholder="GET"; }
                label { "Expected status" span.hint { "codes or ranges, comma separated; default 200-399" } input name="expected_status" value=(v.expected_status) placeholder="200, 2xx"; }
                label { "Keyword" span.hint { "text the body must contain" } input name="keyword" value=(v.keyword); }
                label { "JSON assertion" span.hint { "e.g. status == \"healthy\"" } input name="json_assertion" value=(v.json_assertion); }
            }
            fieldset.tcp {
                legend { "TCP" }
                label { "Address" input name="address" value=(v.address) placeholder="db.internal:5432"; }
            }
            fieldset.dns {
                legend { "DNS" }
                label { "Name to look up" input name="dns_name" value=(v.dns_name) placeholder="example.com"; }
                label { "Record type" span.hint { "A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT or CAA; default A" } input name="record_type" value=(v.record_type) placeholder="A"; }
                label { "Resolver" span.hint { "ip or ip:port; default the system's" } input name="resolver" value=(v.resolver) placeholder="1.1.1.1"; }
                label { "Expected values" span.hint { "comma separated, any one of them; empty: any record" } input name="expected" value=(v.expected); }
            }
            fieldset.grpc {
                legend { "gRPC" }
                label { "Server address" span.hint { "host:port" } input name="grpc_address" value=(v.grpc_address) placeholder="users.internal:50051"; }
                label { "Service" span.hint { "empty: the server as a whole" } input name="grpc_service" value=(v.grpc_service) placeholder="users.v1.Users"; }
                label { input name="grpc_tls" type="checkbox" checked[!v.grpc_tls.is_empty()]; " TLS" }
            }
            fieldset.icmp {
                legend { "Ping" }
                label { "Host" span.hint { "name or IP address" } input name="ping_host" value=(v.ping_host) placeholder="router.internal"; }
            }
            fieldset.domain {
                legend { "Domain" }
                label { "Registered domain" input name="domain_name" value=(v.domain_name) placeholder="example.com"; }
                label { "Warn within" span.hint { "days before the registration expires; default 30" } input name="expiry_warning_days" type="number" min="0" value=(v.expiry_warning_days) placeholder="30"; }
            }
            fieldset.heartbeat {
                legend { "Heartbeat" }
                label { "Period" span.hint { "how often the job runs, e.g. 5m, 1d" } input name="period" value=(v.period); }
                label { "or cron schedule" input name="schedule" value=(v.schedule) placeholder="0 3 * * *"; }
                label { "Time zone" input name="timezone" value=(v.timezone) placeholder="UTC"; }
                label { "Grace" span.hint { "how late a ping may be" } input name="grace" value=(v.grace) placeholder="60s"; }
            }
            label { "Check every" span.hint { "all but heartbeats; default 60s (domains 12h), at least 1s (domains 1h)" } input name="interval" value=(v.interval) placeholder="60s"; }
            label { "Failures before down" input name="failures_before_down" type="number" min="1" value=(v.failures_before_down) placeholder="1"; }
            div { button.primary type="submit" { "Add monitor" } }
        }
    }
}

pub async fn delete(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let result = match parse_id(&id) {
        Ok(id) => state
            .delete_monitor(&caller, &id)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => error_page(e, true),
    }
}

pub async fn pause(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let result = async {
        let mut spec = state.changeable_monitor(&parse_id(&id)?).await?.spec;
        spec.paused = !spec.paused;
        let id = spec.id.clone();
        state.change_monitor(&caller, spec).await?;
        Ok::<_, ApiError>(id)
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/monitors/{id}")).into_response(),
        Err(e) => error_page(e, true),
    }
}
