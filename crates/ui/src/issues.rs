//! The issue list (search, filters, sparklines) and the issue page (latest event with its
//! exception chain, stack trace, breadcrumbs, request, tags and context; resolve and
//! ignore actions). Assigning, comments, merges and feedback are drawn by `triage`.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use pharos_store::Store;
use pharos_store::errors::{
    EventSummary, IssueDetail, IssueStatus, IssueSummary, Page, Project, StoredEvent,
    TagDistribution,
};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Nav, ago};
use super::triage::{self, TriageData};
use super::{error_page, guard};
use pharos_app::issues::{IssueListItem, IssueListQuery, IssueUpdate};
use pharos_app::triage::Assignee;
use pharos_web::SharedState;

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    page: Option<u32>,
}

pub async fn list(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let p = q.map(|q| q.0).unwrap_or_default();
    // A fresh visit shows what needs attention; an explicit empty search shows all.
    let query = p.query.clone().unwrap_or_else(|| "is:unresolved".into());
    let search = Search {
        query: &query,
        project: p.project.as_deref().and_then(|s| s.parse::<i64>().ok()),
        sort: p.sort.as_deref(),
    };
    let projects = state.projects().await.unwrap_or_default();
    if projects.is_empty() {
        return layout::page("Issues", Nav::Issues, signed_in, no_projects()).into_response();
    }
    let page = match state
        .issues(
            &caller,
            IssueListQuery {
                query: Some(query.clone()),
                project: search.project,
                sort: p.sort.clone(),
                page: p.page,
                per_page: Some(25),
            },
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return error_page(e, signed_in),
    };
    let body = list_body(&search, &projects, &page);
    layout::page("Issues", Nav::Issues, signed_in, body).into_response()
}

/// What the list was asked for, so its links change one thing and keep the rest.
struct Search<'a> {
    query: &'a str,
    project: Option<i64>,
    sort: Option<&'a str>,
}

impl Search<'_> {
    /// The list for another query or page, same project and sort.
    fn link(&self, q: &str, page: Option<u32>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("query", q);
        if let Some(pr) = self.project {
            s.append_pair("project", &pr.to_string());
        }
        if let Some(sort) = self.sort {
            s.append_pair("sort", sort);
        }
        if let Some(pg) = page {
            s.append_pair("page", &pg.to_string());
        }
        format!("/issues?{}", s.finish())
    }
}

fn list_body(s: &Search, projects: &[Project], page: &Page<IssueListItem>) -> Markup {
    html! {
        h1 { "Issues" }
        (search_form(s, projects))
        div.counts {
            @for (label, q) in [("Unresolved", "is:unresolved"), ("Assigned to me", "is:unresolved assigned:me"), ("Regressed", "is:regressed"), ("Resolved", "is:resolved"), ("Ignored", "is:ignored"), ("All", "")] {
                a href=(s.link(q, None)) class=[(s.query.trim() == q).then_some("active")] { (label) }
            }
        }
        @if page.items.is_empty() {
            p.muted #no-issues { "No issues match " code { (s.query) } "." }
        } @else {
            (issue_table(&page.items, projects))
            (pager(s, page))
        }
        (search_help())
    }
}

fn search_form(s: &Search, projects: &[Project]) -> Markup {
    html! {
        form.search method="get" action="/issues" {
            input type="search" name="query" value=(s.query) aria-label="Search issues"
                placeholder="is:unresolved level:error environment:production tenant_id:acme text";
            select name="project" aria-label="Project" {
                option value="" { "All projects" }
                @for pr in projects {
                    option value=(pr.id) selected[s.project == Some(pr.id)] { (pr.name) }
                }
            }
            select name="sort" aria-label="Sort by" {
                @for (v, label) in [("date", "Last seen"), ("new", "First seen"), ("freq", "Events"), ("user", "Users")] {
                    option value=(v) selected[s.sort == Some(v)] { (label) }
                }
            }
            button.primary type="submit" { "Search" }
        }
    }
}

