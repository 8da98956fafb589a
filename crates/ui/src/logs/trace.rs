//! `/logs/trace/{trace_id}`: where a log line's trace id leads — the error events of the
//! trace with their issues, its transactions and spans, and every log line carrying it (the last
//! 30 days), read from the error store and the log store.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pharos_logs::{LogQuery, SearchRequest, StoredLog};
use pharos_store::errors::{StoredSpan, TraceEvent, TraceTransaction};

use super::{View, entry, utc};
use crate::issues::level_badge;
use crate::layout::{self, Nav, millis};
use crate::time_range::{self, TimeRange};
use crate::{error_page, guard};
use pharos_web::SharedState;

/// How far back the trace's log lines are looked for; the API's lookup uses the same.
const LOG_RANGE: &str = "30d";
const MAX_LINES: usize = 200;

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(trace_id): Path<String>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let trace_id = trace_id.trim().to_ascii_lowercase();
    if trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return error_page(
            pharos_web::api::ApiError::bad_request("a trace id is 32 hexadecimal digits"),
            signed_in,
        );
    }
    let id = trace_id.clone();
    let refs = match state.with_store(move |s| s.errors().trace(&id)).await {
        Ok(r) => r,
        Err(e) => return error_page(e, signed_in),
    };
    let query = format!("trace_id={trace_id}");
    let now = chrono::Utc::now().timestamp_millis();
    let (range, _) = time_range::from_params(Some(LOG_RANGE), None, None, LOG_RANGE, now);
    let lines = log_lines(&state, &query, &range).await;
    let view = View {
        query: &query,
        range: &range,
        by: None,
    };
    let body = html! {
        h1 { "Trace " code { (trace_id) } }
        h2 { "Errors" }
        (error_events(&refs.events))
        h2 { "Transactions" }
        (transactions(&refs.transactions))
        h2 { "Spans" }
        (spans(&refs.spans))
        h2 { "Log lines" }
        (log_list(&lines, &view))
    };
    layout::page("Trace", Nav::Logs, signed_in, body).into_response()
}

/// The newest lines carrying the trace id, or why there are none to show.
async fn log_lines(
    state: &SharedState,
    query: &str,
    range: &TimeRange,
) -> Result<Vec<StoredLog>, String> {
    match (&state.logs, LogQuery::parse(query)) {
        (Some(logs), Ok(q)) => {
            let store = logs.store.clone();
            let req = SearchRequest {
                query: q,
                range: pharos_logs::TimeRange::new(utc(range.start_ms), utc(range.end_ms)),
                limit: MAX_LINES,
                cursor: None,
            };
            tokio::task::spawn_blocking(move || store.search(&req))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(|p| p.entries)
        }
        (None, _) => Err("logs are turned off".to_string()),
        (_, Err(e)) => Err(e.to_string()),
    }
}

fn error_events(events: &[TraceEvent]) -> Markup {
    html! {
        @if events.is_empty() {
            p.muted #trace-no-events { "No error event of this trace." }
        } @else {
            table.results.compact data-testid="trace-events" {
                thead { tr { th { "Issue" } th { "Time (UTC)" } } }
                tbody {
                    @for e in events {
                        tr {
                            td { (level_badge(&e.level)) a href={ "/issues/" (e.issue_id) } { (e.title) } }
                            td { (e.timestamp.format("%Y-%m-%d %H:%M:%S")) }
                        }
                    }
                }
            }
        }
    }
}

fn transactions(transactions: &[TraceTransaction]) -> Markup {
    html! {
        @if transactions.is_empty() {
            p.muted { "No transaction of this trace." }
        } @else {
            table.results.compact data-testid="trace-transactions" {
                thead { tr { th { "Transaction" } th { "Status" } th.num { "Duration" } th { "Start (UTC)" } } }
                tbody {
                    @for t in transactions {
                        @let href = format!("/transactions?project={}&name={}", t.project_id, super::super::metrics::encode(&t.name));
                        tr {
                            td { a href=(href) { (t.name) } @if let Some(op) = &t.op { " " span.tag { (op) } } }
                            td { (t.status) }
                            td.num { (millis(Some(t.duration_ms))) }
                            td { (t.start.format("%Y-%m-%d %H:%M:%S")) }
                        }
                    }
                }
            }
        }
    }
}

/// Every span of the trace, oldest first, indented under its parent as far as the spans
/// listed here show it.
fn spans(spans: &[StoredSpan]) -> Markup {
    let depth = |s: &StoredSpan| {
        let mut d = 0;
        let mut parent = s.parent_span_id.as_deref();
        while let Some(p) = parent.filter(|_| d < 16) {
            match spans.iter().find(|x| x.span_id == p) {
                Some(up) => {
                    d += 1;
                    parent = up.parent_span_id.as_deref();
                }
                None => break,
            }
        }
        d
    };
    html! {
        @if spans.is_empty() {
            p.muted { "No span of this trace." }
        } @else {
            table.results.compact data-testid="trace-spans" {
                thead { tr { th { "Span" } th { "Status" } th.num { "Duration" } th { "Start (UTC)" } } }
                tbody {
                    @for s in spans {
                        tr {
                            td style={ "padding-left:" (depth(s)) "em" } { @if let Some(op) = &s.op { span.tag { (op) } " " } (s.name) }
                            td { (s.status) }
                            td.num { (millis(Some(s.duration_ms))) }
                            td { (s.start.format("%Y-%m-%d %H:%M:%S%.3f")) }
                        }
                    }
                }
            }
        }
    }
}

fn log_list(lines: &Result<Vec<StoredLog>, String>, view: &View) -> Markup {
    html! {
        @match lines {
            Ok(entries) if entries.is_empty() => { p.muted { "No log line of this trace in the last " (LOG_RANGE) "." } }
            Ok(entries) => {
                p.small.muted { a href=(view.search(view.query)) { "Search them" } " · newest first · times in UTC" }
                ol.log-list #log-results {
                    @for s in entries { (entry::entry(s, view, true)) }
                }
            }
            Err(e) => { p.muted { "No log lines: " (e) } }
        }
    }
}
