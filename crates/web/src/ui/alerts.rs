//! `/alerts`: what is firing or pending now, recent resolved alerts, and the
//! notifications sent for them with their outcome.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pharos_model::AlertState;
use pharos_store::AlertRecord;

use super::layout::{self, Nav, ago};
use super::{error_page, guard};
use crate::{PublicPage, SharedState};

pub async fn page(State(state): State<SharedState>, headers: HeaderMap, uri: Uri) -> Response {
    let signed_in = match guard(&state, &headers, Some(PublicPage::Alerts), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let data = state
        .with_store(|s| {
            let mut open = s.list_alerts(Some(AlertState::Firing), 500)?;
            open.extend(s.list_alerts(Some(AlertState::Pending), 500)?);
            let resolved = s.list_alerts(Some(AlertState::Resolved), 50)?;
            let deliveries = s.list_deliveries(None, 50)?;
            Ok((open, resolved, deliveries))
        })
        .await;
    let (open, resolved, deliveries) = match data {
        Ok(d) => d,
        Err(e) => return error_page(e, signed_in),
    };
    let body = html! {
        h1 { "Alerts" }
        h2 { "Open" }
        @if open.is_empty() { p.muted #no-open-alerts { "Nothing is firing." } } @else { (alert_table(&open, Some(&state))) }
        h2 { "Recently resolved" }
        @if resolved.is_empty() { p.muted { "None yet." } } @else { (alert_table(&resolved, None)) }
        h2 { "Notifications" }
        @if deliveries.is_empty() {
            p.muted { "No notifications sent yet. Add a receiver with a " code { "webhook_configs" } " entry under " code { "receivers:" } " in pharos.yaml." }
        } @else {
            table.deliveries {
                thead { tr { th { "Outcome" } th { "Receiver" } th { "Alert" } th.num { "Attempts" } th { "Detail" } th { "Queued" } } }
                tbody { @for d in &deliveries { tr {
                    td { span class={ "badge " (d.outcome.as_str()) } { (layout::capitalized(d.outcome.as_str())) } }
                    td { (d.receiver) }
                    td.small { (d.status) " · " code { (d.alert_fingerprint) } }
                    td.num { (d.attempts) }
                    td.small { @if let Some(c) = d.response_status { "HTTP " (c) " " } (d.last_error.as_deref().unwrap_or("")) }
                    td.small { (ago(Some(d.created_at))) }
                } } }
            }
        }
    };
    layout::page("Alerts", Nav::Alerts, signed_in, body).into_response()
}

/// `routing` is given for open alerts: they are marked silenced or inhibited, with a link
/// to silence them.
fn alert_table(alerts: &[AlertRecord], routing: Option<&SharedState>) -> Markup {
    html! {
        table.alerts {
            thead { tr { th { "State" } th { "Alert" } th { "Labels" } th { "Started" } th { "Ended" } } }
            tbody { @for a in alerts { tr data-alert=(a.alert.fingerprint) {
                td {
                    span class={ "badge " (a.alert.state.as_str()) } { (layout::capitalized(a.alert.state.as_str())) }
                    @if let Some(state) = routing {
                        @let muted = state.alerting.suppression_of(&a.alert);
                        @if !muted.silenced_by.is_empty() { " " span.badge.silenced title={ "silenced by " (muted.silenced_by.join(", ")) } { "Silenced" } }
                        @if !muted.inhibited_by.is_empty() { " " span.badge.inhibited title={ "inhibited by " (muted.inhibited_by.join(", ")) } { "Inhibited" } }
                        " " a.small href={ "/silences?matchers=" (silence_prefill(&a.alert.labels)) } { "Silence" }
                    }
                }
                td {
                    @if a.alert.generator_url.is_empty() { (a.alert.name()) } @else { a href=(local_link(&a.alert.generator_url)) { (a.alert.name()) } }
                    @if let Some(s) = a.alert.annotations.get("summary") { div.small.muted { (s) } }
                }
                td.small { @for (k, v) in &a.alert.labels { @if k != "alertname" { code { (k) "=" (v) } " " } } }
                td.small { (ago(Some(a.alert.starts_at))) }
                // Alerts from Alertmanager's API carry their expected end while firing.
                td.small { (ago(a.alert.ends_at.filter(|_| a.alert.state == AlertState::Resolved))) }
            } } }
        }
    }
}

/// The alert's labels as a matcher list, query-encoded, for the silence form.
fn silence_prefill(labels: &pharos_model::Labels) -> String {
    let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    url::form_urlencoded::byte_serialize(format!("{{{}}}", text.join(", ")).as_bytes()).collect()
}

/// Links in alerts point at the external URL; on the page, stay on this server.
fn local_link(url: &str) -> String {
    match url.find("/monitors/") {
        Some(i) => url[i..].to_string(),
        None => url.to_string(),
    }
}
