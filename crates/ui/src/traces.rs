//! `/traces/{trace_id}`: one trace as one waterfall across services — every project's spans
//! as a tree (a span whose parent did not report is a root), the trace's error events and
//! log lines (the last 30 days) placed under the span they happened in, and a summary of
//! the services involved with links to their transactions. The layout is
//! `pharos_app::traces`, the same the API answers; the drawing is `crate::waterfall`.
//! `/logs/trace/{trace_id}`, where log lines linked before, is the same page.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pharos_app::traces::TraceView;
use pharos_app::traces::{RowItem, TraceService, Waterfall, WaterfallRow};
use pharos_logs::StoredLog;
use pharos_store::errors::{MAX_TRACE_SPANS, StoredSpan, TraceEvent};

use crate::issues::level_badge;
use crate::layout::{self, Nav, millis};
use crate::logs::entry::{around, level_class};
use crate::waterfall::{self, Row, RowKind, Timing};
use crate::{error_page, guard};
use pharos_web::SharedState;

/// Characters of a log line's first line shown in its row.
const LINE_CHARS: usize = 160;

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
    let trace = match state.trace(&trace_id).await {
        Ok(t) => t,
        Err(e) => return error_page(e, signed_in),
    };
    let w = trace.waterfall();
    let body = html! {
        h1 { "Trace " code { (trace.trace_id) } }
        (summary(&trace, &w))
        @if w.spans_cut {
            div.warn-box #trace-cut { "This trace has more than " (MAX_TRACE_SPANS) " spans: the first " (MAX_TRACE_SPANS) " are shown." }
        }
        @if w.rows.is_empty() {
            p.muted #trace-empty { "Nothing of this trace is stored: no span, error event or log line (log lines of the last 30 days are looked for)." }
        } @else {
            h2 { "Waterfall" }
            div #trace-waterfall data-testid="trace-waterfall" {
                (waterfall::table(w.duration_ms, &rows(&trace, &w)))
            }
        }
        p.small.muted {
            a href={ "/logs?q=" (url::form_urlencoded::byte_serialize(format!("trace_id={}", trace.trace_id).as_bytes()).collect::<String>()) "&range=30d" } { "Search the log lines of this trace" }
            " · "
            a href={ "/api/v1/traces/" (trace.trace_id) } { "JSON" }
        }
    };
    layout::page("Trace", Nav::Performance, signed_in, body).into_response()
}

/// Trace id, start, duration, the services with their counts and transactions, the errors.
fn summary(trace: &TraceView, w: &Waterfall) -> Markup {
    let refs = &trace.errors;
    html! {
        table.kv #trace-summary {
            tbody {
                tr { td { "Start (UTC)" } td { @match w.start { Some(s) => (s.format("%Y-%m-%d %H:%M:%S%.3f")), None => "–" } } }
                tr { td { "Duration" } td { (millis(Some(w.duration_ms))) } }
                tr { td { "Spans" } td { (refs.spans.len()) } }
                tr { td { "Errors" } td #trace-error-count { (refs.events.len()) } }
                tr { td { "Log lines" } td { (trace.lines.len()) } }
                tr {
                    td { "Services" }
                    td {
                        ul.trace-services {
                            @for s in &w.services { (service(s)) }
                        }
                    }
                }
            }
        }
    }
}

fn service(s: &TraceService) -> Markup {
    html! {
        li data-service=(s.name) {
            strong { (s.name) }
            " · " (s.spans) " span" @if s.spans != 1 { "s" }
            @if s.errors > 0 { " · " strong.failed { (s.errors) " error" @if s.errors != 1 { "s" } } }
            @for t in &s.transactions {
                " · " a href=(transaction_link(s.project_id, t)) { (t) }
            }
        }
    }
}

fn transaction_link(project_id: i64, name: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("project", &project_id.to_string());
    q.append_pair("period", "30d");
    q.append_pair("name", name);
    format!("/transactions?{}", q.finish())
}

fn rows(trace: &TraceView, w: &Waterfall) -> Vec<Row> {
    w.rows
        .iter()
        .map(|r| match r.item {
            RowItem::Span(i) => span_row(r, &trace.errors.spans[i]),
            RowItem::Event(i) => event_row(r, &trace.errors.events[i]),
            RowItem::Log(i) => log_row(r, &trace.lines[i]),
        })
        .collect()
}

fn span_row(r: &WaterfallRow, s: &StoredSpan) -> Row {
    Row {
        depth: r.depth,
        service: Some(r.service.clone()),
        label: html! {
            @if let Some(op) = &s.op { span.tag { (op) } " " }
            @if s.is_segment {
                a href=(transaction_link(s.project_id, &s.name)) data-span-id=(s.span_id) { (s.name) }
            } @else {
                span data-span-id=(s.span_id) { (s.name) }
            }
        },
        status: Some(s.status.clone()),
        timing: Timing::Bar {
            offset_ms: r.offset_ms,
            duration_ms: s.duration_ms,
        },
        kind: RowKind::Span,
    }
}

fn event_row(r: &WaterfallRow, e: &TraceEvent) -> Row {
    Row {
        depth: r.depth,
        service: Some(r.service.clone()),
        label: html! {
            (level_badge(&e.level)) " "
            a href={ "/issues/" (e.issue_id) } data-event-id=(e.event_id) { (e.title) }
        },
        status: None,
        timing: Timing::Mark {
            offset_ms: r.offset_ms,
        },
        kind: RowKind::Error,
    }
}

fn log_row(r: &WaterfallRow, l: &StoredLog) -> Row {
    let e = &l.entry;
    let first = e.message.lines().next().unwrap_or("");
    let short: String = first.chars().take(LINE_CHARS).collect();
    Row {
        depth: r.depth,
        service: Some(r.service.clone()),
        label: html! {
            span class={ "level " (level_class(e.level)) } { (e.level.map_or("log", |l| l.as_str())) } " "
            a href=(around(e.time.timestamp_millis(), &e.service)) data-log-id=(l.id) title="The lines around it" { (short) @if short.len() < e.message.len() { "…" } }
        },
        status: None,
        timing: Timing::Mark {
            offset_ms: r.offset_ms,
        },
        kind: RowKind::Log,
    }
}
