//! `/`: every monitor with its state, uptime, a response-time sparkline and a bar of its
//! recent checks, under its group, a page at a time, found by name, group or tag; on a
//! fresh install, how to add the first monitor.

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pharos_model::{MonitorId, MonitorState, Outcome, ProbeResult};
use serde::Deserialize;

use super::human_error;
use super::layout::{self, Nav, ago, percent, sparkline, state_badge};
use super::{error_page, guard};
use pharos_app::monitors::{MonitorPage, MonitorSummary};
use pharos_web::api::monitors::load_page;
use pharos_web::{PublicPage, SharedState};

const PAGE: u64 = 100;
const SPARK_POINTS: u64 = 30;

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    page: Option<u64>,
    /// Part of a name, group or tag.
    #[serde(default)]
    search: Option<String>,
}

type Recent = std::collections::HashMap<MonitorId, Vec<ProbeResult>>;

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Overview), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let p = q.map(|q| q.0).unwrap_or_default();
    let filter: Option<MonitorState> = p.state.as_deref().and_then(|s| s.parse().ok());
    let page_no = p.page.unwrap_or(1).max(1);
    let search = p
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from);
    let (counts, list) = match tokio::join!(
        async {
            Ok::<_, pharos_web::api::ApiError>(state.with_store(|s| s.status_counts()).await?)
        },
        load_page(&state, filter, search.clone(), (page_no - 1) * PAGE, PAGE)
    ) {
        (Ok(c), Ok(l)) => (c, l),
        (Err(e), _) | (_, Err(e)) => return error_page(e, signed_in),
    };
    let total = counts.up + counts.down + counts.degraded + counts.unknown + counts.paused;
    if total == 0 {
        return layout::page("Monitors", Nav::Overview, signed_in, onboarding(&state))
            .into_response();
    }
    let ids: Vec<MonitorId> = list.monitors.iter().map(|m| m.id.clone()).collect();
    // Oldest first.
    let recent: Recent = state
        .with_store(move |s| {
            ids.into_iter()
                .map(|id| {
                    let mut r = s.recent_results(&id, None, SPARK_POINTS)?;
                    r.reverse();
                    Ok((id, r))
                })
                .collect::<pharos_store::Result<Recent>>()
        })
        .await
        .unwrap_or_default();

    let link = |s: Option<&str>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = s {
            q.append_pair("state", s);
        }
        if let Some(t) = &search {
            q.append_pair("search", t);
        }
        format!("/?{}", q.finish())
    };
    let body = html! {
        h1 { "Monitors" }
        div.counts {
            a href=(link(None)) class=[filter.is_none().then_some("active")] { strong { (total) } "all" }
            @for (name, n, st) in [("up", counts.up, MonitorState::Up), ("down", counts.down, MonitorState::Down), ("degraded", counts.degraded, MonitorState::Degraded), ("pending", counts.unknown, MonitorState::Unknown), ("paused", counts.paused, MonitorState::Paused)] {
                @if n > 0 || name == "up" || name == "down" {
                    a href=(link(Some(st.as_str()))) class=[(filter == Some(st)).then_some("active")] data-count=(name) { strong { (n) } (name) }
                }
            }
        }
        form.search method="get" action="/" role="search" {
            @if let Some(st) = filter { input type="hidden" name="state" value=(st.as_str()); }
            input type="search" name="search" value=(search.as_deref().unwrap_or("")) placeholder="Search by name, group or tag" aria-label="Search monitors";
            " " button type="submit" { "Search" }
            @if search.is_some() { " " a href="/" { "Clear" } }
        }
        @if list.monitors.is_empty() {
            p.muted #no-match { "No monitor matches." }
        } @else {
            (table(&list, &recent))
        }
        (pager(&list, &p.state, search.as_deref(), page_no))
    };
    layout::page("Monitors", Nav::Overview, signed_in, body).into_response()
}

