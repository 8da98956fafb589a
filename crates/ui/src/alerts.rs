//! `/alerts`: what is firing or pending now (silenced and inhibited ones marked), and the
//! history of every occurrence, searchable and paginated, each with where it came from
//! and who was told when with what outcome. A banner names receivers that keep failing.
//! The page reads through the same search as `GET /api/v1/alerts/history`.

use std::collections::{BTreeSet, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pharos_model::AlertState;
use pharos_store::Delivery;

use super::layout::{self, Nav, ago};
use super::{error_page, guard};
use pharos_app::alerts::{AlertItem, AlertList, AlertParams, notifications_for, search_alerts};
use pharos_app::health::ReceiverHealth;
use pharos_web::api::ApiError;
use pharos_web::{PublicPage, SharedState};

const OPEN_LIMIT: u64 = 500;
const HISTORY_PAGE: u64 = 50;
const NOTIFICATIONS_PER_ALERT: usize = 5;

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    q: Result<Query<AlertParams>, QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Alerts), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let params = q.map(|q| q.0).unwrap_or_default();
    let (open, history) = match search(&state, &params).await {
        Ok(lists) => lists,
        // A bad filter is the visitor's typo: show it above an empty page.
        Err(e) if e.status.is_client_error() => {
            let receivers = receiver_names(&state);
            let body = body(&params, &receivers, Some(&e.message), &Found::default());
            return layout::page("Alerts", Nav::Alerts, signed_in, body).into_response();
        }
        Err(e) => return error_page(e, signed_in),
    };
    let records: Vec<_> = open
        .iter()
        .flat_map(|o| o.alerts.iter())
        .chain(history.alerts.iter())
        .map(|a| a.record.clone())
        .collect();
    let told = match notifications_for(&state, &records, NOTIFICATIONS_PER_ALERT).await {
        Ok(t) => t,
        Err(e) => return error_page(e, signed_in),
    };
    let found = Found {
        open: open.map(|o| o.alerts),
        history: Some((history.alerts, history.page, history.has_more)),
        told,
        health: state.receiver_health().await.unwrap_or_default(),
    };
    let receivers = receiver_names(&state);
    let body = body(&params, &receivers, None, &found);
    layout::page("Alerts", Nav::Alerts, signed_in, body).into_response()
}

/// The open alerts (none when only resolved ones are asked for) and a page of history,
/// both through the filters.
async fn search(
    state: &SharedState,
    params: &AlertParams,
) -> Result<(Option<AlertList>, AlertList), ApiError> {
    let filtering_resolved = params.state.as_deref() == Some("resolved");
    let open_params = AlertParams {
        state: Some(
            params
                .state
                .clone()
                .filter(|s| !s.is_empty() && s != "all")
                .unwrap_or_else(|| "open".into()),
        ),
        page: Some(1),
        limit: Some(OPEN_LIMIT),
        ..params.clone()
    };
    let history_params = AlertParams {
        limit: Some(HISTORY_PAGE),
        page: Some(params.page.unwrap_or(1)),
        ..params.clone()
    };
    let open = if filtering_resolved {
        Ok(None)
    } else {
        search_alerts(state, open_params, OPEN_LIMIT)
            .await
            .map(Some)
    };
    match (
        open,
        search_alerts(state, history_params, HISTORY_PAGE).await,
    ) {
        (Ok(o), Ok(h)) => Ok((o, h)),
        (Err(e), _) | (_, Err(e)) => Err(ApiError::from(e)),
    }
}

/// What the page lists; all empty when the filters were refused.
#[derive(Default)]
struct Found {
    open: Option<Vec<AlertItem>>,
    /// A page of occurrences, its number, and whether older ones follow.
    history: Option<(Vec<AlertItem>, u64, bool)>,
    /// The latest deliveries of each alert, by alert id.
    told: HashMap<i64, Vec<Delivery>>,
    health: Vec<ReceiverHealth>,
}

/// The receivers the filter offers.
fn receiver_names(state: &SharedState) -> Vec<String> {
    state
        .receivers
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .receiver_names()
        .map(str::to_string)
        .collect()
}

