//! `/incidents`: the incident history (open, acknowledged, resolved; text search) and
//! each incident's page — timeline, alerts with labels and values, the runbook beside it,
//! acknowledge / resolve / note forms and the post-mortem draft — and `/ack/<token>`, the
//! page a signed link in a notification opens: it needs no sign-in and acknowledges only
//! when its button is pressed (a POST), so link-preview bots fetching it change nothing.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use maud::{Markup, PreEscaped, html};
use pharos_app::{AppError, Caller};
use pharos_model::{Alert, AlertState};
use pharos_notify::incidents::postmortem::human_duration;
use pharos_notify::incidents::{IncidentDetail, Runbook, TimelineEntry};
use pharos_store::{IncidentRecord, IncidentState};
use serde::Deserialize;

use super::layout::{self, Nav, ago};
use super::{error_page, guard, may_post};
use pharos_app::incidents::ListParams;
use pharos_web::SharedState;

fn state_badge(s: IncidentState) -> Markup {
    // The alert badges' colours: open is firing red, acknowledged amber, resolved green.
    let class = match s {
        IncidentState::Open => "firing",
        IncidentState::Acknowledged => "pending",
        IncidentState::Resolved => "resolved",
    };
    html! { span class={ "badge " (class) } data-state=(s.as_str()) { (layout::capitalized(s.as_str())) } }
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
    let params = q.map(|q| q.0).unwrap_or_default();
    let (query, page, per_page) = match params.to_query() {
        Ok(q) => q,
        Err(e) => return error_page(e, signed_in),
    };
    let (incidents, total) = match state.search_incidents(query).await {
        Ok(r) => r,
        Err(e) => return error_page(e, signed_in),
    };
    let current_state = params.state.clone().unwrap_or_default();
    let text = params.q.clone().unwrap_or_default();
    let link = |state_filter: &str, page: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !state_filter.is_empty() {
            q.append_pair("state", state_filter);
        }
        if !text.is_empty() {
            q.append_pair("q", &text);
        }
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        format!("/incidents?{}", q.finish())
    };
    let now = Utc::now();
    let body = html! {
        h1 { "Incidents" }
        div.counts {
            @for (label, value) in [("All", ""), ("Open", "open"), ("Acknowledged", "acknowledged"), ("Resolved", "resolved")] {
                a href=(link(value, 1)) class=[(current_state == value).then_some("active")] { (label) }
            }
            a href="/oncall" { "On call" }
        }
        form.search method="get" action="/incidents" {
            @if !current_state.is_empty() { input type="hidden" name="state" value=(current_state); }
            input type="search" name="q" value=(text) placeholder="Search alert names, labels, notes (e.g. database service=api)";
            label.inline { "From " input.utc type="text" name="from" value=(params.from.clone().unwrap_or_default()) placeholder="YYYY-MM-DD" pattern="\\d{4}-\\d{2}-\\d{2}" size="10"; }
            label.inline { "To " input.utc type="text" name="to" value=(params.to.clone().unwrap_or_default()) placeholder="YYYY-MM-DD" pattern="\\d{4}-\\d{2}-\\d{2}" size="10"; }
            button.primary type="submit" { "Search" }
        }
        @if incidents.is_empty() {
            p.muted { "No incidents. An incident opens when a group of firing alerts is first notified." }
        } @else {
            table {
                thead { tr { th { "#" } th { "Incident" } th { "State" } th { "Severity" } th { "Opened" } th { "Age" } th { "Acknowledged by" } th.num { "Alerts" } } }
                tbody {
                    @for i in &incidents {
                        tr data-incident=(i.id) {
                            td { (i.id) }
                            td.issue-title { a href={ "/incidents/" (i.id) } { (i.title) } }
                            td { (state_badge(i.state)) }
                            td { (crate::severity::tag(&i.severity)) }
                            td { (ago(Some(i.opened_at))) }
                            td { (human_duration(i.resolved_at.unwrap_or(now) - i.opened_at)) }
                            td { (i.acknowledged_by.as_deref().unwrap_or("–")) }
                            td.num { (i.alerts.iter().filter(|a| a.state == AlertState::Firing).count()) " / " (i.alerts.len()) }
                        }
                    }
                }
            }
            div.pager {
                @if page > 1 { a href=(link(&current_state, page - 1)) { "← Newer" } " " }
                span.muted { (total) " incident(s)" }
                @if page * per_page < total { " " a href=(link(&current_state, page + 1)) { "Older →" } }
            }
        }
    };
    layout::page("Incidents", Nav::Incidents, signed_in, body).into_response()
}

