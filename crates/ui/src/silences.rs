//! `/silences`: silences active, pending and expired; a form to make one (matchers in
//! Alertmanager's syntax, a duration or an end, comment, author, and optionally a daily
//! window that makes it recurring), prefilled from an alert's labels when linked from
//! the alerts page; and a button to expire one.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use pharos_app::Caller;
use pharos_app::alerting::{Silence, SilenceState, parse_matchers};
use pharos_model::series::MatchOp;
use pharos_store::{SilenceMatcher, SilenceRecord};
use serde::Deserialize;
use serde_json::json;

use super::layout::{self, Nav, ago};
use super::{guard, may_post};
use pharos_web::SharedState;

#[derive(Deserialize, Default)]
pub struct Prefill {
    /// `{alertname="X", job="y"}`, from an alert's "Silence" link.
    #[serde(default)]
    matchers: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct NewSilence {
    #[serde(default)]
    matchers: String,
    /// `2h`, `1d`; used when `ends` is empty.
    #[serde(default)]
    duration: String,
    /// `YYYY-MM-DD HH:MM` in UTC.
    #[serde(default)]
    ends: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    created_by: String,
    /// A daily window (`02:00`–`03:00`) in `timezone` makes the silence recurring.
    #[serde(default)]
    daily_from: String,
    #[serde(default)]
    daily_to: String,
    #[serde(default)]
    timezone: String,
}

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    q: Result<Query<Prefill>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let prefill = q.map(|q| q.0).unwrap_or_default();
    let form = NewSilence {
        matchers: prefill.matchers.unwrap_or_default(),
        duration: "2h".into(),
        ..NewSilence::default()
    };
    render(&state, &caller, signed_in, &form, None)
}

