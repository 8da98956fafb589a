//! `/status-pages`: the team's page for the status pages: each page with its address and
//! components, its incidents and maintenance with their updates, and forms to post an
//! incident or a maintenance, add an update, rename a post or move a maintenance's window,
//! and delete a post.
//! The forms call the same operations as `/api/v1/status-pages`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use pharos_app::Caller;
use pharos_app::status_pages::{NewPost, NewUpdate, PostPatch};
use pharos_model::MonitorId;
use pharos_model::status_page::{
    AffectedComponent, Impact, PostKind, PostStatus, StatusPage, StatusPost,
};
use pharos_web::SharedState;

use crate::layout::{self, Nav};
use crate::time_range::{parse_utc_input, utc_input};
use crate::{error_page, guard, may_post};

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    render(&state, &caller, signed_in, None).await
}

async fn render(
    state: &SharedState,
    caller: &Caller,
    signed_in: bool,
    error: Option<String>,
) -> Response {
    let pages = state.settings().pages();
    let mut listed = Vec::with_capacity(pages.len());
    for page in pages {
        match state.status_posts(&page).await {
            Ok(posts) => listed.push((page, posts)),
            Err(e) => return error_page(e, signed_in),
        }
    }
    let may_write = may_post(caller, "/status-pages/{slug}/incidents");
    let now = Utc::now();
    let body = html! {
        h1 { "Status pages" }
        p.muted {
            "The pages your customers see. Pages and their components are set in the config ("
            code { "web.status_pages" } "); incidents and maintenance are posted here or through "
            code { "/api/v1/status-pages/<slug>/incidents" } "."
        }
        @if let Some(e) = &error { p.error #status-post-error { (e) } }
        @for (page, posts) in &listed {
            section.status-admin data-page=(page.slug) {
                h2 {
                    (page.title) " "
                    a.small href={ "/status/" (page.slug) } { "/status/" (page.slug) }
                    @for h in &page.hosts { " · " span.small.muted { (h) } }
                }
                @if page.sections.is_empty() {
                    p.muted { "No components: this page shows nothing until the config lists some." }
                } @else {
                    p.small.muted { "Components: "
                        @for (i, c) in page.components().enumerate() {
                            @if i > 0 { ", " } code { (c.monitor.as_str()) }
                        }
                    }
                }
                @if posts.is_empty() { p.muted { "No incidents or maintenance posted." } }
                @for p in posts { (post(page, p, may_write, now)) }
                @if may_write && !page.sections.is_empty() {
                    (new_post_form(page, PostKind::Incident))
                    (new_post_form(page, PostKind::Maintenance))
                }
            }
        }
    };
    layout::page("Status pages", Nav::StatusPages, signed_in, body).into_response()
}

fn post(page: &StatusPage, p: &StatusPost, may_write: bool, now: DateTime<Utc>) -> Markup {
    let base = format!("/status-pages/{}/incidents/{}", page.slug, p.id);
    let statuses: &[PostStatus] = match p.kind {
        PostKind::Incident => &PostStatus::INCIDENT,
        PostKind::Maintenance => &PostStatus::MAINTENANCE,
    };
    html! {
        details.status-post data-post=(p.id) open[!p.status().is_final() || p.is_maintenance_under_way(now)] {
            summary {
                span class={ "badge post-" (p.status().as_str()) } { (p.status().label()) } " "
                strong { (p.title) } " "
                span.small.muted { (p.kind.as_str()) " · updated " (p.updated_at.format("%Y-%m-%d %H:%M UTC")) }
            }
            @if let (Some(s), Some(e)) = (p.starts_at, p.ends_at) {
                p.small { "Window: " (s.format("%Y-%m-%d %H:%M")) " – " (e.format("%Y-%m-%d %H:%M UTC")) }
            }
            @if !p.components.is_empty() {
                p.small.muted { "Affected: "
                    @for (i, a) in p.components.iter().enumerate() {
                        @if i > 0 { ", " } (a.component.as_str())
                        @if p.kind == PostKind::Incident { " (" (a.impact.as_str()) ")" }
                    }
                }
            }
            ul.updates { @for u in &p.updates {
                li { strong { (u.status.label()) } " — " (u.message) " "
                    span.small.muted { (u.at.format("%Y-%m-%d %H:%M UTC")) " · " (u.author) } }
            } }
            @if may_write {
                form.post-update method="post" action={ (base) "/updates" } {
                    label { "Status " select name="status" {
                        @for s in statuses { option value=(s.as_str()) selected[*s == p.status()] { (s.label()) } }
                    } }
                    label { "Update " textarea name="message" rows="2" cols="50" maxlength="5000" {} }
                    label { "New title (optional) " input type="text" name="title" maxlength="200" size="30"; }
                    @if p.kind == PostKind::Maintenance {
                        label { "New window from (UTC) " (utc_input("starts_at", "", "UTC, as 2026-12-07 02:00")) }
                        label { "until " (utc_input("ends_at", "", "UTC, as 2026-12-07 03:00")) }
                    }
                    (affected_fields(page, p))
                    button type="submit" { "Post update" }
                }
                form.post-delete method="post" action={ (base) "/delete" } {
                    button type="submit" { "Delete" }
                }
            }
        }
    }
}

/// The components a post affects, to change with an update: an impact each for an
/// incident ("not affected" leaves it out), a tick each for a maintenance.
fn affected_fields(page: &StatusPage, p: &StatusPost) -> Markup {
    let current = |id: &MonitorId| p.components.iter().find(|a| &a.component == id);
    html! {
        fieldset.affected {
            legend { "Affected components" }
            input type="hidden" name="components_shown" value="1";
            @for c in page.components() {
                @let name = c.name.as_deref().unwrap_or(c.monitor.as_str());
                @if p.kind == PostKind::Incident {
                    label { (name) " "
                        select name={ "impact-" (c.monitor) } {
                            option value="" selected[current(&c.monitor).is_none()] { "Not affected" }
                            @for i in Impact::ALL {
                                option value=(i.as_str()) selected[current(&c.monitor).is_some_and(|a| a.impact == i)] { (i.label()) }
                            }
                        }
                    }
                } @else {
                    label.check { input type="checkbox" name="component" value=(c.monitor.as_str()) checked[current(&c.monitor).is_some()]; " " (name) }
                }
            }
        }
    }
}

/// What an update form's affected components say, when the form showed them.
fn affected_of(
    page: &StatusPage,
    kind: PostKind,
    fields: &[(String, String)],
) -> Result<Option<Vec<AffectedComponent>>, String> {
    if field(fields, "components_shown").is_none() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for c in page.components() {
        let impact = match kind {
            PostKind::Incident => match field(fields, &format!("impact-{}", c.monitor)) {
                Some(i) => {
                    Impact::parse(i).ok_or(format!("impact-{}: unknown impact {i:?}", c.monitor))?
                }
                None => continue,
            },
            PostKind::Maintenance => {
                if !fields
                    .iter()
                    .any(|(k, v)| k == "component" && v == c.monitor.as_str())
                {
                    continue;
                }
                Impact::None
            }
        };
        out.push(AffectedComponent {
            component: c.monitor.clone(),
            impact,
        });
    }
    Ok(Some(out))
}

fn new_post_form(page: &StatusPage, kind: PostKind) -> Markup {
    let (heading, statuses): (&str, &[PostStatus]) = match kind {
        PostKind::Incident => ("New incident", &PostStatus::INCIDENT),
        PostKind::Maintenance => ("Schedule maintenance", &PostStatus::MAINTENANCE),
    };
    html! {
        details.new-post data-kind=(kind.as_str()) {
            summary { (heading) }
            form method="post" action={ "/status-pages/" (page.slug) "/incidents" } {
                input type="hidden" name="kind" value=(kind.as_str());
                label { "Title " input type="text" name="title" maxlength="200" size="40" required; }
                label { "Status " select name="status" {
                    @for s in statuses { option value=(s.as_str()) { (s.label()) } }
                } }
                label { "Message " textarea name="message" rows="3" cols="50" maxlength="5000" required {} }
                @if kind == PostKind::Maintenance {
                    label { "From (UTC) " (utc_input("starts_at", "", "UTC, as 2026-12-07 02:00")) }
                    label { "until (UTC) " (utc_input("ends_at", "", "UTC, as 2026-12-07 03:00")) }
                }
                fieldset {
                    legend { "Affected components" }
                    @for c in page.components() {
                        label.check { input type="checkbox" name="component" value=(c.monitor.as_str()); " " (c.name.as_deref().unwrap_or(c.monitor.as_str())) }
                    }
                    @if kind == PostKind::Incident {
                        label { " impact " select name="impact" {
                            @for i in Impact::ALL { option value=(i.as_str()) selected[i == Impact::PartialOutage] { (i.label()) } }
                        } }
                    }
                }
                button type="submit" { (heading) }
            }
        }
    }
}

/// A form body's fields in order; a checkbox list repeats its name.
fn fields(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

fn new_post_of(fields: &[(String, String)]) -> Result<NewPost, String> {
    let kind = PostKind::parse(field(fields, "kind").unwrap_or("incident"))
        .ok_or("kind: incident or maintenance")?;
    let status = field(fields, "status")
        .map(|s| PostStatus::parse(s).ok_or(format!("status: unknown status {s:?}")))
        .transpose()?;
    let impact = match field(fields, "impact") {
        Some(i) => Impact::parse(i).ok_or(format!("impact: unknown impact {i:?}"))?,
        None => Impact::None,
    };
    let mut components = Vec::new();
    for (k, v) in fields {
        if k == "component" {
            components.push(AffectedComponent {
                component: v
                    .parse()
                    .map_err(|_| format!("component: {v:?} is not a component id"))?,
                impact,
            });
        }
    }
    let time = |name: &str| {
        field(fields, name)
            .map(|v| parse_utc_input(v).ok_or(format!("{name}: a UTC time as 2026-12-07 14:00")))
            .transpose()
    };
    Ok(NewPost {
        kind,
        title: field(fields, "title").unwrap_or_default().to_string(),
        status,
        message: field(fields, "message").unwrap_or_default().to_string(),
        components,
        starts_at: time("starts_at")?,
        ends_at: time("ends_at")?,
        by: None,
    })
}

pub async fn create(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    let signed_in = crate::signed_in(&caller);
    let Some(page) = super::page_named(&state, &slug) else {
        return super::not_found();
    };
    let result = match new_post_of(&fields(&body)) {
        Ok(new) => state
            .create_status_post(&caller, &page, new)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    done(&state, &caller, signed_in, result).await
}

pub async fn add_update(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path((slug, id)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let signed_in = crate::signed_in(&caller);
    let Some(page) = super::page_named(&state, &slug) else {
        return super::not_found();
    };
    let f = fields(&body);
    let result = async {
        let status = field(&f, "status")
            .and_then(PostStatus::parse)
            .ok_or("status: choose one")?;
        let time = |name: &str| {
            field(&f, name)
                .map(|v| {
                    parse_utc_input(v).ok_or(format!("{name}: a UTC time as 2026-12-07 14:00"))
                })
                .transpose()
        };
        let current = state
            .status_post(&page, id)
            .await
            .map_err(|e| e.to_string())?;
        let components =
            affected_of(&page, current.kind, &f)?.filter(|new| *new != current.components);
        let patch = PostPatch {
            title: field(&f, "title").map(str::to_string),
            components,
            starts_at: time("starts_at")?,
            ends_at: time("ends_at")?,
        };
        let changes = patch.title.is_some()
            || patch.components.is_some()
            || patch.starts_at.is_some()
            || patch.ends_at.is_some();
        if changes {
            state
                .change_status_post(&caller, &page, id, patch)
                .await
                .map_err(|e| e.to_string())?;
            // A rename or a new window alone needs no update.
            if field(&f, "message").is_none() {
                return Ok(());
            }
        }
        let update = NewUpdate {
            status,
            message: field(&f, "message").unwrap_or_default().to_string(),
            by: None,
        };
        state
            .add_status_update(&caller, &page, id, update)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    .await;
    done(&state, &caller, signed_in, result).await
}

pub async fn delete(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path((slug, id)): Path<(String, i64)>,
) -> Response {
    let signed_in = crate::signed_in(&caller);
    let Some(page) = super::page_named(&state, &slug) else {
        return super::not_found();
    };
    let result = state
        .delete_status_post(&caller, &page, id)
        .await
        .map_err(|e| e.to_string());
    done(&state, &caller, signed_in, result).await
}

/// Back to the list after a change; the list with the reason after a refusal.
async fn done(
    state: &SharedState,
    caller: &Caller,
    signed_in: bool,
    result: Result<(), String>,
) -> Response {
    match result {
        Ok(()) => Redirect::to("/status-pages").into_response(),
        Err(e) => {
            let mut r = render(state, caller, signed_in, Some(e)).await;
            *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            r
        }
    }
}