/// Markdown as HTML with raw HTML shown as text and links only to web and mail
/// addresses, so a runbook cannot run script in the page.
pub fn render_markdown(text: &str) -> Markup {
    use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
    let safe_url = |u: &CowStr<'_>| -> bool {
        crate::links::safe_href(u).is_some() || u.trim().to_ascii_lowercase().starts_with("mailto:")
    };
    let parser = Parser::new_ext(
        text,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS,
    )
    .map(|event| match event {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::Borrowed("#"),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url) => Event::Start(Tag::Image {
            link_type,
            dest_url: CowStr::Borrowed("#"),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, parser);
    PreEscaped(out)
}

fn runbook_box(rb: &Runbook) -> Markup {
    match rb {
        Runbook::Link { alertname, url } => html! {
            div.card.runbook {
                div.label { "Runbook for " (alertname) }
                p { @match crate::links::safe_href(url) {
                    Some(href) => { a href=(href) rel="noopener noreferrer" target="_blank" { (url) } },
                    None => { code { (url) } },
                } }
            }
        },
        Runbook::Markdown {
            alertname,
            path,
            markdown,
        } => html! {
            div.card.runbook data-runbook=(alertname) {
                div.label { "Runbook for " (alertname) " " span.muted.small { "(" (path) ")" } }
                div.markdown { (render_markdown(markdown)) }
            }
        },
    }
}

/// What the visitor may do on an incident's page: change it at all (editors and admins),
/// and whether to ask their name (a token acts for someone; a person is themselves).
struct Acting {
    may_change: bool,
    asks_name: bool,
}

impl Acting {
    fn of(caller: &Caller) -> Acting {
        Acting {
            may_change: may_post(caller, "/incidents/{id}/ack"),
            asks_name: !caller.is_person(),
        }
    }
}

fn incident_body(d: &IncidentDetail, acting: &Acting) -> Markup {
    let i = &d.incident;
    let now = Utc::now();
    html! {
        p.small { a href="/incidents" { "← Incidents" } }
        h1 { "#" (i.id) " " (i.title) }
        div.actions {
            (state_badge(i.state)) (crate::severity::tag(&i.severity))
            span.muted { "opened " (ago(Some(i.opened_at))) ", " (human_duration(i.resolved_at.unwrap_or(now) - i.opened_at)) " long" }
        }
        div.issue-grid.incident-grid {
            div {
                @if acting.may_change {
                    (actions_form(i, acting))
                }
                (facts(d))
                h2 { "Alerts" }
                (alert_table(&i.alerts))
                h2 { "Timeline" }
                (timeline(&d.timeline))
                p { a.button href={ "/incidents/" (i.id) "/postmortem" } { "Post-mortem draft" } }
            }
            aside {
                h2 { "Runbook" }
                @if d.runbooks.is_empty() {
                    p.muted { "No runbook for these alerts. Add a " code { "runbook_url" } " annotation, or map the alert name to a Markdown file under " code { "runbooks:" } " (or " code { "runbooks_dir:" } ") in pharos.yaml." }
                }
                @for rb in &d.runbooks { (runbook_box(rb)) }
            }
        }
    }
}

/// Acknowledge (while open), resolve (until resolved) and add a note: one form, so whoever
/// acts with a credential that is not a person's is asked their name once; each button
/// posts to its own action.
fn actions_form(i: &IncidentRecord, acting: &Acting) -> Markup {
    let base = format!("/incidents/{}", i.id);
    html! {
        form.stack #incident-actions method="post" action={ (base) "/notes" } {
            @if acting.asks_name {
                label { "Your name" input type="text" name="by" autocomplete="name" required; }
            }
            @if i.state != IncidentState::Resolved {
                div.actions {
                    @if i.state == IncidentState::Open {
                        button.primary type="submit" formaction={ (base) "/ack" } { "Acknowledge" }
                    }
                    button.secondary type="submit" formaction={ (base) "/resolve" } { "Resolve" }
                }
            }
            label { "Note" textarea name="text" rows="3" placeholder="What you found or did" {} }
            div { button.secondary type="submit" { "Add note" } }
        }
    }
}