fn render(
    state: &SharedState,
    caller: &Caller,
    signed_in: bool,
    form: &NewSilence,
    error: Option<&str>,
) -> Response {
    let may_create = may_post(caller, "/silences");
    let may_expire = may_post(caller, "/silences/{id}/expire");
    // A person signed in is the author; a token's holder says who they are.
    let asks_author = !caller.is_person();
    let (now, silences) = state.silences();
    let of = |want: SilenceState| -> Vec<&Silence> {
        let mut v: Vec<&Silence> = silences.iter().filter(|s| s.state(now) == want).collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.record.updated_at));
        v
    };
    let body = html! {
        h1 { "Silences" }
        p.muted { "A silence mutes the alerts its matchers select: they are still listed on the alerts page, marked silenced, but not notified. Alertmanager's API and amtool see the same silences." }
        @if let Some(e) = error { div.error-box #silence-error role="alert" { (e) } }
        @if may_create {
            h2 { "New silence" }
            form.stack.silence method="post" action="/silences" {
                label { "Matchers" span.hint { "Alertmanager's syntax, comma separated" } input type="text" name="matchers" required value=(form.matchers) placeholder=r#"alertname="BackupFailed", job=~"db.*""#; }
                label { "For" span.hint { "a duration such as 2h or 1d" } input type="text" name="duration" value=(form.duration); }
                label { "or until (UTC)" span.hint { "instead of a duration" } (crate::time_range::utc_input("ends", &form.ends, "UTC, as 2026-12-07 14:00")) }
                label { "Comment" input type="text" name="comment" required value=(form.comment); }
                @if asks_author {
                    label { "Author" input type="text" name="created_by" required value=(form.created_by); }
                }
                fieldset {
                    legend { "Recurring (optional): only during this daily window" }
                    label { "From" input type="time" name="daily_from" value=(form.daily_from); }
                    label { "To" input type="time" name="daily_to" value=(form.daily_to); }
                    label { "Time zone" input type="text" name="timezone" placeholder="Europe/Berlin" value=(form.timezone); }
                }
                div { button.primary type="submit" { "Create silence" } }
            }
        }
        @for (title, want) in [("Active", SilenceState::Active), ("Pending", SilenceState::Pending), ("Expired", SilenceState::Expired)] {
            h2 { (title) }
            @let list = of(want);
            @if list.is_empty() { p.muted { "None." } } @else { (table(&list, now, may_expire)) }
        }
    };
    layout::page("Silences", Nav::Silences, signed_in, body).into_response()
}

fn matcher_text(m: &SilenceMatcher) -> String {
    let op = match (m.is_regex, m.is_equal) {
        (false, true) => "=",
        (false, false) => "!=",
        (true, true) => "=~",
        (true, false) => "!~",
    };
    format!("{}{}{:?}", m.name, op, m.value)
}

fn table(list: &[&Silence], now: DateTime<Utc>, may_expire: bool) -> Markup {
    html! {
        table.silences {
            thead { tr { th { "Matchers" } th { "Starts" } th { "Ends" } th { "Comment" } th { "By" } th {} } }
            tbody { @for s in list { tr data-silence=(s.record.id) {
                td.small {
                    @for m in &s.record.matchers { code { (matcher_text(m)) } " " }
                    @if s.is_recurring() { span.badge { "recurring" } }
                }
                td.small { (ago(Some(s.record.starts_at))) }
                td.small { (s.record.ends_at.format("%Y-%m-%d %H:%M UTC")) }
                td.small { (s.record.comment) }
                td.small { (s.record.created_by) }
                td { @if may_expire && s.state(now) != SilenceState::Expired {
                    form method="post" action={ "/silences/" (s.record.id) "/expire" } { button.danger type="submit" { "Expire" } }
                } }
            } } }
        }
    }
}

fn record_from(form: &NewSilence, now: DateTime<Utc>) -> Result<SilenceRecord, String> {
    let mut matchers = Vec::new();
    for m in parse_matchers(&form.matchers).map_err(|e| e.to_string())? {
        matchers.push(SilenceMatcher {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: matches!(m.op, MatchOp::Regex | MatchOp::NotRegex),
            is_equal: matches!(m.op, MatchOp::Equal | MatchOp::Regex),
        });
    }
    let ends_at = if form.ends.trim().is_empty() {
        let d: pharos_model::HumanDuration = form
            .duration
            .parse()
            .map_err(|e| format!("duration: {e}"))?;
        now + chrono::Duration::from_std(d.as_duration()).map_err(|e| format!("duration: {e}"))?
    } else {
        crate::time_range::parse_utc_input(&form.ends).ok_or_else(|| {
            "until: expected a date and time in UTC, such as 2026-12-07 14:00".to_string()
        })?
    };
    let time_intervals = match (form.daily_from.trim(), form.daily_to.trim()) {
        ("", "") => None,
        (from, to) => {
            let mut interval = json!({"times": [{"start_time": from, "end_time": to}]});
            if !form.timezone.trim().is_empty() {
                interval["location"] = json!(form.timezone.trim());
            }
            Some(json!([interval]))
        }
    };
    Ok(SilenceRecord {
        id: String::new(),
        matchers,
        starts_at: now,
        ends_at,
        updated_at: now,
        created_by: form.created_by.trim().to_string(),
        comment: form.comment.trim().to_string(),
        time_intervals,
    })
}

pub async fn create(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Form(mut form): Form<NewSilence>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    if let Caller::User { name, .. } = &caller {
        form.created_by = name.clone();
    }
    if form.comment.trim().is_empty() || form.created_by.trim().is_empty() {
        return render(
            &state,
            &caller,
            true,
            &form,
            Some("A silence needs a comment and an author."),
        );
    }
    let record = match record_from(&form, state.alerting.now()) {
        Ok(r) => r,
        Err(e) => return render(&state, &caller, true, &form, Some(&e)),
    };
    match state.put_silence(&caller, record).await {
        Ok(_) => Redirect::to("/silences").into_response(),
        Err(e) => render(&state, &caller, true, &form, Some(&e.to_string())),
    }
}

pub async fn expire(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    match state.expire_silence(&caller, &id).await {
        Ok(()) => Redirect::to("/silences").into_response(),
        Err(e) => render(
            &state,
            &caller,
            true,
            &NewSilence::default(),
            Some(&e.to_string()),
        ),
    }
}