fn issue_table(items: &[IssueListItem], projects: &[Project]) -> Markup {
    let project_name = |id: i64| {
        projects
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    html! {
        table.issues {
            thead { tr {
                th { "Issue" } th { "Last 24 h" } th.num { "Events" } th.num { "Users" } th { "Last seen" } th { "First seen" }
            } }
            tbody {
                @for item in items {
                    @let i = &item.issue;
                    tr data-issue=(i.id) {
                        td {
                            div.issue-title {
                                (level_badge(&i.level))
                                a href={ "/issues/" (i.id) } { (i.title) }
                                @if let Some(sub) = &i.substatus { " " span class={ "tag " (sub) } { (sub) } }
                                @if i.status != IssueStatus::Unresolved { " " span.tag { (status_text(i.status)) } }
                            }
                            div.small.muted {
                                (i.culprit) " · " (project_name(i.project_id))
                                @if let Some(a) = &i.assignee { " · " span.assignee { "assigned to " (a.name) } }
                            }
                        }
                        td { (bars(&item.sparkline, 120, 24)) }
                        td.num { (i.count) }
                        td.num { (i.users) }
                        td { (ago(Some(i.last_seen))) }
                        td { (ago(Some(i.first_seen))) }
                    }
                }
            }
        }
    }
}

fn pager(s: &Search, page: &Page<IssueListItem>) -> Markup {
    let pages = page.total.div_ceil(page.per_page as u64).max(1) as u32;
    html! {
        div.pager {
            @if page.page > 1 { a href=(s.link(s.query, Some(page.page - 1))) { "← Newer" } }
            span.muted { "Page " (page.page) " of " (pages) " · " (page.total) " issues" }
            @if page.page < pages { a href=(s.link(s.query, Some(page.page + 1))) { "Older →" } }
        }
    }
}

fn search_help() -> Markup {
    html! {
        details.help {
            summary { "Search syntax" }
            p.small { code { "is:unresolved" } ", " code { "is:resolved" } ", " code { "is:ignored" } ", " code { "is:regressed" } ", "
                code { "level:error" } ", " code { "environment:production" } ", " code { "release:1.2.3" } ", any tag such as "
                code { "tenant_id:acme" } " or " code { "server_name:web-1" } ", " code { "assigned:me" } ", " code { "assigned:none" } ", " code { "!tag:value" } " to exclude, "
                code { "\"quoted phrases\"" } " and free text (title and culprit)." }
        }
    }
}

fn no_projects() -> Markup {
    html! {
        h1 { "Issues" }
        div.onboarding #onboarding {
            p { "No error-tracking project yet. Create one to get a DSN, then point your SDK at it:" }
            pre { code { "import sentry_sdk\nsentry_sdk.init(dsn=\"<the DSN>\", traces_sample_rate=1.0)" } }
            a.button href="/projects" { "Create a project" }
        }
    }
}

pub fn level_badge(level: &str) -> Markup {
    html! { span class={ "level " (level) } title={ "level " (level) } { (level) } }
}

fn status_text(s: IssueStatus) -> &'static str {
    match s {
        IssueStatus::Unresolved => "unresolved",
        IssueStatus::Resolved => "resolved",
        IssueStatus::Ignored => "ignored",
    }
}

/// Events per hour as small bars, oldest first.
pub fn bars(counts: &[i64], width: u32, height: u32) -> Markup {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = counts.len().max(1) as f64;
    let w = width as f64 / n;
    let total: i64 = counts.iter().sum();
    let label = format!("{total} events in the last {} hours", counts.len());
    html! {
        svg.bars width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } role="img" aria-label=(label) {
            title { (label) }
            @for (i, c) in counts.iter().enumerate() {
                @if *c > 0 {
                    @let h = ((*c as f64 / max) * (height as f64 - 1.0)).max(1.5);
                    rect x=(format!("{:.1}", i as f64 * w + 0.5)) y=(format!("{:.1}", height as f64 - h)) width=(format!("{:.1}", (w - 1.0).max(1.0))) height=(format!("{h:.1}")) {}
                }
            }
            line x1="0" x2=(width) y1=(height) y2=(height) class="base" {}
        }
    }
}