fn body(params: &AlertParams, receivers: &[String], error: Option<&str>, found: &Found) -> Markup {
    let mut severities: BTreeSet<String> = ["critical", "warning", "info"]
        .into_iter()
        .map(String::from)
        .collect();
    for a in found.open.iter().flatten() {
        if let Some(s) = a.record.alert.labels.get("severity") {
            severities.insert(s.clone());
        }
    }
    html! {
        h1 { "Alerts" }
        (failing_banner(&found.health))
        (filter_form(params, receivers, &severities))
        @if let Some(e) = error { div.error-box #filter-error role="alert" { (e) } }
        @if let Some(open) = &found.open {
            h2 { "Now" span.muted.small { " " (open.len()) " open" } }
            @if open.is_empty() {
                p.muted #no-open-alerts { "Nothing is firing" @if params.is_filtered() { " that matches these filters" } "." }
            } @else {
                (alert_table("open-alerts", open, &found.told, true))
            }
        }
        @if let Some((history, page, has_more)) = &found.history {
            h2 { "History" }
            p.muted.small { "Every occurrence, resolved ones too, newest first." }
            @if history.is_empty() {
                p.muted #no-history { "No alert occurrences match." }
            } @else {
                (alert_table("alert-history", history, &found.told, false))
                (pager(params, *page, *has_more))
            }
        }
    }
}

/// The banner on the alerts and receivers pages; empty while every receiver delivers.
pub fn failing_banner(health: &[ReceiverHealth]) -> Markup {
    let failing: Vec<&ReceiverHealth> = health.iter().filter(|h| h.failing.is_some()).collect();
    html! {
        @if !failing.is_empty() {
            div.banner.bad #failing-receivers role="alert" {
                @if failing.len() == 1 { "A receiver is failing: notifications are not getting through." }
                @else { (failing.len()) " receivers are failing: notifications are not getting through." }
                ul.small {
                    @for h in &failing {
                        li data-failing-receiver=(h.integration) {
                            a style="color:inherit" href={ "/receivers#receiver-" (h.receiver) } { strong { (h.integration) } }
                            " — " (h.failing.as_deref().unwrap_or(""))
                        }
                    }
                }
            }
        }
    }
}

fn filter_form(p: &AlertParams, receivers: &[String], severities: &BTreeSet<String>) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let state = v(&p.state);
    let severity = v(&p.severity);
    let receiver = v(&p.receiver);
    html! {
        form.search #alert-filters method="get" action="/alerts" {
            input type="search" name="q" value=(v(&p.q)) placeholder="Text in labels or annotations" aria-label="Text";
            label.inline { "State "
                select name="state" {
                    @for (value, text) in [("", "Any"), ("firing", "Firing"), ("pending", "Pending"), ("silenced", "Silenced"), ("inhibited", "Inhibited"), ("active", "Firing, not muted"), ("resolved", "Resolved")] {
                        option value=(value) selected[state == value] { (text) }
                    }
                }
            }
            label.inline { "Severity "
                select name="severity" {
                    option value="" { "Any" }
                    @for s in severities { option value=(s) selected[&severity == s] { (s) } }
                }
            }
            label.inline { "Receiver "
                select name="receiver" {
                    option value="" { "Any" }
                    @for r in receivers { option value=(r) selected[&receiver == r] { (r) } }
                }
            }
            input type="text" name="alertname" size="14" value=(v(&p.alertname)) placeholder="alertname" aria-label="Alert name";
            input type="text" name="matchers" size="26" value=(v(&p.matchers)) placeholder=r#"job="api", instance=~"web.*""# aria-label="Label matchers";
            label.inline { "From (UTC) " (crate::time_range::utc_input("since", &datetime_local(&p.since), "UTC")) }
            label.inline { "to " (crate::time_range::utc_input("until", &datetime_local(&p.until), "UTC")) }
            button.primary type="submit" { "Search" }
            @if p.is_filtered() { a href="/alerts" { "Clear" } }
        }
    }
}

/// What a time field can show again: only a time it reads.
fn datetime_local(v: &Option<String>) -> String {
    v.as_deref()
        .filter(|s| crate::time_range::parse_utc_input(s).is_some())
        .unwrap_or("")
        .to_string()
}

fn pager(p: &AlertParams, page: u64, has_more: bool) -> Markup {
    let link = |to: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &p.q),
            ("state", &p.state),
            ("severity", &p.severity),
            ("receiver", &p.receiver),
            ("alertname", &p.alertname),
            ("matchers", &p.matchers),
            ("since", &p.since),
            ("until", &p.until),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.append_pair("page", &to.to_string());
        format!("/alerts?{}#alert-history", q.finish())
    };
    html! {
        div.pager {
            @if page > 1 { a rel="prev" href=(link(page - 1)) { "← Newer" } }
            span.muted.small { "Page " (page) }
            @if has_more { a rel="next" href=(link(page + 1)) { "Older →" } }
        }
    }
}

