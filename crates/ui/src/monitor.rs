//! `/monitors/<id>` (state, uptime, percentiles, a time-axis chart of response time with
//! failures shaded over a picked range, the outages in that range, paged history,
//! alerts), the add-monitor form, and pause / delete for monitors made outside the config
//! file.

use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use pharos_model::{MonitorCheck, MonitorId, MonitorSpec, ProbeResult};
use pharos_store::{AlertRecord, MonitorSource};
use serde::Deserialize;
use serde_json::{Value, json};

use super::chart::{self, Line, Span, TimeChart};
use super::layout::{self, Nav, ago, millis, percent, state_badge};
use super::time_range::{self, TimeRange};
use super::{error_page, guard, may_post};
use chrono::{DateTime, Utc};
use pharos_app::monitors::{MonitorDetail, MonitorSummary, MonitorTimeline};
use pharos_store::Outage;
use pharos_web::api::monitors::{load_detail, parse_id};
use pharos_web::api::{ApiError, parse_json};
use pharos_web::{PublicPage, SharedState};

/// Checks per history page.
const HISTORY: u64 = 50;
/// Outages listed and shaded for a range, newest first; older ones still show as slices
/// with failed checks.
const MAX_OUTAGES: usize = 100;
/// The ranges the picker offers; any other duration (and an end) can be typed.
const RANGES: [&str; 4] = ["1h", "24h", "7d", "30d"];

/// The monitor page's parameters: the chart's range (`24h`, or any duration) and end
/// (empty for now), and the history page (checks before this Unix ms time).
#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    before: Option<String>,
}

/// What the page shows besides the monitor itself.
struct Views {
    range: TimeRange,
    notes: Vec<String>,
    timeline: MonitorTimeline,
    /// The history page, newest first.
    history: Vec<ProbeResult>,
    /// Whether the history page is an older one.
    paged: bool,
}

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
    q: Result<Query<PageParams>, QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Monitors), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let p = q.map(|q| q.0).unwrap_or_default();
    let detail = match parse_id(&id) {
        Ok(id) => load_detail(&state, id, 0).await,
        Err(e) => Err(e),
    };
    let d = match detail {
        Ok(d) => d,
        Err(e) => return error_page(e, signed_in),
    };
    let (range, mut notes) = time_range::from_params(
        p.range.as_deref(),
        p.end.as_deref(),
        None,
        "24h",
        Utc::now().timestamp_millis(),
    );
    let before = p.before.as_deref().and_then(|b| {
        let t = b
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis);
        if t.is_none() {
            notes.push(format!(
                "before {b:?} is not a Unix time in ms; showing the newest checks"
            ));
        }
        t
    });
    let id = d.summary.id.clone();
    let (since, until) = (
        DateTime::from_timestamp_millis(range.start_ms).unwrap_or_default(),
        DateTime::from_timestamp_millis(range.end_ms).unwrap_or_default(),
    );
    let timeline = state
        .monitor_timeline(id.clone(), since, until, range.step_ms, MAX_OUTAGES)
        .await;
    let history = state.monitor_results(id.clone(), before, HISTORY).await;
    let (timeline, history) = match (timeline, history) {
        (Ok(t), Ok(h)) => (t, h),
        (Err(e), _) | (_, Err(e)) => return error_page(ApiError::from(e), signed_in),
    };
    let alerts = state
        .with_store(move |s| s.alerts_with_label("monitor", id.as_str(), 20))
        .await
        .unwrap_or_default();
    let views = Views {
        range,
        notes,
        timeline,
        history,
        paged: before.is_some(),
    };
    let body = body(
        &d,
        &views,
        &alerts,
        signed_in,
        may_post(&caller, "/monitors/{id}/pause"),
    );
    layout::page(&d.summary.name, Nav::None, signed_in, body).into_response()
}

