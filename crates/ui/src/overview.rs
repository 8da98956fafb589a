//! `/`: every monitor with its state, uptime and a response-time sparkline, a page at a
//! time; on a fresh install, how to add the first monitor.

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pharos_model::{MonitorId, MonitorState, Outcome};
use serde::Deserialize;

use super::layout::{self, Nav, ago, percent, sparkline, state_badge};
use super::{error_page, guard};
use pharos_app::monitors::MonitorPage;
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
}

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
    let (counts, list) = match tokio::join!(
        async {
            Ok::<_, pharos_web::api::ApiError>(state.with_store(|s| s.status_counts()).await?)
        },
        load_page(&state, filter, (page_no - 1) * PAGE, PAGE)
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
    let spark = state
        .with_store(move |s| {
            ids.into_iter()
                .map(|id| {
                    let mut r = s.recent_results(&id, None, SPARK_POINTS)?;
                    r.reverse();
                    Ok((
                        id,
                        r.into_iter()
                            .map(|r| (r.latency_ms, r.outcome != Outcome::Down))
                            .collect::<Vec<_>>(),
                    ))
                })
                .collect::<pharos_store::Result<std::collections::HashMap<_, _>>>()
        })
        .await
        .unwrap_or_default();

    let link = |s: Option<&str>| match s {
        Some(s) => format!("/?state={s}"),
        None => "/".to_string(),
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
        (table(&list, &spark))
        (pager(&list, &p.state, page_no))
    };
    layout::page("Monitors", Nav::Overview, signed_in, body).into_response()
}

fn table(
    list: &MonitorPage,
    spark: &std::collections::HashMap<MonitorId, Vec<(Option<f64>, bool)>>,
) -> Markup {
    html! {
        table.monitors {
            thead { tr {
                th { "State" } th { "Monitor" } th { "Type" } th { "Response time" }
                th.num { "24 h" } th.num { "7 d" } th.num { "30 d" } th { "Last check" }
            } }
            tbody {
                @for m in &list.monitors {
                    tr data-monitor=(m.id) {
                        td { (state_badge(m.state)) }
                        td {
                            a href={ "/monitors/" (m.id) } { (m.name) }
                            div.muted.small { (m.target) }
                        }
                        td.small { (m.kind) }
                        td { (sparkline(spark.get(&m.id).map(Vec::as_slice).unwrap_or(&[]), 160, 28)) }
                        td.num { (percent(m.uptime_percent.h24)) }
                        td.num { (percent(m.uptime_percent.d7)) }
                        td.num { (percent(m.uptime_percent.d30)) }
                        td.small {
                            (ago(m.last_check_at))
                            @if let Some(e) = &m.last_error { div.muted title=(e) { (truncate(e, 90)) } }
                        }
                    }
                }
            }
        }
    }
}

fn pager(list: &MonitorPage, state: &Option<String>, page_no: u64) -> Markup {
    let pages = list.total.div_ceil(list.limit).max(1);
    let href = |n: u64| match state {
        Some(s) => format!("/?state={s}&page={n}"),
        None => format!("/?page={n}"),
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