#[derive(Deserialize, Default)]
pub struct IssueParams {
    #[serde(default)]
    event: Option<String>,
}

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
    q: Result<Query<IssueParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let wanted = q.ok().and_then(|q| q.0.event);
    let may_triage = super::may_post(&caller, "/issues/{id}/comment");
    let issue = match state
        .with_store(move |s| load_issue(s, id, wanted, may_triage))
        .await
    {
        Ok(v) => v,
        Err(e) => {
            // A link to a merged issue (an alert's, a chat message's) opens the one kept.
            if let Ok(Some(into)) = state.merged_into(id).await {
                return Redirect::to(&format!("/issues/{into}")).into_response();
            }
            return error_page(e, signed_in);
        }
    };
    let hourly = issue.hourly.get(&id).map(Vec::as_slice).unwrap_or_default();
    let daily = daily_counts(hourly, Utc::now().date_naive());
    let body = issue_body(&issue, &daily);
    layout::page(&issue.detail.issue.title, Nav::Issues, signed_in, body).into_response()
}

/// What the issue page shows, read from the error store in one go.
struct IssueData {
    detail: IssueDetail,
    /// The event asked for, else the latest; none once every event is past retention.
    event: Option<StoredEvent>,
    events: Page<EventSummary>,
    project: Option<Project>,
    hourly: HashMap<i64, Vec<(DateTime<Utc>, i64)>>,
    triage: TriageData,
}

fn load_issue(
    s: &Store,
    id: i64,
    wanted: Option<String>,
    may_triage: bool,
) -> pharos_store::Result<IssueData> {
    let detail = s.errors().issue(id)?;
    let event = match wanted {
        Some(e) => Some(s.errors().event(Some(detail.issue.project_id), &e)?),
        None => s.errors().latest_event(id)?,
    };
    let events = s.errors().issue_events(id, 1, 20)?;
    let project = s.errors().project(detail.issue.project_id).ok();
    let since = Utc::now() - chrono::Duration::days(14);
    let hourly = s.errors().hourly_counts(&[id], since)?;
    let triage = TriageData {
        users: s
            .users()?
            .into_iter()
            .map(|u| Assignee {
                id: u.id,
                name: u.name,
            })
            .collect(),
        activity: s.errors().issue_activity(id)?,
        may_triage,
        feedback: s.errors().issue_feedback(id)?,
    };
    Ok(IssueData {
        triage,
        detail,
        event,
        events,
        project,
        hourly,
    })
}

/// Events per day over the 14 days up to `today`, oldest first.
fn daily_counts(hourly: &[(DateTime<Utc>, i64)], today: NaiveDate) -> Vec<i64> {
    let mut daily = vec![0i64; 14];
    for (hour, n) in hourly {
        let d = (today - hour.date_naive()).num_days();
        if (0..14).contains(&d) {
            daily[13 - d as usize] += n;
        }
    }
    daily
}

fn issue_body(d: &IssueData, daily: &[i64]) -> Markup {
    let i = &d.detail.issue;
    html! {
        p.small { a href="/issues" { "← Issues" } @if let Some(p) = &d.project { " · " a href={ "/issues?query=is:unresolved&project=" (p.id) } { (p.name) } } }
        h1.issue-title { (level_badge(&i.level)) (i.title) }
        p.muted { (i.culprit) }
        // Resolving, ignoring and assigning take the same edit permission.
        @if d.triage.may_triage {
            div.actions { (actions(i)) (triage::assignee_form(i, &d.triage)) }
        }
        (issue_cards(i, daily))
        div.issue-grid {
            div {
                @match &d.event {
                    Some(e) => (event_view(e)),
                    None => p.muted { "The events of this issue are past their retention; the counts above are still exact." },
                }
                (triage::triage_section(i, &d.triage))
            }
            aside {
                h2 { "Tags" }
                (tag_distributions(&d.detail.tags))
                h2 { "Recent events" }
                (recent_events(i.id, &d.events))
            }
        }
    }
}

