//! Projects: the DSN to copy, keys (add, revoke), release health, what SDKs dropped, and
//! a form to create one.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use maud::{Markup, html};
use pharos_store::errors::{ClientReportRow, ProjectSource, ReleaseHealth};
use serde::Deserialize;

use super::layout::{self, Nav, ago, percent};
use super::{error_page, guard, may_post};
use pharos_app::projects::{NewProject, ProjectView};
use pharos_web::SharedState;
use pharos_web::api::ApiError;
use pharos_web::api::projects::view;

pub async fn list(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let projects = match state.with_store(|s| s.errors().projects()).await {
        Ok(p) => p,
        Err(e) => return error_page(e, signed_in),
    };
    let body = html! {
        h1 { "Projects" }
        @if projects.is_empty() { p.muted { "No projects yet. Each project has a DSN: point " code { "SENTRY_DSN" } " at it and the Sentry SDK reports here unchanged." } }
        @for p in projects.into_iter().map(|p| view(&state, p)) {
            div.project-card {
                h2 { a href={ "/projects/" (p.id) } { (p.name) } span.small.muted { " id " (p.id) @if p.source == ProjectSource::Config { " · from pharos.yaml" } } }
                @if let Some(dsn) = &p.dsn { div.dsn { span.label { "DSN" } code.copy data-dsn=(dsn) { (dsn) } } }
                p.small { a href={ "/issues?query=is:unresolved&project=" (p.id) } { "Issues" } " · " a href={ "/transactions?project=" (p.id) } { "Performance" } }
            }
        }
        @if may_post(&caller, "/projects") {
            h2 { "New project" }
            form.stack method="post" action="/projects" {
                label { "Name" input name="name" required placeholder="telegram-bot"; }
                label { "Platform" span.hint { "optional" } input name="platform" placeholder="python"; }
                div { button.primary type="submit" { "Create project" } }
            }
        }
    };
    layout::page("Projects", Nav::Projects, signed_in, body).into_response()
}

#[derive(Deserialize)]
pub struct NewProjectForm {
    name: String,
    #[serde(default)]
    platform: Option<String>,
}

pub async fn create(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Form(f): Form<NewProjectForm>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let p = NewProject::named(f.name, f.platform.filter(|p| !p.trim().is_empty()));
    match state.create_project(&caller, p).await {
        Ok(v) => Redirect::to(&format!("/projects/{}", v.id)).into_response(),
        Err(e) => error_page(e, true),
    }
}

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let since = Utc::now() - Duration::days(90);
    let loaded = state
        .with_store(move |s| {
            Ok((
                s.errors().project(id)?,
                s.errors().release_health(id, since)?,
                s.errors().client_reports(id)?,
            ))
        })
        .await;
    let (project, releases, reports) = match loaded {
        Ok(v) => v,
        Err(e) => return error_page(e, signed_in),
    };
    let usage = state.project_usage(&project).await;
    let mut p = view(&state, project);
    p.usage = usage.ok();
    let may_change = may_post(&caller, "/projects/{id}/keys");
    let body = project_body(&p, &releases, &reports, may_change);
    layout::page(&p.name, Nav::Projects, signed_in, body).into_response()
}