fn body(
    d: &MonitorDetail,
    v: &Views,
    alerts: &[AlertRecord],
    signed_in: bool,
    may_change: bool,
) -> Markup {
    let m = &d.summary;
    html! {
        (heading(d))
        (cards(d))
        // The ping URL is a credential: whoever has it can fail the job or keep a dead
        // one looking up, so a public monitor page leaves it out.
        @if let Some(url) = d.ping_url.as_ref().filter(|_| signed_in) {
            (ping_section(d, url))
        }
        (range_picker(d, &v.range))
        @for n in &v.notes { p.small.muted.note { (n) } }
        @if m.kind != "heartbeat" {
            h2 { "Response time" }
            div.chartbox { (response_chart(d, &v.range, &v.timeline)) }
        }
        h2 { "Outages" }
        (outage_table(&v.timeline.outages, &v.range))
        @if !d.numbers.is_empty() {
            h2 { "Recorded values" }
            div.table-scroll { table { thead { tr { th { "Field" } th.num { "Value" } th { "At" } } }
                tbody { @for n in &d.numbers { tr { td { code { (n.name) } } td.num { (n.value) } td { (ago(Some(n.at))) } } } } } }
        }
        h2 { "Alerts" }
        (alert_table(alerts))
        h2 #history { "History" }
        (history(m, &v.history))
        (history_pages(m, &v.range, &v.history, v.paged))
        @if m.source == MonitorSource::Api && may_change {
            (manage(m))
        }
    }
}

/// A cron schedule that runs a job about as often as a heartbeat expects pings: the
/// heartbeat's own schedule, or one derived from its period (a placeholder when the
/// period fits no simple schedule).
fn cron_schedule(d: &MonitorDetail) -> String {
    let pharos_model::MonitorCheck::Heartbeat(h) = &d.spec.check else {
        return "*/5 * * * *".into();
    };
    if let Some(s) = &h.schedule {
        return s.clone();
    }
    let minutes = h
        .period
        .map(|p| p.as_duration().as_secs() / 60)
        .unwrap_or(0);
    match minutes {
        1 => "* * * * *".into(),
        m if m > 1 && m < 60 && 60 % m == 0 => format!("*/{m} * * * *"),
        60 => "0 * * * *".into(),
        m if m % 60 == 0 && m < 1440 && 1440 % m == 0 => format!("0 */{} * * *", m / 60),
        1440 => "0 3 * * *".into(),
        10080 => "0 3 * * 1".into(),
        _ => "0 3 * * *".into(),
    }
}

