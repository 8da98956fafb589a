//! `/status`: the page a user shows their customers. It names the monitors the config
//! chooses for it (`web.status_page.monitors`; none unless chosen, so nothing made by an
//! API call or a Sentry check-in reaches customers by default) with their state and
//! uptime, never targets, errors or labels.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{DOCTYPE, Markup, html};
use pharos_model::{MonitorId, MonitorState};
use pharos_store::Store;

use super::layout::percent;
use super::{error_page, guard};
use pharos_app::monitors::UptimePercent;
use pharos_web::{PublicPage, SharedState};

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Status), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let settings = state.settings().status_page;
    let chosen = settings.monitors.clone();
    let rows = match state.with_store(move |s| load_rows(s, &chosen)).await {
        Ok(r) => r,
        Err(e) => return error_page(e, signed_in),
    };
    render(&settings.title, &rows, signed_in).into_response()
}

/// A monitor as customers see it.
struct Row {
    name: String,
    state: MonitorState,
    uptime: UptimePercent,
}

/// The chosen monitors in their order.
fn load_rows(s: &Store, chosen: &[MonitorId]) -> pharos_store::Result<Vec<Row>> {
    let mut all = Vec::with_capacity(chosen.len());
    for id in chosen {
        if let Some((record, status)) = s.monitor(id)? {
            all.push((record, status));
        }
    }
    let ids: Vec<_> = all.iter().map(|(r, _)| r.spec.id.clone()).collect();
    let uptime = s.uptime(&ids, Utc::now())?;
    Ok(all
        .into_iter()
        .map(|(r, st)| {
            let state = if r.spec.paused {
                MonitorState::Paused
            } else {
                st.map(|s| s.state).unwrap_or(MonitorState::Unknown)
            };
            let uptime = uptime
                .get(&r.spec.id)
                .map(UptimePercent::from)
                .unwrap_or_default();
            Row {
                name: r.spec.name,
                state,
                uptime,
            }
        })
        .collect())
}

/// The banner's class and words: the worst of the monitors' states.
fn headline(rows: &[Row]) -> (&'static str, &'static str) {
    let down = rows
        .iter()
        .filter(|r| r.state == MonitorState::Down)
        .count();
    let degraded = rows
        .iter()
        .filter(|r| r.state == MonitorState::Degraded)
        .count();
    match (down, degraded) {
        (0, 0) => ("ok", "All systems operational"),
        (0, _) => ("warn", "Some systems are degraded"),
        (d, _) if d == rows.len() => ("bad", "Major outage"),
        _ => ("bad", "Partial outage"),
    }
}

/// A page of its own, not the app's layout: customers get no navigation or sign-in.
fn render(title: &str, rows: &[Row], signed_in: bool) -> Markup {
    let (class, headline) = headline(rows);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="60";
                title { (title) }
                link rel="stylesheet" href="/assets/pharos.css";
                link rel="icon" type="image/svg+xml" href="/assets/favicon.svg";
            }
            body { main style="max-width:760px" {
                h1 { (title) }
                div class={ "banner " (class) } data-testid="overall" { (headline) }
                div.status-list {
                    @for r in rows {
                        div.status-row {
                            span.name { (r.name) }
                            span {
                                @if r.uptime.d30.is_some() { span.muted.small title="uptime, last 30 days" { (percent(r.uptime.d30)) " · " } }
                                span class={ "badge " (r.state.as_str()) } { (state_text(r.state)) }
                            }
                        }
                    }
                    @if rows.is_empty() && signed_in {
                        div.status-row.muted data-testid="none-chosen" {
                            "No monitors are shown here: list the ones your customers should see under "
                            code { "web.status_page.monitors" } " in the config."
                        }
                    } @else if rows.is_empty() { div.status-row.muted { "Nothing to show yet." } }
                }
                p.small.muted { "Updated " (Utc::now().format("%Y-%m-%d %H:%M UTC")) ". Uptime over the last 30 days." }
            } }
        }
    }
}

fn state_text(s: MonitorState) -> &'static str {
    match s {
        MonitorState::Up => "Operational",
        MonitorState::Down => "Outage",
        MonitorState::Degraded => "Degraded",
        MonitorState::Paused => "Paused",
        MonitorState::Unknown => "Checking",
    }
}
