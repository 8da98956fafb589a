//! `/oncall`: who is on call now in each schedule (and until when), the rotation for the
//! coming weeks with overrides applied, and the overrides still to come.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::guard;
use super::layout::{self, Nav};
use pharos_web::SharedState;

const WEEKS: i64 = 6;

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let schedules = state.on_call(WEEKS);
    let body = html! {
        h1 { "On call" }
        @if schedules.is_empty() {
            p.muted { "No on-call schedules. Add an " code { "oncall:" } " section to pharos.yaml and use " code { "oncall:<name>" } " in an escalation step." }
        }
        @for s in &schedules {
            section.oncall data-schedule=(s.name) {
                h2 { (s.name) " " span.muted.small { "(" (s.timezone) ")" } }
                div.cards {
                    div.card {
                        div.label { "On call now" }
                        div.value data-current=(s.current.person) { (s.current.person) }
                        div.small.muted {
                            @if s.current.overridden { "override, " }
                            "until " (local(&s.next_handoff, &s.timezone))
                        }
                        @if !s.receivers.is_empty() { div.small { "reached through " (s.receivers.join(", ")) } }
                    }
                }
                h3 { "Next " (WEEKS) " weeks" }
                table {
                    thead { tr { th { "From" } th { "Until" } th { "Person" } th { "" } } }
                    tbody {
                        @for shift in &s.upcoming {
                            tr {
                                td { (local(&shift.from, &s.timezone)) }
                                td { (local(&shift.until, &s.timezone)) }
                                td { (shift.person) }
                                td { @if shift.overridden { span.tag { "override" } } }
                            }
                        }
                    }
                }
                @if !s.overrides.is_empty() {
                    h3 { "Overrides" }
                    ul {
                        @for o in &s.overrides {
                            li { (o.person) ": " (local(&o.from, &s.timezone)) " – " (local(&o.to, &s.timezone)) }
                        }
                    }
                }
                p.small.muted { "Rotation: " (s.people.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" → ")) }
            }
        }
    };
    layout::page("On call", Nav::OnCall, signed_in, body).into_response()
}

/// A time in the schedule's zone, as the people in it read it.
fn local(t: &chrono::DateTime<chrono::Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(z) => t
            .with_timezone(&z)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => t.format("%a %Y-%m-%d %H:%M UTC").to_string(),
    }
}