/// The monitors under their group headings (the store lists a group's monitors
/// together); without any group, one plain table.
fn table(list: &MonitorPage, recent: &Recent) -> Markup {
    let grouped = list.monitors.iter().any(|m| m.group.is_some());
    let mut groups: Vec<(Option<&str>, Vec<&MonitorSummary>)> = Vec::new();
    for m in &list.monitors {
        match groups.last_mut() {
            Some((g, ms)) if *g == m.group.as_deref() => ms.push(m),
            _ => groups.push((m.group.as_deref(), vec![m])),
        }
    }
    html! {
        div.table-scroll {
            table.monitors {
                thead { tr {
                    th { "State" } th { "Monitor" } th { "Type" } th { "Recent checks" } th { "Response time" }
                    th.num { "24 h" } th.num { "7 d" } th.num { "30 d" } th { "Last check" }
                } }
                @for (group, monitors) in &groups {
                    tbody data-group=(group.unwrap_or("")) {
                        @if grouped {
                            tr.group { th colspan="9" scope="rowgroup" { (group.unwrap_or("Other monitors")) " " span.muted.small { "(" (monitors.len()) ")" } } }
                        }
                        @for m in monitors {
                            @let checks = recent.get(&m.id).map(Vec::as_slice).unwrap_or(&[]);
                            tr data-monitor=(m.id) {
                                td { (state_badge(m.state)) }
                                td {
                                    a href={ "/monitors/" (m.id) } { (m.name) }
                                    div.muted.small.target { (m.target) }
                                    @if !m.tags.is_empty() {
                                        div.tags { @for t in &m.tags { a.tag href={ "/?search=" (url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()) } { (t) } " " } }
                                    }
                                }
                                td.small { (m.kind) }
                                td { (check_bar(checks)) }
                                td { (sparkline(&spark_points(checks), 160, 28)) }
                                td.num { (percent(m.uptime_percent.h24)) }
                                td.num { (percent(m.uptime_percent.d7)) }
                                td.num { (percent(m.uptime_percent.d30)) }
                                td.small {
                                    (ago(m.last_check_at))
                                    @if let Some(e) = &m.last_error { div.muted.last-error { (human_error::markup(e)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn spark_points(checks: &[ProbeResult]) -> Vec<(Option<f64>, bool)> {
    checks
        .iter()
        .map(|r| (r.latency_ms, r.outcome != Outcome::Down))
        .collect()
}

/// One small block per recent check, oldest first, coloured by outcome, with the time
/// and outcome on hover.
pub fn check_bar(checks: &[ProbeResult]) -> Markup {
    let down = checks.iter().filter(|r| r.outcome == Outcome::Down).count();
    let label = format!("Last {} checks, {} failed", checks.len(), down);
    html! {
        span.checkbar role="img" aria-label=(label) title=(label) {
            @for r in checks {
                span class={ "check " (r.outcome.as_str()) } title={ (r.at.format("%Y-%m-%d %H:%M:%S UTC")) ": " (r.outcome.as_str()) } {}
            }
        }
    }
}

fn pager(list: &MonitorPage, state: &Option<String>, search: Option<&str>, page_no: u64) -> Markup {
    let pages = list.total.div_ceil(list.limit).max(1);
    let href = |n: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        if let Some(t) = search {
            q.append_pair("search", t);
        }
        q.append_pair("page", &n.to_string());
        format!("/?{}", q.finish())
    };
    html! {
        div.pager {
            span.muted { "Showing " (list.offset + 1) "–" (list.offset + list.monitors.len() as u64) " of " (list.total) }
            @if page_no > 1 { a href=(href(page_no - 1)) { "← Previous" } }
            @if page_no < pages { a href=(href(page_no + 1)) { "Next →" } }
        }
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// What a newcomer sees before the first monitor exists: the three ways to add one.
fn onboarding(state: &SharedState) -> Markup {
    let base = state.settings().external_url().to_string();
    let base = if base.is_empty() {
        "http://127.0.0.1:9800".to_string()
    } else {
        base
    };
    html! {
        h1 { "Welcome to Pharos" }
        div.onboarding #onboarding {
            p { "No monitors yet. Add the first one in whichever way suits you; each appears here within a second and is checked right away." }
            div.ways {
                div {
                    h2 { "1. In the browser" }
                    p { "Fill in a name and a URL, host:port or heartbeat period." }
                    a.button href="/monitors/new" { "Add a monitor" }
                }
                div {
                    h2 { "2. With the API" }
                    pre { code { "curl -X POST " (base) "/api/v1/monitors \\\n  -H \"Authorization: Bearer $PHAROS_ADMIN_TOKEN\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{\"name\": \"API health\",\n       \"http\": {\"url\": \"https://example.com/health\"},\n       \"interval\": \"30s\"}'" } }
                }
                div {
                    h2 { "3. In pharos.yaml" }
                    pre { code { "monitors:\n  - name: API health\n    interval: 30s\n    failures_before_down: 3\n    http:\n      url: https://example.com/health\n      json_assertions:\n        - status == \"healthy\"\n  - name: Nightly backup\n    heartbeat:\n      period: 1d\n      grace: 1h\n" } }
                    p.small.muted { "Start with " code { "pharos serve --config pharos.yaml" } ", or reload a running Pharos with " code { "kill -HUP" } " or " code { "POST /-/reload" } "." }
                }
            }
        }
    }
}