fn project_body(
    p: &ProjectView,
    releases: &[ReleaseHealth],
    reports: &[ClientReportRow],
    may_change: bool,
) -> Markup {
    html! {
        p.small { a href="/projects" { "← Projects" } }
        h1 { (p.name) span.small.muted { " id " (p.id) } }
        p.small { a href={ "/issues?project=" (p.id) } { "Issues" } " · " a #feedback-link href={ "/projects/" (p.id) "/feedback" } { "User feedback" } }
        @if let Some(dsn) = &p.dsn {
            div.dsn { span.label { "DSN" } code #dsn { (dsn) } }
            pre { code { "import sentry_sdk\n\nsentry_sdk.init(\n    dsn=\"" (dsn) "\",\n    environment=\"production\",\n    release=\"myapp@1.0.0\",\n    traces_sample_rate=1.0,\n)" } }
            @if let Some(key) = p.keys.iter().find(|k| k.revoked_at.is_none()) {
                p.small { "A service instrumented with OpenTelemetry sends its spans here over OTLP/HTTP "
                    "(or, with a " code { "traces:write" } " token, to " code { "/v1/traces" } ", one project per "
                    code { "service.name" } "):" }
                pre #otlp { code { "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" (p.otlp_traces_endpoint) "\nOTEL_EXPORTER_OTLP_TRACES_HEADERS=x-sentry-auth=sentry%20sentry_key=" (key.public_key) } }
            }
        }
        h2 { "Keys" }
        (keys(p, may_change))
        h2 { "Settings" }
        (settings(p, may_change))
        h2 { "Release health" }
        (release_health(p.id, releases))
        h2 { "Dropped by SDKs and filters" }
        @if reports.is_empty() { p.muted { "Nothing reported dropped." } } @else {
            table { thead { tr { th { "Day" } th { "Reason" } th { "Category" } th.num { "Quantity" } } }
                tbody { @for r in reports { tr { td { (r.day.format("%Y-%m-%d")) } td { (r.reason) } td { (r.category) } td.num { (r.quantity) } } } } }
        }
    }
}

/// The keys with their state; adding and revoking only for projects made through the API.
fn keys(p: &ProjectView, may_change: bool) -> Markup {
    html! {
        table.keys {
            thead { tr { th { "Public key" } th { "Label" } th { "Created" } th { "State" } th {} } }
            tbody {
                @for k in &p.keys {
                    tr {
                        td { code { (k.public_key) } }
                        td { (k.label.as_deref().unwrap_or("")) }
                        td { (ago(Some(k.created_at))) }
                        td { @if k.revoked_at.is_some() { span.tag { "revoked" } } @else { "active" } }
                        td {
                            @if may_change && k.revoked_at.is_none() && p.source == ProjectSource::Api {
                                form method="post" action={ "/projects/" (p.id) "/keys/" (k.public_key) "/revoke" } {
                                    button.danger type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if p.source == ProjectSource::Api && may_change {
            form.inline method="post" action={ "/projects/" (p.id) "/keys" } {
                input name="label" placeholder="label (optional)";
                button.primary type="submit" { "Add a key" }
            }
        } @else if p.source != ProjectSource::Api {
            p.small.muted { "This project is defined in pharos.yaml; its keys change there." }
        }
    }
}

fn per_minute(n: u32, what: &str) -> String {
    match n {
        0 => format!("{what}: no quota"),
        n => format!("{n} {what}/min"),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn settings(p: &ProjectView, may_change: bool) -> Markup {
    let a = &p.settings.alerts;
    let l = &p.settings.limits;
    html! {
        dl.kv {
            dt { "Retention" } dd { (p.settings.retention) " (event counts are kept regardless)" }
            dt { "Quota" } dd { @if p.settings.rate_limit == 0 { "none" } @else { (p.settings.rate_limit) " events per minute" } }
            dt { "Other quotas" } dd data-testid="quotas" {
                (per_minute(l.transactions_per_minute, "transactions")) " · "
                (per_minute(l.sessions_per_minute, "sessions")) " · "
                (per_minute(l.logs_per_minute, "log records")) " · "
                (per_minute(l.check_ins_per_minute, "check-ins")) " · "
                (per_minute(l.feedback_per_minute, "feedback")) " · "
                (per_minute(l.attachment_mb_per_minute, "MiB of attachments"))
            }
            dt { "Disk" } dd data-testid="disk" {
                @if let Some(u) = &p.usage { (mib(u.disk_used_bytes)) " used of " }
                @if l.disk_budget_mb == 0 { "no budget" } @else { (l.disk_budget_mb) " MiB budget for event payloads and attachments" }
            }
            dt { "Check-in monitors" } dd {
                @if let Some(u) = &p.usage { (u.check_in_monitors) " of " }
                "at most " (l.check_in_monitors) " made by cron check-ins"
            }
            dt { "Alerts" } dd {
                @if a.new_issue { "new issues · " } @if a.regression { "regressions · " }
                @if let Some(n) = a.events_per_minute { "more than " (n) " events/min · " }
                @if let Some(n) = a.issue_events_per_minute { "an issue above " (n) " events/min · " }
                @if let Some(t) = a.transaction_p95 { "transaction p95 above " (t) }
            }
            @let f = p.settings.filters.spec();
            dt { "Inbound filters" } dd #filters {
                @if p.settings.filters.is_empty() { "none: every event is kept" }
                @if !f.environments.is_empty() { "environments " code { (f.environments.join(", ")) } " · " }
                @if !f.releases.is_empty() { "releases " code { (f.releases.join(", ")) } " · " }
                @if !f.error_messages.is_empty() { "messages " code { (f.error_messages.join(", ")) } }
            }
        }
        @if p.source == ProjectSource::Api && may_change {
            details.filters-form {
                summary { "Change the inbound filters" }
                form method="post" action={ "/projects/" (p.id) "/filters" } {
                    p.small.muted { "One per line. Events that match are not stored; they are counted as filtered below." }
                    label { "Environments (exact names)" textarea name="environments" rows="2" { (f.environments.join("\n")) } }
                    label { "Releases (globs: " code { "*-dev" } ")" textarea name="releases" rows="2" { (f.releases.join("\n")) } }
                    label { "Error messages (globs, or " code { "re:" } " regexes)" textarea name="error_messages" rows="3" { (f.error_messages.join("\n")) } }
                    button.primary type="submit" { "Save filters" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct FiltersForm {
    #[serde(default)]
    environments: String,
    #[serde(default)]
    releases: String,
    #[serde(default)]
    error_messages: String,
}

/// `POST /projects/{id}/filters`: the filters form, as a merge patch of the project.
pub async fn set_filters(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
    Form(f): Form<FiltersForm>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let patch = serde_json::json!({ "filters": {
        "environments": lines(&f.environments),
        "releases": lines(&f.releases),
        "error_messages": lines(&f.error_messages),
    }});
    match state
        .patch_project(&caller, id, patch.to_string().as_bytes())
        .await
    {
        Ok(_) => Redirect::to(&format!("/projects/{id}#filters")).into_response(),
        Err(e) => error_page(e, true),
    }
}

fn release_health(project: i64, releases: &[ReleaseHealth]) -> Markup {
    html! {
        @if releases.is_empty() { p.muted { "No sessions yet (the SDK sends them when a release is set)." } } @else {
            table.releases {
                thead { tr { th { "Release" } th.num { "Sessions" } th.num { "Crashed" } th.num { "Errored" } th.num { "Crash-free sessions" } th { "Last session" } } }
                tbody { @for r in releases { tr {
                    td { a href={ "/issues?project=" (project) "&query=" (url::form_urlencoded::byte_serialize(format!("release:\"{}\"", r.release).as_bytes()).collect::<String>()) } { (r.release) } }
                    td.num { (r.sessions) } td.num { (r.crashed) } td.num { (r.errored) }
                    td.num { (percent(r.crash_free_rate.map(|v| v * 100.0))) }
                    td { (ago(Some(r.last_seen))) }
                } } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    label: Option<String>,
}

pub async fn add_key(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
    Form(f): Form<KeyForm>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let label = f.label.filter(|l| !l.trim().is_empty());
    let result = async {
        state
            .add_project_key(&caller, id, label)
            .await
            .map(drop)
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/projects/{id}")).into_response(),
        Err(e) => error_page(e, true),
    }
}

pub async fn revoke_key(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path((id, key)): Path<(i64, String)>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let result = async {
        state
            .revoke_project_key(&caller, id, key)
            .await
            .map_err(ApiError::from)
    }
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/projects/{id}")).into_response(),
        Err(e) => error_page(e, true),
    }
}