/// Group, receiver, escalation, and who acknowledged and resolved it how long after opening.
fn facts(d: &IncidentDetail) -> Markup {
    let i = &d.incident;
    html! {
        dl.kv {
            dt { "Group" } dd { span title=(i.group_key) { (crate::alerts::readable_group_key(&i.group_key)) } }
            dt { "Notified" } dd { (i.receiver) }
            @if let Some(p) = &i.escalation { dt { "Escalation policy" } dd { (p) } }
            @if let Some(n) = &d.next_escalation {
                dt { "Next escalation" } dd { "level " (n.level) " (" (n.receivers.join(", ")) ") " (format_at(n.at)) " unless acknowledged" }
            }
            @if let Some(at) = i.acknowledged_at {
                dt { "Acknowledged" } dd { (i.acknowledged_by.as_deref().unwrap_or("")) ", " (human_duration(at - i.opened_at)) " after opening" }
            }
            @if let Some(at) = i.resolved_at {
                dt { "Resolved" } dd { (i.resolved_by.as_deref().unwrap_or("automatically")) ", " (human_duration(at - i.opened_at)) " after opening" }
            }
        }
    }
}

fn alert_table(alerts: &[Alert]) -> Markup {
    html! {
        table {
            thead { tr { th { "Alert" } th { "State" } th { "Labels" } th { "Annotations" } th { "Started" } } }
            tbody {
                @for a in alerts {
                    tr {
                        td { @match crate::links::safe_href(&a.generator_url).filter(|u| !u.is_empty()) { Some(u) => { a href=(u) { (a.name()) } }, None => { (a.name()) } } }
                        td { span class={ "badge " (a.state.as_str()) } { (layout::capitalized(a.state.as_str())) } }
                        td { @for (k, v) in &a.labels { @if k != "alertname" { span.tag { (k) "=" (v) } " " } } }
                        td.small { @for (k, v) in &a.annotations { div { strong { (k) } ": " (v) } } }
                        td { (ago(Some(a.starts_at))) }
                    }
                }
            }
        }
    }
}

fn timeline(entries: &[TimelineEntry]) -> Markup {
    html! {
        table.timeline {
            tbody {
                @for e in entries {
                    tr data-kind=(e.kind) {
                        td.small.muted { (e.at.format("%Y-%m-%d %H:%M:%S")) }
                        td { span.tag { (e.kind) } }
                        td {
                            @if e.kind == "note" { strong { (e.actor.as_deref().unwrap_or("")) ": " } }
                            (e.text)
                        }
                    }
                }
            }
        }
    }
}

fn format_at(t: chrono::DateTime<Utc>) -> String {
    t.format("at %H:%M:%S UTC").to_string()
}

fn parse_id(id: &str, signed_in: bool) -> Result<i64, Box<Response>> {
    id.parse().map_err(|_| {
        Box::new(error_page(
            pharos_web::api::ApiError::not_found(format!("incident {id}")),
            signed_in,
        ))
    })
}

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = match parse_id(&id, signed_in) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    match state.incident(id).await {
        Ok(d) => layout::page(
            &d.incident.title.clone(),
            Nav::Incidents,
            signed_in,
            incident_body(&d, &Acting::of(&caller)),
        )
        .into_response(),
        Err(e) => error_page(e, signed_in),
    }
}

#[derive(Deserialize, Default)]
pub struct ActionForm {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    text: String,
}

enum Action {
    Ack,
    Resolve,
    Note,
}

async fn act(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    state: SharedState,
    uri: Uri,
    id: String,
    form: ActionForm,
    action: Action,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    let id = match parse_id(&id, true) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let result = match action {
        Action::Ack => state
            .acknowledge_incident(&caller, id, form.by.as_deref())
            .await
            .map(|_| ()),
        Action::Resolve => state
            .resolve_incident(&caller, id, form.by.as_deref())
            .await
            .map(|_| ()),
        Action::Note => state
            .add_incident_note(&caller, id, form.by.as_deref(), &form.text)
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(e) => error_page(e, true),
    }
}

pub async fn acknowledge(
    visitor: pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    act(visitor, state, uri, id, form, Action::Ack).await
}

pub async fn resolve(
    visitor: pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    act(visitor, state, uri, id, form, Action::Resolve).await
}

pub async fn add_note(
    visitor: pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    act(visitor, state, uri, id, form, Action::Note).await
}

pub async fn postmortem(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = match parse_id(&id, signed_in) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    match state.incident_postmortem(id).await {
        Ok(text) => layout::page(
            "Post-mortem draft",
            Nav::Incidents,
            signed_in,
            html! {
                p.small { a href={ "/incidents/" (id) } { "← Incident #" (id) } }
                h1 { "Post-mortem draft" }
                p.muted { "Written from the incident's timeline. Copy the Markdown, or " a href={ "/api/v1/incidents/" (id) "/postmortem" } { "download it" } "." }
                textarea.postmortem readonly rows="30" style="width:100%; font-family:monospace" { (text) }
                h2 { "Preview" }
                div.card.markdown { (render_markdown(&text)) }
            },
        )
        .into_response(),
        Err(e) => error_page(e, signed_in),
    }
}