fn alert_table(
    id: &str,
    alerts: &[AlertItem],
    told: &HashMap<i64, Vec<Delivery>>,
    open: bool,
) -> Markup {
    html! {
        table.alerts id=(id) {
            thead { tr {
                th { "State" } th { "Alert" } th { "Source" } th { "Labels" }
                th { "Since" } @if !open { th { "Ended" } } th { "Notified" }
            } }
            tbody { @for item in alerts {
                @let a = &item.record.alert;
                tr data-alert=(a.fingerprint) data-state=(a.state.as_str()) {
                    td {
                        span class={ "badge " (a.state.as_str()) } { (layout::capitalized(a.state.as_str())) }
                        @if !item.silenced_by.is_empty() { " " span.badge.silenced data-silenced="" title={ "silenced by " (item.silenced_by.join(", ")) } { "Silenced" } }
                        @if !item.inhibited_by.is_empty() { " " span.badge.inhibited data-inhibited="" title={ "inhibited by " (item.inhibited_by.join(", ")) } { "Inhibited" } }
                        @if a.state != AlertState::Resolved {
                            div.small { a.silence-link href={ "/silences?matchers=" (silence_prefill(&a.labels)) } { "Silence…" } }
                        }
                    }
                    td {
                        strong { (a.name()) } " " (crate::severity::of_labels(&a.labels))
                        @if let Some(s) = a.annotations.get("summary") { div.small { (s) } }
                        @if let Some(d) = a.annotations.get("description") { div.small.muted { (d) } }
                        @if let Some(v) = a.annotations.get("value") { div.small.muted { "value " code { (v) } } }
                    }
                    td.small {
                        span.muted { (source_label(item.source.kind)) } br;
                        @match item.source.url.as_deref().and_then(crate::links::safe_href) {
                            Some(u) => a href=(u) data-source=(item.source.kind) { (item.source.name) },
                            None => span data-source=(item.source.kind) { (item.source.name) },
                        }
                    }
                    td.small { @for (k, v) in &a.labels { @if k != "alertname" { code { (k) "=" (v) } " " } } }
                    td.small { (ago(Some(a.starts_at))) }
                    // Alerts from Alertmanager's API carry their expected end while firing.
                    @if !open { td.small { (ago(a.ends_at.filter(|_| a.state == AlertState::Resolved))) } }
                    td.small.notified { (notified(told.get(&item.record.id).map(Vec::as_slice).unwrap_or(&[]), &item.receivers)) }
                }
            } }
        }
    }
}

/// A notification group's key (`{route matchers}:{alertname="MonitorDown", monitor="api"}`)
/// as people read it: `alertname=MonitorDown, monitor=api`. Anything else (an alert's
/// fingerprint) is shown as it is.
pub fn readable_group_key(key: &str) -> String {
    let Some(i) = key.find("}:{") else {
        return key.to_string();
    };
    let labels = key[i + 2..].trim_start_matches('{').trim_end_matches('}');
    if labels.trim().is_empty() {
        return "every alert of the route".into();
    }
    // Values are quoted and may hold `, ` themselves: read them as label="value" pairs.
    let mut out = Vec::new();
    let mut rest = labels;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches([',', ' ']).to_string();
        let after = &rest[eq + 2..];
        let mut end = None;
        let mut escaped = false;
        for (j, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(j);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else { break };
        out.push(format!("{name}={}", after[..end].replace("\\\"", "\"")));
        rest = &after[end + 1..];
    }
    if out.is_empty() {
        key.to_string()
    } else {
        out.join(", ")
    }
}

fn source_label(kind: &str) -> &'static str {
    match kind {
        "monitor" => "Monitor",
        "rule" => "Rule",
        "errors" => "Error tracking",
        "logs" => "Log rule",
        "test" => "Test",
        _ => "External",
    }
}

fn notified(deliveries: &[Delivery], receivers: &[String]) -> Markup {
    html! {
        @if deliveries.is_empty() {
            span.muted { "Not notified" @if !receivers.is_empty() { " (routes to " (receivers.join(", ")) ")" } }
        }
        @for d in deliveries {
            div data-delivery=(d.id) data-outcome=(d.outcome.as_str()) {
                span class={ "badge " (d.outcome.as_str()) } { (layout::capitalized(d.outcome.as_str())) }
                " " a href={ "/receivers#receiver-" (d.receiver.split('/').next().unwrap_or(&d.receiver)) } { (d.receiver) }
                " · " (d.status) " · " (ago(Some(d.finished_at.unwrap_or(d.created_at))))
                @if d.attempts > 1 { " · " (d.attempts) " attempts" }
                @if d.outcome != pharos_store::DeliveryOutcome::Delivered {
                    @if let Some(e) = &d.last_error { div.muted { (e) } }
                }
            }
        }
    }
}

/// The alert's labels as a matcher list, query-encoded, for the silence form.
fn silence_prefill(labels: &pharos_model::Labels) -> String {
    let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    url::form_urlencoded::byte_serialize(format!("{{{}}}", text.join(", ")).as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_read_as_labels() {
        assert_eq!(
            readable_group_key(
                r#"{}/{severity="critical"}:{alertname="MonitorDown", monitor="bot, health"}"#
            ),
            "alertname=MonitorDown, monitor=bot, health"
        );
        assert_eq!(readable_group_key("{}:{}"), "every alert of the route");
        assert_eq!(readable_group_key(r#"{}:{job="a \"b\""}"#), r#"job=a "b""#);
        assert_eq!(readable_group_key("3f2a9c"), "3f2a9c");
    }
}
