//! The status pages customers see (`/status`, `/status/<slug>`, or `/` on a page's own
//! host): the components the config lists for the page (none unless listed, so nothing
//! made by an API call or a Sentry check-in reaches customers by default) with their state
//! and 90 days of daily uptime, active incidents, maintenance, and past incidents; never
//! targets, errors or labels. `feed.rs` is each page's Atom feed, `badge.rs` its
//! components' SVG badges, `manage.rs` the team's page for posting incidents and
//! maintenance.

pub mod badge;
pub mod feed;
pub mod manage;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use pharos_app::status_pages::days::DayBar;
use pharos_app::status_pages::{ComponentView, PageView};
use pharos_model::status_page::{PostKind, StatusPage, StatusPost};

use super::layout::percent;
use super::{error_page, guard};
use pharos_web::{PublicPage, SharedState};

/// `/status`: the first page.
pub async fn default_page(
    visitor: pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    show(visitor, state, None, uri).await
}

/// `/status/<slug>`.
pub async fn page(
    visitor: pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path(slug): Path<String>,
    uri: Uri,
) -> Response {
    show(visitor, state, Some(slug), uri).await
}

async fn show(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    state: SharedState,
    slug: Option<String>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Status), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(page) = state.settings().page(slug.as_deref()) else {
        return not_found();
    };
    let view = match state.status_page_view(&page).await {
        Ok(v) => v,
        Err(e) => return error_page(e, signed_in),
    };
    render(&page, &view, signed_in).into_response()
}

/// The page a request names, for the feed and badges: 404 when there is none.
pub(crate) fn page_named(state: &SharedState, slug: &str) -> Option<StatusPage> {
    state.settings().page(Some(slug))
}

pub(crate) fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such status page").into_response()
}

/// A page of its own, not the app's layout: customers get no navigation or sign-in.
fn render(page: &StatusPage, view: &PageView, signed_in: bool) -> Markup {
    let feed = format!("/status/{}/feed.atom", page.slug);
    let names = |id: &str| component_name(view, id);
    let post = |p: &StatusPost, active: bool| post(p, active, &names);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="60";
                title { (view.title) }
                link rel="stylesheet" href="/assets/pharos.css";
                link rel="icon" type="image/svg+xml" href="/assets/favicon.svg";
                link rel="alternate" type="application/atom+xml" title={ (view.title) " incidents" } href=(feed);
            }
            body.status-page { main {
                h1 { (view.title) }
                @if let Some(d) = &view.description { p.muted { (d) } }
                div class={ "banner " (view.overall.class()) } data-testid="overall" { (view.overall.headline()) }
                @if signed_in {
                    p.small.muted.team-only {
                        "Only the team sees this line: "
                        a href="/status-pages" { "post an incident or maintenance" }
                        @if !view.missing.is_empty() {
                            " · not shown, no such monitor: "
                            @for m in &view.missing { code { (m.as_str()) } " " }
                        }
                    }
                }
                @if !view.active_incidents.is_empty() || !view.maintenance_now.is_empty() {
                    section.posts.active data-testid="active" {
                        @for p in &view.active_incidents { (post(p, true)) }
                        @for p in &view.maintenance_now { (post(p, true)) }
                    }
                }
                @if view.sections.is_empty() {
                    div.status-list { @if signed_in {
                        div.status-row.muted data-testid="none-chosen" {
                            "No components are shown here: list the monitors your customers should see under "
                            code { "web.status_pages" } " (or the older " code { "web.status_page.monitors" } ") in the config."
                        }
                    } @else {
                        div.status-row.muted { "Nothing to show yet." }
                    } }
                }
                @for section in &view.sections {
                    @if let Some(g) = &section.group {
                        h2.group { (g) }
                        @if let Some(d) = &section.description { p.small.muted { (d) } }
                    }
                    div.status-list {
                        @for c in &section.components { (component(c)) }
                    }
                }
                @if !view.upcoming_maintenance.is_empty() {
                    h2 { "Scheduled maintenance" }
                    section.posts data-testid="upcoming" {
                        @for p in &view.upcoming_maintenance { (post(p, false)) }
                    }
                }
                h2 { "Past incidents" }
                section.posts data-testid="history" {
                    @if view.history.is_empty() {
                        p.muted { "No incidents in the last " (view.history_days) " days." }
                    }
                    @for p in &view.history { (post(p, false)) }
                }
                p.small.muted {
                    "Updated " (view.generated_at.format("%Y-%m-%d %H:%M UTC")) ". "
                    a href=(feed) { "Subscribe (Atom)" }
                }
            } }
        }
    }
}

fn component(c: &ComponentView) -> Markup {
    html! {
        div.status-row.component data-component=(c.id.as_str()) {
            div.component-head {
                span.name { (c.name) }
                span class={ "badge state-" (c.state.as_str()) } { (c.state.label()) }
            }
            @if let Some(d) = &c.description { div.small.muted { (d) } }
            div.bars role="img" aria-label={ (c.name) ": uptime per day, last 90 days" } {
                @for d in &c.days { span class={ "bar " (d.level.as_str()) } title=(bar_title(d)) {} }
            }
            div.bars-legend.small.muted {
                span.wide-only { "90 days ago" } span.narrow-only { "30 days ago" }
                span title="uptime over the last 90 days" { @if c.uptime.is_some() { (percent(c.uptime.map(|u| u * 100.0))) " uptime, 90 days" } }
                span { "Today" }
            }
        }
    }
}

/// The tooltip of one day: its date, uptime and minutes down.
pub fn bar_title(d: &DayBar) -> String {
    let date = d.date.format("%Y-%m-%d");
    match d.uptime {
        None => format!("{date}: no data"),
        Some(u) => format!(
            "{date}: {} uptime, {} min down",
            percent(Some(u * 100.0)),
            d.down_minutes
        ),
    }
}

/// The name customers know a component by; posts name components by monitor id.
pub fn component_name(view: &PageView, id: &str) -> String {
    view.sections
        .iter()
        .flat_map(|s| s.components.iter())
        .find(|c| c.id.as_str() == id)
        .map_or_else(|| id.to_string(), |c| c.name.clone())
}

fn post(p: &StatusPost, active: bool, names: &dyn Fn(&str) -> String) -> Markup {
    let kind = p.kind.as_str();
    html! {
        article class={ "post " (kind) @if active { " active" } } id={ "incident-" (p.id) } data-post=(p.id) {
            h3 {
                (p.title) " "
                span class={ "badge post-" (p.status().as_str()) } { (p.status().label()) }
            }
            @if p.kind == PostKind::Maintenance {
                @if let (Some(s), Some(e)) = (p.starts_at, p.ends_at) {
                    p.small.window { "Scheduled " (s.format("%Y-%m-%d %H:%M")) " – " (e.format("%Y-%m-%d %H:%M UTC")) }
                }
            }
            @for u in &p.updates {
                div.update {
                    strong { (u.status.label()) } " — " (u.message)
                    div.small.muted { (u.at.format("%Y-%m-%d %H:%M UTC")) }
                }
            }
            @if !p.components.is_empty() {
                p.small.muted.affected {
                    "Affected: "
                    @for (i, a) in p.components.iter().enumerate() {
                        @if i > 0 { ", " }
                        (names(a.component.as_str()))
                        @if p.kind == PostKind::Incident { " (" (a.impact.label().to_lowercase()) ")" }
                    }
                }
            }
        }
    }
}
