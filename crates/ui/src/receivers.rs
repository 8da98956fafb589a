//! `/receivers`: each configured receiver with its integrations (kind and target, secrets
//! hidden as the API hides them), whether it is delivering, its success rate over 24 h,
//! its recent deliveries, and a button that sends a test notification and shows how it
//! went (`POST /receivers/{name}/test`, the same action as the API's).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pharos_store::{Delivery, DeliverySearch};
use serde_json::Value;

use super::alerts::failing_banner;
use super::layout::{self, Nav, ago};
use super::{error_page, guard, may_post};
use pharos_app::health::{ReceiverHealth, WINDOW};
use pharos_app::receivers::TestAnswer;
use pharos_web::SharedState;

const RECENT_DELIVERIES: usize = 10;

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    render(
        &state,
        signed_in,
        may_post(&caller, "/receivers/{name}/test"),
        None,
    )
    .await
}

/// What the last test showed: the answer, or why it could not be sent.
enum TestResult {
    Sent(TestAnswer),
    Refused { receiver: String, error: String },
}

pub async fn send_test(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let may_test = may_post(&caller, "/receivers/{name}/test");
    let result = match pharos_web::api::receivers::test(
        pharos_web::access::Visitor(caller),
        State(state.clone()),
        Path(name.clone()),
    )
    .await
    {
        Ok(answer) => TestResult::Sent(answer.0),
        Err(e) => TestResult::Refused {
            receiver: name,
            error: e.message,
        },
    };
    render(&state, true, may_test, Some(result)).await
}

async fn render(
    state: &SharedState,
    signed_in: bool,
    may_test: bool,
    test: Option<TestResult>,
) -> Response {
    let health = match state.receiver_health().await {
        Ok(h) => h,
        Err(e) => return error_page(e, signed_in),
    };
    let names: Vec<String> = health.iter().map(|h| h.integration.clone()).collect();
    let recent = state
        .with_store(move |s| {
            let mut out = HashMap::new();
            for n in names {
                let search = DeliverySearch {
                    receiver: Some(n.clone()),
                    ..DeliverySearch::default()
                };
                // Only this integration's rows: a receiver's name prefixes its others'.
                let (mut rows, _) = s.search_deliveries(&search, 0, RECENT_DELIVERIES * 4)?;
                rows.retain(|d| d.receiver == n);
                rows.truncate(RECENT_DELIVERIES);
                out.insert(n, rows);
            }
            Ok(out)
        })
        .await;
    let recent: HashMap<String, Vec<Delivery>> = match recent {
        Ok(r) => r,
        Err(e) => return error_page(e, signed_in),
    };
    let receivers = state
        .receivers
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let by_integration: HashMap<&str, &ReceiverHealth> =
        health.iter().map(|h| (h.integration.as_str(), h)).collect();
    let body = html! {
        h1 { "Receivers" }
        (failing_banner(&health))
        @if let Some(t) = &test { (test_result(t)) }
        @if receivers.receiver_names().next().is_none() {
            p.muted #no-receivers {
                "No receivers configured. Add one under " code { "receivers:" }
                " in pharos.yaml (webhook, Slack, Telegram, e-mail, PagerDuty, …) and reload."
            }
        }
        @for name in receivers.receiver_names() {
            section.receiver id={ "receiver-" (name) } data-receiver=(name) {
                h2 { (name) }
                @if may_test {
                    form.inline method="post" action={ "/receivers/" (url_path(name)) "/test" } {
                        button.secondary type="submit" { "Send test notification" }
                        span.muted.small { "Sends a synthetic " code { "PharosTestNotification" } " alert through every integration now." }
                    }
                }
                @for integration in receivers.integrations_of(name).unwrap_or_default() {
                    @let iname = integration.name();
                    (integration_section(iname, integration.integration(), &integration.describe(), by_integration.get(iname).copied(), recent.get(iname).map(Vec::as_slice).unwrap_or(&[])))
                }
            }
        }
    };
    layout::page("Receivers", Nav::Receivers, signed_in, body).into_response()
}

fn url_path(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn test_result(t: &TestResult) -> Markup {
    match t {
        TestResult::Refused { receiver, error } => html! {
            div.error-box #test-result data-status="refused" role="status" {
                "Test notification to " strong { (receiver) } " not sent: " (error)
            }
        },
        TestResult::Sent(a) => {
            let ok = a.status == "delivered";
            html! {
                div class=(if ok { "warn-box ok" } else { "error-box" }) #test-result data-status=(a.status) role="status" style=[ok.then_some("background:#e8f6ee;border-color:#b7e1c6;color:#14532d")] {
                    "Test notification to " strong { (a.receiver) } ": " (a.status) "."
                    ul.small { @for o in &a.integrations {
                        li {
                            code { (o.integration) } " (" (o.kind) "): " (o.status)
                            @if let Some(c) = o.response_status { ", HTTP " (c) }
                            @if let Some(e) = &o.error { " — " (e) }
                        }
                    } }
                }
            }
        }
    }
}

fn integration_section(
    name: &str,
    kind: &str,
    config: &Value,
    health: Option<&ReceiverHealth>,
    recent: &[Delivery],
) -> Markup {
    let rate = health.and_then(ReceiverHealth::success_rate);
    html! {
        div.integration data-integration=(name) {
            h3 {
                code { (name) } " " span.tag { (kind) } " "
                @match health.and_then(|h| h.failing.as_deref()) {
                    Some(why) => span.badge.down data-health="failing" title=(why) { "Failing" },
                    None => span.badge.up data-health="ok" { "OK" },
                }
            }
            @if let Some(why) = health.and_then(|h| h.failing.as_deref()) { div.error-box.small { (why) } }
            dl.kv {
                @for (k, v) in config_rows(config) { dt { (k) } dd { code { (v) } } }
                dt { "Success rate (" (WINDOW.num_hours()) " h)" }
                dd data-success-rate="" {
                    (layout::percent(rate))
                    @if let Some(h) = health { span.muted.small { " · " (h.record.delivered) " delivered, " (h.record.failed) " failed" } }
                }
                @if let Some(h) = health { dt { "Last delivered" } dd { (ago(h.record.last_success_at)) } }
            }
            @if recent.is_empty() {
                p.muted.small { "Nothing sent yet." }
            } @else {
                table.deliveries {
                    thead { tr { th { "Queued" } th { "Outcome" } th { "Notification" } th.num { "Response" } th.num { "Attempts" } th { "Error" } } }
                    tbody { @for d in recent { tr data-delivery=(d.id) data-outcome=(d.outcome.as_str()) {
                        td.small { (ago(Some(d.created_at))) }
                        td { span class={ "badge " (d.outcome.as_str()) } { (layout::capitalized(d.outcome.as_str())) } }
                        td.small { (d.status) " · " span title=(d.alert_fingerprint) { (crate::alerts::readable_group_key(&d.alert_fingerprint)) } }
                        td.num.small { @if let Some(c) = d.response_status { (c) } @else { "–" } }
                        td.num { (d.attempts) }
                        td.small { (d.last_error.as_deref().unwrap_or("")) }
                    } } }
                }
            }
        }
    }
}

/// The integration's config as `key: value` rows, nested keys dotted; secrets are
/// already `<secret>` in what `describe` gives.
fn config_rows(config: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            Value::Null => {}
            Value::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", config, &mut out);
    out
}