/// The ping URL with a copy button, and snippets that ping it from cron or a script.
fn ping_section(d: &MonitorDetail, url: &str) -> Markup {
    let curl = "curl -fsS -m 10 --retry 5 -o /dev/null";
    let cron = format!("{} /path/to/job.sh && {curl} {url}", cron_schedule(d));
    let script = format!("{curl} {url}/start\n/path/to/job.sh\n{curl} {url}/$?");
    html! {
        h2 { "Ping URL" }
        p { "Have the job request this URL when it succeeds; add " code { "/start" } " when it begins, " code { "/fail" } " or " code { "/<exit code>" } " when it ends." }
        div.copyable {
            pre data-testid="ping-url" { code #ping-url-text { (url) } }
            button type="button" data-copy="ping-url-text" { "Copy" }
        }
        p.small.muted { "Last ping: " (ago(d.last_ping_at)) }
        h3 { "From cron" }
        div.copyable {
            pre data-testid="cron-snippet" { code #cron-snippet { (cron) } }
            button type="button" data-copy="cron-snippet" { "Copy" }
        }
        h3 { "From a script, with start and exit code" }
        div.copyable {
            pre data-testid="curl-snippet" { code #curl-snippet { (script) } }
            button type="button" data-copy="curl-snippet" { "Copy" }
        }
        script src="/monitors/copy.js" defer {}
    }
}

/// The embedded script behind the copy buttons.
pub async fn copy_script() -> impl IntoResponse {
    layout::javascript(include_str!("copy.js"))
}

/// The range's query string, so links that page the history keep the chart's range.
fn range_query(r: &TimeRange) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("range", &r.name);
    if let Some(e) = &r.end {
        q.append_pair("end", e);
    }
    q.finish()
}

/// Links for the usual ranges, and a form for any other range or end.
fn range_picker(d: &MonitorDetail, r: &TimeRange) -> Markup {
    let base = format!("/monitors/{}", d.summary.id);
    html! {
        div.range-picker data-testid="range-picker" {
            span.muted { "Range: " }
            @for name in RANGES {
                @let current = r.name == name && r.end.is_none();
                a href={ (base) "?range=" (name) } class=[current.then_some("current")] aria-current=[current.then_some("true")] { (name) }
                " "
            }
            form.inline method="get" action=(base) {
                label.inline { "Custom " input name="range" value=(r.name) size="5" title="a duration such as 90m, 3d"; }
                label.inline { " ending (UTC) " (crate::time_range::utc_input("end", r.end.as_deref().unwrap_or(""), "UTC; empty for now")) }
                " " button type="submit" { "Show" }
            }
        }
    }
}

/// Response time on a time axis (the average over each slice of the range), with
/// outages shaded dark and slices with other failed checks shaded light.
fn response_chart(d: &MonitorDetail, r: &TimeRange, t: &MonitorTimeline) -> Markup {
    let points: Vec<(i64, f64)> = t
        .buckets
        .iter()
        .filter_map(|b| b.avg_latency_ms.map(|v| (b.start_ms, v)))
        .collect();
    let lines = [Line {
        label: "Average response time".into(),
        points,
    }];
    let mut spans: Vec<Span> = t
        .buckets
        .iter()
        .filter(|b| b.down > 0)
        .map(|b| Span {
            start_ms: b.start_ms,
            end_ms: b.start_ms + r.step_ms,
            class: "failed",
            title: format!("{} of {} checks failed", b.down, b.checks),
        })
        .collect();
    // Before the raw results kept, the hourly roll-up still says which hours had failures
    // (but not when in the hour, nor response times).
    spans.extend(t.rolled_up_failures.iter().map(|h| Span {
        start_ms: h.hour_ms,
        end_ms: h.hour_ms + 3_600_000,
        class: "failed",
        title: format!(
            "{} of {} checks failed in this hour (hourly roll-up; older checks are no longer kept one by one)",
            h.checks - h.up,
            h.checks
        ),
    }));
    let now = Utc::now();
    spans.extend(t.outages.iter().map(|o| Span {
        start_ms: o.start.timestamp_millis(),
        end_ms: o.end.unwrap_or(now).timestamp_millis(),
        class: "outage",
        title: outage_sentence(o, now),
    }));
    // Points further apart than the check interval are missing checks, not a line.
    let interval_ms = d.spec.interval.as_duration().as_millis() as i64;
    let label = format!("Response time and failures, {}", range_label(r));
    let empty = if t.buckets.is_empty() {
        "no checks in this range"
    } else {
        "no response times: every check in this range failed"
    };
    chart::time_series_with_spans(
        &TimeChart {
            lines: &lines,
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            step_ms: r.step_ms.max(interval_ms),
            unit: "ms",
            decimals: None,
            marks: &[],
            width: 1100,
            height: 200,
            label: &label,
        },
        &spans,
        empty,
    )
}

fn range_label(r: &TimeRange) -> String {
    match &r.end {
        Some(e) => format!("{} ending {e} UTC", r.name),
        None => format!("last {}", r.name),
    }
}

/// `28 min`, `1 h 5 min`, `2 d 3 h`, `40 s`.
pub(crate) fn duration_text(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => match (s / 3600, s % 3600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        s => match (s / 86_400, s % 86_400 / 3600) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// "Down from 02:13:00 to 02:41:00 (28 min)", for a tooltip.
fn outage_sentence(o: &Outage, now: DateTime<Utc>) -> String {
    match o.end {
        Some(end) => format!(
            "Down from {} to {} UTC ({})",
            when(o.start),
            when(end),
            duration_text(end - o.start)
        ),
        None => format!(
            "Down since {} UTC ({} so far)",
            when(o.start),
            duration_text(now - o.start)
        ),
    }
}

/// Each outage in the range: when it began and ended (UTC), how long, and why.
fn outage_table(outages: &[Outage], r: &TimeRange) -> Markup {
    let now = Utc::now();
    html! {
        @if outages.is_empty() {
            p.muted data-testid="no-outages" { "No outages in the " (range_label(r)) "." }
        } @else {
            div.table-scroll {
                table.outages {
                    thead { tr { th { "Down from (UTC)" } th { "Until" } th.num { "Duration" } th.num { "Failed checks" } th { "First error" } } }
                    tbody {
                        @for o in outages {
                            tr data-testid="outage" data-start=(o.start.to_rfc3339()) data-end=[o.end.map(|e| e.to_rfc3339())] {
                                td.start { (when(o.start)) }
                                td.end { @match o.end { Some(e) => (when(e)), None => strong { "ongoing" } } }
                                td.num.duration { (duration_text(o.end.unwrap_or(now) - o.start)) }
                                td.num { (o.checks) }
                                td.small { @if let Some(e) = &o.error { (super::human_error::markup(e)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Newest and older links under the history.
fn history_pages(
    m: &MonitorSummary,
    r: &TimeRange,
    results: &[ProbeResult],
    paged: bool,
) -> Markup {
    let base = format!("/monitors/{}?{}", m.id, range_query(r));
    html! {
        p.pager {
            @if paged { a href={ (base) "#history" } { "← Newest" } " " }
            @if results.len() as u64 == HISTORY {
                @if let Some(last) = results.last() {
                    a rel="next" href={ (base) "&before=" (last.at.timestamp_millis()) "#history" } { "Older →" }
                }
            }
        }
    }
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
        @if let Some(e) = &m.last_error { div.error-box data-testid="last-error" { "Last check failed: " (super::human_error::markup(e)) } }
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
            div.table-scroll { table { thead { tr { th { "State" } th { "Alert" } th { "Started" } th { "Ended" } } }
                tbody { @for a in alerts { tr {
                    td { span class={ "badge " (a.alert.state.as_str()) } { (layout::capitalized(a.alert.state.as_str())) } }
                    td { (a.alert.name()) div.small.muted { (a.alert.annotations.get("summary").map(String::as_str).unwrap_or("")) } }
                    td { (ago(Some(a.alert.starts_at))) } td { (ago(a.alert.ends_at)) }
                } } } } }
        }
    }
}

fn history(m: &MonitorSummary, results: &[ProbeResult]) -> Markup {
    html! {
        @if results.is_empty() {
            p.muted { @if m.kind == "heartbeat" { "No pings yet." } @else { "No checks yet." } }
        }
        div.table-scroll { table.history {
            thead { tr { th { "Time" } th { "Outcome" } th.num { "Response time" } th.num { "Status" } th { "Detail" } } }
            tbody {
                @for r in results {
                    tr data-outcome=(r.outcome.as_str()) {
                        td.small { (r.at.format("%Y-%m-%d %H:%M:%S")) }
                        td { span class={ "badge " (r.outcome.as_str()) } { (layout::capitalized(r.outcome.as_str())) } }
                        td.num { (millis(r.latency_ms)) }
                        td.num { @if let Some(c) = r.status_code { (c) } }
                        td.small { @if let Some(e) = &r.error { (super::human_error::markup(e)) } }
                    }
                }
            }
        } }
    }
}

/// Pause or resume and delete, for monitors made through the API or this UI.
fn manage(m: &MonitorSummary) -> Markup {
    html! {
        h2 { "Manage" }
        div style="display:flex; flex-wrap:wrap; gap:1rem" {
            a.button href={ "/monitors/" (m.id) "/edit" } { "Edit" }
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
    /// Comma separated.
    #[serde(default)]
    tags: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    description: String,
    /// `Name: value`, one a line. The request and response options below come with it; a
    /// form without it (an older page, a script) leaves them as they are.
    #[serde(default)]
    headers: Option<String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    timeout: String,
    /// A checkbox: present when ticked. The form starts ticked, as the API's default.
    #[serde(default)]
    follow_redirects: String,
    #[serde(default)]
    keyword_absent: String,
    #[serde(default)]
    degraded_after: String,
    #[serde(default)]
    tls_expiry_warning_days: String,
    #[serde(default)]
    tls_skip_verify: String,
    /// `name=value`, one a line. The alerting options come with it; a form without it
    /// leaves them as they are.
    #[serde(default)]
    labels: Option<String>,
    #[serde(default)]
    successes_before_up: String,
    #[serde(default)]
    down_after: String,
}

/// `key<sep>value` lines (blank lines skipped) as a JSON object; `what` names the field in
/// the error a line without `sep` gets.
fn pairs(text: &str, sep: char, what: &str) -> Result<serde_json::Map<String, Value>, String> {
    let mut out = serde_json::Map::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once(sep) else {
            return Err(format!(
                "{what}, line {}: expected `name{sep}value`, got `{line}`",
                n + 1
            ));
        };
        out.insert(k.trim().to_string(), json!(v.trim()));
    }
    Ok(out)
}

impl NewMonitor {
    /// The same JSON the API takes, so the form is checked by the same rules; an error
    /// for a headers or labels line that is not a pair.
    fn to_json(&self) -> Result<Value, String> {
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
                let assertions = self.json_assertions();
                if !assertions.is_empty() {
                    check.insert("json_assertions".into(), json!(assertions));
                }
                if let Some(headers) = &self.headers {
                    self.http_options(headers, &mut check)?;
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
        let tags = self.tag_list();
        if !tags.is_empty() {
            m.insert("tags".into(), json!(tags));
        }
        set(&mut m, "group", &self.group);
        set(&mut m, "description", &self.description);
        if let Some(labels) = &self.labels {
            let labels = pairs(labels, '=', "Labels")?;
            if !labels.is_empty() {
                m.insert("labels".into(), Value::Object(labels));
            }
            if let Ok(n) = self.successes_before_up.trim().parse::<u32>() {
                m.insert("successes_before_up".into(), json!(n));
            }
            if kind != "heartbeat" {
                set(&mut m, "down_after", &self.down_after);
            }
        }
        Ok(Value::Object(m))
    }

    /// The HTTP check's request and response options into `check`.
    fn http_options(
        &self,
        headers: &str,
        check: &mut serde_json::Map<String, Value>,
    ) -> Result<(), String> {
        let headers = pairs(headers, ':', "Headers")?;
        if !headers.is_empty() {
            check.insert("headers".into(), Value::Object(headers));
        }
        // The body is sent as typed: whitespace may matter to the server.
        if !self.body.is_empty() {
            check.insert("body".into(), json!(self.body));
        }
        for (field, value) in [
            ("timeout", &self.timeout),
            ("keyword_absent", &self.keyword_absent),
            ("degraded_after", &self.degraded_after),
        ] {
            if !value.trim().is_empty() {
                check.insert(field.into(), json!(value.trim()));
            }
        }
        check.insert(
            "follow_redirects".into(),
            json!(!self.follow_redirects.is_empty()),
        );
        if let Ok(days) = self.tls_expiry_warning_days.trim().parse::<u32>() {
            check.insert("tls_expiry_warning_days".into(), json!(days));
        }
        if !self.tls_skip_verify.is_empty() {
            check.insert("tls_skip_verify".into(), json!(true));
        }
        Ok(())
    }

    fn tag_list(&self) -> Vec<&str> {
        self.tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// One assertion a line.
    fn json_assertions(&self) -> Vec<&str> {
        self.json_assertion
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect()
    }

    /// The form for changing `spec`, filled in with its definition (credentials
    /// redacted: sent back unchanged, they keep their stored values).
    fn from_spec(spec: &MonitorSpec) -> NewMonitor {
        let doc = serde_json::to_value(spec.redacted()).unwrap_or_default();
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let list = |v: &Value, sep: &str| {
            v.as_array()
                .map(|a| a.iter().map(text).collect::<Vec<_>>().join(sep))
                .unwrap_or_default()
        };
        let kind = spec.check.kind();
        let c = &doc[kind];
        NewMonitor {
            name: spec.name.clone(),
            kind: kind.to_string(),
            url: text(&c["url"]),
            method: text(&c["method"]),
            expected_status: list(&c["expected_status"], ", "),
            keyword: text(&c["keyword"]),
            json_assertion: list(&c["json_assertions"], "\n"),
            address: if kind == "tcp" {
                text(&c["address"])
            } else {
                String::new()
            },
            ping_host: if kind == "icmp" {
                text(&c["host"])
            } else {
                String::new()
            },
            domain_name: if kind == "domain" {
                text(&c["name"])
            } else {
                String::new()
            },
            expiry_warning_days: text(&c["expiry_warning_days"]),
            grpc_address: if kind == "grpc" {
                text(&c["address"])
            } else {
                String::new()
            },
            grpc_service: text(&c["service"]),
            grpc_tls: if c["tls"] == Value::Bool(true) {
                "on".into()
            } else {
                String::new()
            },
            dns_name: if kind == "dns" {
                text(&c["name"])
            } else {
                String::new()
            },
            record_type: text(&c["record_type"]),
            resolver: text(&c["resolver"]),
            expected: list(&c["expected"], ", "),
            period: text(&c["period"]),
            schedule: text(&c["schedule"]),
            timezone: text(&c["timezone"]),
            grace: text(&c["grace"]),
            interval: spec.interval.to_string(),
            failures_before_down: spec.failures_before_down.to_string(),
            tags: spec.tags.join(", "),
            group: spec.group.clone().unwrap_or_default(),
            description: spec.description.clone().unwrap_or_default(),
            headers: Some(
                c["headers"]
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| format!("{k}: {}", text(v)))
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default(),
            ),
            body: text(&c["body"]),
            timeout: text(&c["timeout"]),
            follow_redirects: if kind != "http" || c["follow_redirects"] != Value::Bool(false) {
                "on".into()
            } else {
                String::new()
            },
            keyword_absent: text(&c["keyword_absent"]),
            degraded_after: text(&c["degraded_after"]),
            tls_expiry_warning_days: text(&c["tls_expiry_warning_days"]),
            tls_skip_verify: if c["tls_skip_verify"] == Value::Bool(true) {
                "on".into()
            } else {
                String::new()
            },
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            successes_before_up: spec.successes_before_up.to_string(),
            down_after: spec.down_after.map(|d| d.to_string()).unwrap_or_default(),
        }
    }

    /// A JSON merge patch that makes `current` what the form says: fields left empty are
    /// removed (back to their defaults), headers and labels no longer listed are removed,
    /// fields the form does not show (recorded numbers, proxy, client certificate) are
    /// kept, and the other kinds of check are dropped.
    fn to_patch(&self, current: &MonitorSpec) -> Result<Value, String> {
        let mut full = self.to_json()?;
        let Some(m) = full.as_object_mut() else {
            return Ok(full);
        };
        let kind = ["http", "tcp", "dns", "grpc", "domain", "icmp", "heartbeat"]
            .into_iter()
            .find(|k| m.contains_key(*k))
            .unwrap_or("http");
        let http_options: &[&str] = if self.headers.is_some() {
            &[
                "headers",
                "body",
                "timeout",
                "keyword_absent",
                "degraded_after",
                "tls_expiry_warning_days",
                "tls_skip_verify",
            ]
        } else {
            &[]
        };
        let fields: Vec<&str> = match kind {
            "tcp" => vec!["address"],
            "icmp" => vec!["host"],
            "domain" => vec!["name", "expiry_warning_days"],
            "grpc" => vec!["address", "service", "tls"],
            "dns" => vec!["name", "record_type", "resolver", "expected"],
            "heartbeat" => vec!["period", "schedule", "timezone", "grace"],
            _ => [
                "url",
                "method",
                "expected_status",
                "keyword",
                "json_assertions",
            ]
            .iter()
            .chain(http_options)
            .copied()
            .collect(),
        };
        if let Some(check) = m.get_mut(kind).and_then(Value::as_object_mut) {
            if let (MonitorCheck::Http(old), Some(Value::Object(headers))) =
                (&current.check, check.get_mut("headers"))
            {
                for name in old.headers.keys() {
                    headers.entry(name.clone()).or_insert(Value::Null);
                }
            }
            for f in fields {
                check.entry(f).or_insert(Value::Null);
            }
        }
        for other in ["http", "tcp", "dns", "grpc", "domain", "icmp", "heartbeat"] {
            m.entry(other).or_insert(Value::Null);
        }
        if let Some(Value::Object(labels)) = m.get_mut("labels") {
            for name in current.labels.keys() {
                labels.entry(name.clone()).or_insert(Value::Null);
            }
        }
        for f in ["interval", "failures_before_down", "group", "description"] {
            m.entry(f).or_insert(Value::Null);
        }
        if self.labels.is_some() {
            for f in ["successes_before_up", "down_after", "labels"] {
                m.entry(f).or_insert(Value::Null);
            }
        }
        m.entry("tags").or_insert(json!([]));
        Ok(full)
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
        form(
            &NewMonitor {
                follow_redirects: "on".into(),
                ..NewMonitor::default()
            },
            None,
            None,
        )
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
    let result = match input.to_json().map_err(ApiError::bad_request) {
        Ok(doc) => match parse_json::<MonitorSpec>(&serde_json::to_vec(&doc).unwrap_or_default()) {
            Ok(spec) => state
                .create_monitor(&caller, spec)
                .await
                .map_err(ApiError::from),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => Redirect::to(&format!("/monitors/{id}")).into_response(),
        Err(e) => {
            let page = layout::page(
                "Add monitor",
                Nav::NewMonitor,
                signed_in,
                form(&input, Some(&e.message), None),
            );
            (e.status, page).into_response()
        }
    }
}

/// Whether the HTTP options hold anything but their defaults, so the form shows them open.
fn has_http_options(v: &NewMonitor) -> bool {
    [
        v.headers.as_deref().unwrap_or_default(),
        &v.body,
        &v.keyword_absent,
        &v.degraded_after,
        &v.tls_skip_verify,
    ]
    .iter()
    .any(|f| !f.trim().is_empty())
        || !matches!(v.timeout.trim(), "" | "10s")
        || !matches!(v.tls_expiry_warning_days.trim(), "" | "14")
        || v.follow_redirects.is_empty()
}

fn has_alerting_options(v: &NewMonitor) -> bool {
    !v.labels.as_deref().unwrap_or_default().trim().is_empty()
        || !v.down_after.trim().is_empty()
        || !matches!(v.successes_before_up.trim(), "" | "1")
}

/// The add form, or with `editing` the edit form of that monitor.
fn form(v: &NewMonitor, error: Option<&str>, editing: Option<&MonitorId>) -> Markup {
    let kind = if v.kind.is_empty() {
        "http"
    } else {
        v.kind.as_str()
    };
    let action = match editing {
        Some(id) => format!("/monitors/{id}/edit"),
        None => "/monitors/new".into(),
    };
    html! {
        @match editing {
            Some(id) => {
                p.small { a href={ "/monitors/" (id) } { "← Back to the monitor" } }
                h1 { "Edit " (v.name) }
            }
            None => h1 { "Add a monitor" },
        }
        @if let Some(e) = error { div.error-box role="alert" { (e) } }
        form.stack method="post" action=(action) {
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
                label { "JSON assertions" span.hint { "one a line, e.g. status == \"healthy\"" } textarea name="json_assertion" rows="2" { (v.json_assertion) } }
                details.more-options open[has_http_options(v)] {
                    summary { "Request and response options" }
                    label { "Headers" span.hint { "Name: value, one a line; a credential shows as <redacted> and keeps its value when left so" }
                        textarea name="headers" rows="3" placeholder="Authorization: Bearer …" { (v.headers.as_deref().unwrap_or_default()) } }
                    label { "Request body" textarea name="body" rows="3" { (v.body) } }
                    label { "Timeout" span.hint { "default 10s" } input name="timeout" value=(v.timeout) placeholder="10s"; }
                    label.check { input name="follow_redirects" type="checkbox" checked[!v.follow_redirects.is_empty()]; " Follow redirects" }
                    label { "Keyword that must not appear" input name="keyword_absent" value=(v.keyword_absent) placeholder="maintenance"; }
                    label { "Degraded when slower than" span.hint { "still up, shown as degraded" } input name="degraded_after" value=(v.degraded_after) placeholder="2s"; }
                    label { "Warn before certificate expiry" span.hint { "days; 0 turns it off; default 14" } input name="tls_expiry_warning_days" type="number" min="0" value=(v.tls_expiry_warning_days) placeholder="14"; }
                    label.check { input name="tls_skip_verify" type="checkbox" checked[!v.tls_skip_verify.is_empty()]; " Accept invalid or self-signed certificates" }
                }
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
                label.check { input name="grpc_tls" type="checkbox" checked[!v.grpc_tls.is_empty()]; " TLS" }
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
            label { "Group" span.hint { "the heading the overview lists it under" } input name="group" value=(v.group) placeholder="Website"; }
            label { "Tags" span.hint { "comma separated; the overview's search finds them" } input name="tags" value=(v.tags) placeholder="prod, api"; }
            label { "Description" input name="description" value=(v.description); }
            details.more-options open[has_alerting_options(v)] {
                summary { "Alerting options" }
                label { "Successes before up" span.hint { "good checks in a row before a down monitor is up; default 1" } input name="successes_before_up" type="number" min="1" value=(v.successes_before_up) placeholder="1"; }
                label { "Down after" span.hint { "failing at least this long before down, e.g. 2m; not for heartbeats" } input name="down_after" value=(v.down_after) placeholder="2m"; }
                label { "Labels" span.hint { "name=value, one a line; added to the monitor's alerts for routing" }
                    textarea name="labels" rows="2" placeholder="team=backend" { (v.labels.as_deref().unwrap_or_default()) } }
            }
            div { button.primary type="submit" { @if editing.is_some() { "Save changes" } @else { "Add monitor" } } }
        }
    }
}

pub async fn edit_form(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let rec = match parse_id(&id) {
        Ok(id) => state.changeable_monitor(&id).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let rec = match rec {
        Ok(r) => r,
        Err(e) => return error_page(e, signed_in),
    };
    let title = format!("Edit {}", rec.spec.name);
    let body = if may_post(&caller, "/monitors/{id}/edit") {
        form(&NewMonitor::from_spec(&rec.spec), None, Some(&rec.spec.id))
    } else {
        html! {
            h1 { (title) }
            p.muted #cannot-edit { "Your role (" (caller) ") reads monitors but does not change them." }
        }
    };
    layout::page(&title, Nav::None, signed_in, body).into_response()
}

pub async fn update(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
    Form(input): Form<NewMonitor>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(e, signed_in),
    };
    let result = match state.changeable_monitor(&id).await {
        Ok(current) => match input.to_patch(&current.spec) {
            Ok(patch) => {
                let bytes = serde_json::to_vec(&patch).unwrap_or_default();
                state
                    .patch_monitor(&caller, &id, &bytes)
                    .await
                    .map_err(ApiError::from)
            }
            Err(e) => Err(ApiError::bad_request(e)),
        },
        Err(e) => Err(ApiError::from(e)),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/monitors/{id}")).into_response(),
        Err(e) => {
            let page = layout::page(
                &format!("Edit {}", input.name),
                Nav::None,
                signed_in,
                form(&input, Some(&e.message), Some(&id)),
            );
            (e.status, page).into_response()
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
