//! `/rules`: every rule group from the rule files with its rules' state, health, last
//! evaluation and error, and the pending and firing alerts of each alerting rule.
//! `?group=…&rule=…` (the link in every rule alert) narrows the page to one rule.

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use maud::{Markup, html};
use pharos_app::rules::{GroupStatus, RuleStatus};
use pharos_evaluate::rules::group::{Health, RuleAlertState};
use pharos_evaluate::rules::template_funcs::go_float;
use serde::Deserialize;

use super::guard;
use super::layout::{self, Nav, ago};
use pharos_web::{PublicPage, SharedState};

#[derive(Deserialize, Default)]
pub struct RulesQuery {
    group: Option<String>,
    rule: Option<String>,
}

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    q: Result<Query<RulesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Alerts), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = q.map(|q| q.0).unwrap_or_default();
    let groups: Vec<GroupStatus> = state.rule_groups();
    let shown: Vec<&GroupStatus> = groups
        .iter()
        .filter(|g| q.group.as_ref().is_none_or(|n| &g.name == n))
        .collect();
    let total: usize = groups.iter().map(|g| g.rules.len()).sum();
    let body = html! {
        h1 { "Rules" }
        @if groups.is_empty() {
            p.muted #no-rules {
                "No rules loaded. List Prometheus rule files under " code { "rule_files:" }
                " in pharos.yaml (paths relative to it, globs allowed) and reload."
            }
        } @else {
            p.muted { (groups.len()) " groups, " (total) " rules."
                @if q.group.is_some() || q.rule.is_some() { " " a href="/rules" { "Show all" } } }
        }
        @for g in shown { (group_section(g, q.rule.as_deref())) }
    };
    layout::page("Rules", Nav::Rules, signed_in, body).into_response()
}

fn when(ms: Option<i64>) -> Markup {
    ago(ms.and_then(DateTime::from_timestamp_millis))
}

fn group_section(g: &GroupStatus, only_rule: Option<&str>) -> Markup {
    html! {
        section.rule-group data-group=(g.name) {
            h2 { (g.name) }
            p.small.muted {
                code { (g.file) } " · every " (humantime(g.interval.as_secs_f64()))
                @if g.limit > 0 { " · limit " (g.limit) }
                @if !g.query_offset.is_zero() { " · query offset " (humantime(g.query_offset.as_secs_f64())) }
                " · last evaluated " (when(g.last_evaluation))
                " in " (format!("{:.1} ms", g.evaluation_time.as_secs_f64() * 1000.0))
            }
            table.rules {
                thead { tr { th { "State" } th { "Rule" } th { "Health" } th { "Last evaluation" } th.num { "Took" } } }
                tbody {
                    @for r in g.rules.iter().filter(|r| only_rule.is_none_or(|n| r.name == n)) {
                        (rule_rows(r))
                    }
                }
            }
        }
    }
}

fn rule_rows(r: &RuleStatus) -> Markup {
    let state = if r.alerting {
        r.state.as_str()
    } else {
        "recording"
    };
    // A query over series that do not exist is not green: nothing is being watched.
    let no_data = r.health == Health::Ok && !r.missing_series.is_empty();
    let badge = match (r.alerting, r.state) {
        _ if no_data => "unknown",
        (false, _) => "up",
        (true, RuleAlertState::Firing) => "down",
        (true, RuleAlertState::Pending) => "degraded",
        (true, RuleAlertState::Inactive) => "up",
    };
    let (health, health_text) = match r.health {
        Health::Ok if no_data => ("degraded", "no data"),
        Health::Ok => ("up", r.health.as_str()),
        Health::Err => ("down", r.health.as_str()),
        Health::Unknown => ("unknown", r.health.as_str()),
    };
    html! {
        tr data-rule=(r.name) data-state=(state) {
            td { span class={ "badge " (badge) } { (layout::capitalized(state)) } }
            td {
                strong { @if r.alerting { "alert: " } @else { "record: " } (r.name) }
                " " (crate::severity::of_labels(&r.labels))
                div { code.small { (r.query) } }
                @if r.alerting && !r.hold.is_zero() { div.small.muted { "for " (humantime(r.hold.as_secs_f64())) } }
                @if !r.keep_firing_for.is_zero() { div.small.muted { "keep firing for " (humantime(r.keep_firing_for.as_secs_f64())) } }
                @if !r.labels.is_empty() {
                    div.small { @for (k, v) in &r.labels { code { (k) "=" (v) } " " } }
                }
                @if let Some(e) = &r.last_error { div.error-box.small data-error="" { (e) } }
                @if no_data {
                    div.warn-box.small data-missing="" {
                        "No data: no series match "
                        @for (i, s) in r.missing_series.iter().enumerate() { @if i > 0 { ", " } code { (s) } }
                        ". Check the metric name, or that the target exporting it is scraped."
                    }
                }
            }
            td { span class={ "badge " (health) } data-health=(health_text) { (health_text) } }
            td.small { (when(r.last_evaluation)) }
            td.num.small { (format!("{:.1} ms", r.evaluation_time.as_secs_f64() * 1000.0)) }
        }
        @if !r.alerts.is_empty() {
            tr.rule-alerts { td {} td colspan="4" {
                table.alerts {
                    thead { tr { th { "State" } th { "Labels" } th { "Active since" } th.num { "Value" } th { "Summary" } } }
                    tbody { @for a in &r.alerts { tr data-alert-state=(a.state.as_str()) {
                        td { span class={ "badge " (if a.state == RuleAlertState::Firing { "down" } else { "degraded" }) } { (layout::capitalized(a.state.as_str())) } }
                        td.small { (crate::severity::of_labels(&a.labels)) " " @for (k, v) in &a.labels { @if k != "alertname" { code { (k) "=" (v) } " " } } }
                        td.small { (when(Some(a.active_at))) }
                        td.num { (go_float(a.value, 'g', None)) }
                        td.small { (a.annotations.get("summary").or(a.annotations.get("description")).map(String::as_str).unwrap_or("")) }
                    } } }
                }
            } }
        }
    }
}

/// Durations as rule files write them: `1m`, `1h30m`, `15s`.
fn humantime(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as u64;
    pharos_model::HumanDuration(std::time::Duration::from_millis(ms)).to_string()
}