fn issue_cards(i: &IssueSummary, daily: &[i64]) -> Markup {
    html! {
        div.cards {
            div.card { div.label { "Status" } div.value #issue-status { (status_text(i.status)) @if let Some(s) = &i.substatus { " (" (s) ")" } } }
            div.card { div.label { "Events" } div.value #issue-count { (i.count) } }
            div.card { div.label { "Users" } div.value { (i.users) } }
            div.card { div.label { "Assignee" } div.value.small #issue-assignee { (i.assignee.as_ref().map_or("nobody", |a| a.name.as_str())) } }
            div.card { div.label { "First seen" } div.value.small { (ago(Some(i.first_seen))) } div.small.muted { (i.first_release.as_deref().unwrap_or("")) } }
            div.card { div.label { "Last seen" } div.value.small { (ago(Some(i.last_seen))) } div.small.muted { (i.last_release.as_deref().unwrap_or("")) } }
            div.card { div.label { "Last 14 days" } (bars(daily, 140, 32)) }
        }
    }
}

/// Each tag's most common values as bars, each a search for issues with that value.
fn tag_distributions(tags: &[TagDistribution]) -> Markup {
    html! {
        @for t in tags {
            div.tagdist {
                div.small { strong { (t.key) } span.muted { " · " (t.distinct) " value" @if t.distinct != 1 { "s" } } }
                @for v in &t.top {
                    @let pct = v.count as f64 * 100.0 / t.total.max(1) as f64;
                    a.tagbar href={ "/issues?query=" (url::form_urlencoded::byte_serialize(format!("{}:\"{}\"", t.key, v.value).as_bytes()).collect::<String>()) } title={ (v.count) " events" } {
                        span.fill style={ "width:" (format!("{pct:.0}")) "%" } {}
                        span.text { (v.value) }
                        span.pct { (format!("{pct:.0}%")) }
                    }
                }
            }
        }
    }
}

fn recent_events(id: i64, events: &Page<EventSummary>) -> Markup {
    html! {
        ul.events {
            @for e in &events.items {
                li { a href={ "/issues/" (id) "?event=" (e.event_id) } { (e.event_id.get(..8).unwrap_or(&e.event_id)) } " " (ago(Some(e.timestamp))) @if let Some(r) = &e.release { span.small.muted { " " (r) } } }
            }
        }
        p.small.muted { (events.total) " stored events" }
    }
}

fn actions(i: &IssueSummary) -> Markup {
    let form = |status: &str, extra: &[(&str, &str)], label: &str, class: &str| {
        html! {
            form method="post" action={ "/issues/" (i.id) "/status" } {
                input type="hidden" name="status" value=(status);
                @for (k, v) in extra { input type="hidden" name=(k) value=(v); }
                button type="submit" class=(class) { (label) }
            }
        }
    };
    html! {
        @match i.status {
            IssueStatus::Unresolved => {
                (form("resolved", &[], "Resolve", "primary"))
                (form("resolved", &[("in_next_release", "true")], "Resolve in next release", "secondary"))
                (form("ignored", &[("ignore_duration", "1h")], "Ignore 1 h", "secondary"))
                (form("ignored", &[("ignore_duration", "24h")], "Ignore 24 h", "secondary"))
                (form("ignored", &[("ignore_count", "100")], "Ignore until 100 more", "secondary"))
                (form("ignored", &[], "Ignore forever", "secondary"))
            }
            _ => {
                (form("unresolved", &[], "Unresolve", "primary"))
                @if let Some(r) = &i.resolved_in_release { span.small.muted { "resolved in the release after " (r) } }
                @if let Some(t) = i.ignore_until { span.small.muted { "ignored until " (t.format("%Y-%m-%d %H:%M UTC")) } }
                @if let Some(n) = i.ignore_until_count { span.small.muted { "ignored until it reaches " (n) " events" } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
    #[serde(default)]
    in_next_release: Option<String>,
    #[serde(default)]
    ignore_duration: Option<String>,
    #[serde(default)]
    ignore_count: Option<u64>,
}

pub async fn set_status(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
    Form(f): Form<StatusForm>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let update = IssueUpdate {
        status: f.status,
        in_next_release: f.in_next_release.is_some_and(|v| v == "true" || v == "on"),
        ignore_duration: f.ignore_duration.and_then(|d| d.parse().ok()),
        ignore_count: f.ignore_count,
    };
    match state.change_issue(&caller, id, &update).await {
        Ok(()) => Redirect::to(&format!("/issues/{id}")).into_response(),
        Err(e) => error_page(e, true),
    }
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Scalars as text; objects and arrays as compact JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// One event, the way a person debugging it wants to read it.
pub fn event_view(e: &StoredEvent) -> Markup {
    let p = &e.payload;
    let exceptions = pharos_ingest::sentry::grouping::exception_values(p);
    let message = pharos_ingest::sentry::grouping::message_text(p);
    html! {
        section.event #event data-event=(e.summary.event_id) {
            h2 { "Event " code { (e.summary.event_id) } }
            p.small.muted {
                (ago(Some(e.summary.timestamp)))
                @if let Some(env) = &e.summary.environment { " · " (env) }
                @if let Some(r) = &e.summary.release { " · release " (r) }
                @if let Some(srv) = s(p, "server_name") { " · " (srv) }
            }
            @if let Some(m) = &message { pre.message { (m) } }
            @if !exceptions.is_empty() {
                h3 { "Exception" }
                // Newest (the one raised) first, then what caused it, as Python prints reversed.
                @for (n, ex) in exceptions.iter().rev().enumerate() {
                    div.exception {
                        @if n > 0 { p.small.muted.chain { "caused by / during handling of the above:" } }
                        h4 { (s(ex, "type").unwrap_or("Error")) span.muted { ": " (s(ex, "value").unwrap_or("")) } }
                        @if let Some(m) = ex.get("mechanism") {
                            p.small.muted { "mechanism " (s(m, "type").unwrap_or("?")) @if m.get("handled").and_then(Value::as_bool) == Some(false) { " · " strong.unhandled { "unhandled" } } }
                        }
                        (stacktrace(ex))
                        (minified_frames(ex))
                    }
                }
                (source_map_errors(p))
            }
            (breadcrumbs(p))
            @if let Some(req) = p.get("request").filter(|r| r.is_object()) {
                h3 { "Request" }
                p { code { (s(req, "method").unwrap_or("")) " " (s(req, "url").unwrap_or("")) } }
                (kv_table(req, &["method", "url"]))
            }
            @if let Some(user) = p.get("user").filter(|u| u.is_object()) {
                h3 { "User" }
                (kv_table(user, &[]))
            }
            @if let Some(tags) = p.get("tags").filter(|t| t.as_object().is_some_and(|o| !o.is_empty()) || t.as_array().is_some_and(|a| !a.is_empty())) {
                h3 { "Tags" }
                @match tags {
                    Value::Array(pairs) => table.kv { @for pair in pairs { tr { td { (pair.get(0).map(text).unwrap_or_default()) } td { (pair.get(1).map(text).unwrap_or_default()) } } } },
                    other => (kv_table(other, &[])),
                }
            }
            @if let Some(contexts) = p.get("contexts").and_then(Value::as_object) {
                h3 { "Contexts" }
                @for (name, ctx) in contexts {
                    h4.small { (name) }
                    (kv_table(ctx, &[]))
                }
            }
            @if let Some(extra) = p.get("extra").filter(|x| x.as_object().is_some_and(|o| !o.is_empty())) {
                h3 { "Additional data" }
                (kv_table(extra, &[]))
            }
            @if let Some(sdk) = p.get("sdk") {
                h3 { "SDK" }
                p.small { (s(sdk, "name").unwrap_or("?")) " " (s(sdk, "version").unwrap_or("")) }
            }
            details.raw {
                summary { "Raw JSON" }
                pre { (serde_json::to_string_pretty(p).unwrap_or_default()) }
            }
        }
    }
}

fn stacktrace(ex: &Value) -> Markup {
    let frames: Vec<&Value> = pharos_ingest::sentry::grouping::frames(ex).collect();
    if frames.is_empty() {
        return html! {};
    }
    let any_in_app = frames
        .iter()
        .any(|f| f.get("in_app").and_then(Value::as_bool) == Some(true));
    html! {
        ol.frames {
            // Most recent call first, as Sentry shows it.
            @for (n, f) in frames.iter().rev().enumerate() {
                @let in_app = f.get("in_app").and_then(Value::as_bool) == Some(true);
                @let open = n == 0 || (in_app && n < 3);
                li class={ "frame" @if in_app { " in-app" } @else if any_in_app { " system" } } {
                    details open[open] {
                        summary {
                            @if in_app { span.inapp title="in-app frame" { "in app" } " " }
                            code { (s(f, "filename").or_else(|| s(f, "abs_path")).or_else(|| s(f, "module")).unwrap_or("?")) }
                            " in " code.fn { (s(f, "function").unwrap_or("?")) }
                            @if let Some(l) = f.get("lineno").and_then(Value::as_u64) { " at line " (l) }
                            @if let Some(c) = f.get("colno").and_then(Value::as_u64) { ", column " (c) }
                            @if let Some(map) = f.get("data").filter(|d| d.get("symbolicated").and_then(Value::as_bool) == Some(true)) {
                                " " span.mapped title={ "mapped through the source map " (s(map, "sourcemap").unwrap_or("")) @if let Some(m) = s(map, "minified_function") { " (minified function " (m) ")" } } { "source map" }
                            }
                        }
                        (context_lines(f))
                        @if let Some(vars) = f.get("vars").filter(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
                            (kv_table(vars, &[]))
                        }
                    }
                }
            }
        }
    }
}

/// The frames as the SDK sent them, before source maps mapped them (`raw_stacktrace`).
fn minified_frames(ex: &Value) -> Markup {
    let Some(raw) = ex.get("raw_stacktrace") else {
        return html! {};
    };
    html! {
        details.minified {
            summary.small { "Minified frames (as sent)" }
            (stacktrace(&serde_json::json!({ "stacktrace": raw })))
        }
    }
}

/// Why some frames stayed minified: source maps missing or malformed (the event's
/// `errors` of type `js_invalid_source_map`).
fn source_map_errors(p: &Value) -> Markup {
    let errors: Vec<&Value> = p
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| s(e, "type") == Some("js_invalid_source_map"))
        .collect();
    if errors.is_empty() {
        return html! {};
    }
    html! {
        div.source-map-errors {
            p.small { strong { "Source maps not applied:" } }
            ul.small {
                @for e in errors { li { code { (s(e, "url").unwrap_or("?")) } ": " (s(e, "reason").unwrap_or("")) } }
            }
        }
    }
}

fn context_lines(f: &Value) -> Markup {
    let lines = |k: &str| -> Vec<String> {
        f.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default()
    };
    let Some(current) = s(f, "context_line") else {
        return html! {};
    };
    let pre = lines("pre_context");
    let post = lines("post_context");
    let lineno = f.get("lineno").and_then(Value::as_i64).unwrap_or(0);
    let first = lineno - pre.len() as i64;
    html! {
        pre.context {
            @for (i, l) in pre.iter().enumerate() { span.ln { (format!("{:>5} ", first + i as i64)) } (l) "\n" }
            span.current { span.ln { (format!("{lineno:>5} ")) } (current) } "\n"
            @for (i, l) in post.iter().enumerate() { span.ln { (format!("{:>5} ", lineno + 1 + i as i64)) } (l) "\n" }
        }
    }
}

fn breadcrumbs(p: &Value) -> Markup {
    let crumbs = pharos_ingest::sentry::grouping::values_of(p.get("breadcrumbs"));
    if crumbs.is_empty() {
        return html! {};
    }
    html! {
        h3 { "Breadcrumbs" }
        table.crumbs {
            thead { tr { th { "Time" } th { "Category" } th { "Level" } th { "Message / data" } } }
            tbody {
                @for c in crumbs.iter().rev().take(100) {
                    tr {
                        td.small { (c.get("timestamp").and_then(pharos_ingest::sentry::event::parse_timestamp).map(|t| t.format("%H:%M:%S%.3f").to_string()).unwrap_or_default()) }
                        td { (s(c, "category").or_else(|| s(c, "type")).unwrap_or("")) }
                        td { (s(c, "level").unwrap_or("info")) }
                        td {
                            (s(c, "message").unwrap_or(""))
                            @if let Some(d) = c.get("data").filter(|d| d.as_object().is_some_and(|o| !o.is_empty())) { div.small.muted { code { (d.to_string()) } } }
                        }
                    }
                }
            }
        }
    }
}

fn kv_table(v: &Value, skip: &[&str]) -> Markup {
    match v.as_object() {
        Some(o) => html! {
            table.kv {
                @for (k, val) in o.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
                    tr { td { (k) } td { code { (text(val)) } } }
                }
            }
        },
        None => html! { code { (text(v)) } },
    }
}