/// Pages behind a signed link are not to be indexed or kept by caches.
fn private(resp: Response) -> Response {
    let mut resp = resp;
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        "x-robots-tag",
        header::HeaderValue::from_static("noindex, nofollow"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn link_error(e: AppError, signed_in: bool) -> Response {
    let status = pharos_web::api::status_of(&e);
    let message = e.to_string();
    let body = layout::page(
        "Acknowledge",
        Nav::None,
        signed_in,
        html! { h1 { "Cannot acknowledge" } div.error-box { (message) } },
    );
    private((status, body).into_response())
}

fn ack_page(i: &IncidentRecord, token: &str, signed_in: bool, done: bool) -> Markup {
    layout::page(
        "Acknowledge",
        Nav::None,
        signed_in,
        html! {
            h1 { "#" (i.id) " " (i.title) }
            div.actions { (state_badge(i.state)) (crate::severity::tag(&i.severity)) span.muted { "opened " (ago(Some(i.opened_at))) } }
            @match i.state {
                IncidentState::Open => {
                    form.stack method="post" action={ "/ack/" (token) } {
                        label { "Your name (optional)" input type="text" name="by" autocomplete="name"; }
                        button.primary type="submit" { "Acknowledge incident" }
                    }
                    p.muted.small { "Acknowledging stops further escalation. Opening this page alone changes nothing." }
                }
                IncidentState::Acknowledged => {
                    div.banner.ok { @if done { "Acknowledged. " } "Acknowledged by " (i.acknowledged_by.as_deref().unwrap_or("someone")) "." }
                }
                IncidentState::Resolved => { div.banner.ok { "This incident is resolved." } }
            }
            ul.small {
                @for a in &i.alerts {
                    li { span class={ "badge " (a.state.as_str()) } { (layout::capitalized(a.state.as_str())) } " " (a.name()) " "
                        @for (k, v) in &a.labels { @if k != "alertname" { span.tag { (k) "=" (v) } " " } } }
                }
            }
            @if signed_in { p { a href={ "/incidents/" (i.id) } { "Open the incident" } } }
        },
    )
}

/// `GET /ack/<token>`: shows what the link acknowledges and a button; changes nothing.
pub async fn ack_form(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path(token): Path<String>,
) -> Response {
    let signed_in = caller.is_signed_in();
    match state.incident_for_link(&token).await {
        Ok(i) => private(ack_page(&i, &token, signed_in, false).into_response()),
        Err(e) => link_error(e, signed_in),
    }
}

/// `POST /ack/<token>`: the signature is the credential, so no sign-in is needed.
pub async fn ack_submit(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    Path(token): Path<String>,
    Form(form): Form<ActionForm>,
) -> Response {
    let signed_in = caller.is_signed_in();
    let by = form.by.as_deref().filter(|b| !b.trim().is_empty());
    match state.acknowledge_incident_by_link(&token, by).await {
        Ok(i) => private(ack_page(&i, &token, signed_in, true).into_response()),
        Err(e) => link_error(e, signed_in),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_without_raw_html_or_script_links() {
        let html = render_markdown(
            "# Runbook\n\n1. Check `systemctl status postgresql`\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [ok](https://example.com) <b>bold</b>",
        )
        .into_string();
        assert!(html.contains("<h1>Runbook</h1>"), "{html}");
        assert!(
            html.contains("<code>systemctl status postgresql</code>"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(!html.contains("<b>"), "{html}");
    }

    #[test]
    fn a_javascript_generator_url_is_not_a_link() {
        let alert = |url: &str| -> Alert {
            serde_json::from_value(serde_json::json!({
                "fingerprint": "f",
                "labels": {"alertname": "Pwned"},
                "annotations": {},
                "state": "firing",
                "starts_at": "2026-01-01T00:00:00Z",
                "ends_at": null,
                "generator_url": url,
                "updated_at": "2026-01-01T00:00:00Z",
            }))
            .unwrap()
        };
        let html = alert_table(&[alert("javascript:alert(document.cookie)")]).into_string();
        assert!(!html.contains("href"), "{html}");
        assert!(html.contains("Pwned"), "{html}");
        let html = alert_table(&[alert("http://prometheus:9090/graph?g0.expr=up")]).into_string();
        assert!(
            html.contains("href=\"http://prometheus:9090/graph"),
            "{html}"
        );
    }
}
