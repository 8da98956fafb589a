//! Triage and feedback on the pages: the issue page's assignee, comment and merge forms,
//! its timeline and the feedback about its events; a project's feedback list. The forms
//! act through the same `App` operations as the JSON API, as the signed-in user.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use pharos_app::feedback::StoredFeedback;
use pharos_app::triage::{Activity, ActivityKind, AssignIssue, Assignee, MergeIssues, NewComment};
use pharos_store::errors::{IssueSummary, Page};
use serde::Deserialize;

use super::layout::{self, Nav, ago};
use super::links::safe_href;
use super::{error_page, guard};
use pharos_web::SharedState;

/// What the issue page shows of triage, read with the issue.
pub struct TriageData {
    pub users: Vec<Assignee>,
    pub activity: Vec<Activity>,
    pub feedback: Vec<StoredFeedback>,
    /// The visitor may assign, comment and merge (an editor): the forms are shown.
    pub may_triage: bool,
}

/// The assignee form, beside the status actions.
pub fn assignee_form(i: &IssueSummary, d: &TriageData) -> Markup {
    let (users, current) = (&d.users, i.assignee.as_ref().map(|a| a.name.as_str()));
    if !d.may_triage {
        return html! {};
    }
    html! {
        form.assign method="post" action={ "/issues/" (i.id) "/assign" } {
            label for="assignee" { "Assigned to " }
            select #assignee name="assignee" {
                option value="" selected[current.is_none()] { "nobody" }
                @for u in users {
                    option value=(u.name) selected[current == Some(u.name.as_str())] { (u.name) }
                }
            }
            button.secondary type="submit" { "Assign" }
        }
    }
}

/// The feedback about the issue, its timeline with the comment form, the merge form.
pub fn triage_section(i: &IssueSummary, d: &TriageData) -> Markup {
    html! {
        @if !d.feedback.is_empty() {
            section #feedback {
                h2 { "User feedback " span.muted.small { "(" (d.feedback.len()) ")" } }
                (feedback_list(&d.feedback, false))
            }
        }
        section #activity {
            h2 { "Activity" }
            @if d.activity.is_empty() { p.small.muted { "Nothing yet." } }
            ol.timeline {
                @for a in &d.activity {
                    li data-kind=(a.kind.as_str()) {
                        span.small.muted { (ago(Some(a.at))) " · " } strong { (a.actor) } " " (activity_text(a))
                    }
                }
            }
            @if d.may_triage {
                form.comment method="post" action={ "/issues/" (i.id) "/comment" } {
                    textarea name="text" rows="3" required maxlength="10000" aria-label="Comment" placeholder="Add a comment" {}
                    button.primary type="submit" { "Comment" }
                }
                details.merge {
                    summary { "Merge another issue into this one" }
                    form method="post" action={ "/issues/" (i.id) "/merge" } {
                        label for="merge" { "Issue number " }
                        input #merge type="number" name="merge" min="1" required;
                        button.secondary type="submit" { "Merge into #" (i.id) }
                        p.small.muted { "Its events and counts move here, and its future events land here too." }
                    }
                }
            }
        }
    }
}

fn activity_text(a: &Activity) -> Markup {
    let body = a.body.as_deref().unwrap_or("");
    match a.kind {
        ActivityKind::Comment => html! { "commented:" div.comment { (body) } },
        ActivityKind::Assigned => html! { "assigned it to " strong { (body) } },
        ActivityKind::Unassigned => html! { "unassigned it" },
        ActivityKind::Merged => html! { "merged issue " (body) " into this one" },
        ActivityKind::StatusChanged => html! { "marked it " (body) },
    }
}

/// Feedback as a list; `with_issue` links each to its issue (the project's list).
pub fn feedback_list(items: &[StoredFeedback], with_issue: bool) -> Markup {
    html! {
        ul.feedback {
            @for f in items {
                li.feedback-item data-feedback=(f.feedback_id) {
                    blockquote { (f.message) }
                    div.small.muted {
                        (f.name.as_deref().unwrap_or("anonymous"))
                        @if let Some(e) = &f.email { " · " a href={ "mailto:" (e) } { (e) } }
                        " · " (ago(Some(f.received)))
                        @if let Some(env) = &f.environment { " · " (env) }
                        @if let Some(u) = f.url.as_deref().and_then(safe_href) { " · " a href=(u) rel="noopener noreferrer" { "page" } }
                        @if with_issue {
                            @if let Some(issue) = f.issue_id { " · " a href={ "/issues/" (issue) } { "issue #" (issue) } }
                        }
                        " · " (f.source)
                        @for a in &f.attachments {
                            " · " a href={ "/api/v1/attachments/" (a.id) } { (a.filename) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    assignee: String,
}

pub async fn assign(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
    Form(f): Form<AssignForm>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let a = AssignIssue {
        assignee: Some(f.assignee).filter(|n| !n.is_empty()),
    };
    match state.assign_issue(&caller, id, &a).await {
        Ok(_) => Redirect::to(&format!("/issues/{id}#activity")).into_response(),
        Err(e) => error_page(e, true),
    }
}

#[derive(Deserialize)]
pub struct CommentForm {
    text: String,
}

pub async fn comment(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
    Form(f): Form<CommentForm>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    match state
        .comment_on_issue(&caller, id, &NewComment { text: f.text })
        .await
    {
        Ok(_) => Redirect::to(&format!("/issues/{id}#activity")).into_response(),
        Err(e) => error_page(e, true),
    }
}

#[derive(Deserialize)]
pub struct MergeForm {
    merge: i64,
}

pub async fn merge(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
    Form(f): Form<MergeForm>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    match state
        .merge_issues(&caller, id, &MergeIssues { merge: f.merge })
        .await
    {
        Ok(()) => Redirect::to(&format!("/issues/{id}#activity")).into_response(),
        Err(e) => error_page(e, true),
    }
}

#[derive(Deserialize, Default)]
pub struct FeedbackParams {
    #[serde(default)]
    page: Option<u32>,
}

/// `/projects/{id}/feedback`: what the project's users wrote, newest first.
pub async fn project_feedback(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<i64>,
    q: Result<Query<FeedbackParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let page_no = q.ok().and_then(|q| q.0.page);
    let project = match state.with_store(move |s| s.errors().project(id)).await {
        Ok(p) => p,
        Err(e) => return error_page(e, signed_in),
    };
    let page = match state.project_feedback(id, page_no, Some(50)).await {
        Ok(p) => p,
        Err(e) => return error_page(e, signed_in),
    };
    let body = html! {
        p.small { a href={ "/projects/" (id) } { "← " (project.name) } }
        h1 { "User feedback" span.small.muted { " · " (project.name) } }
        @if page.items.is_empty() {
            p.muted #no-feedback { "No feedback yet. SDKs send it with the feedback widget or "
                code { "captureFeedback" } ", or as user reports." }
        } @else {
            (feedback_list(&page.items, true))
            (pager(id, &page))
        }
    };
    layout::page("User feedback", Nav::Projects, signed_in, body).into_response()
}

fn pager(project: i64, page: &Page<StoredFeedback>) -> Markup {
    let pages = page.total.div_ceil(page.per_page as u64).max(1) as u32;
    html! {
        div.pager {
            @if page.page > 1 { a href={ "/projects/" (project) "/feedback?page=" (page.page - 1) } { "← Newer" } }
            span.muted { "Page " (page.page) " of " (pages) " · " (page.total) " feedback" }
            @if page.page < pages { a href={ "/projects/" (project) "/feedback?page=" (page.page + 1) } { "Older →" } }
        }
    }
}
