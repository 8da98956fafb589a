//! One trace as one waterfall: every project's spans of a trace ordered as a tree
//! (children under their parent, siblings by start; a span whose parent is not in the trace
//! is a root), with the trace's error events and log lines placed under the span they
//! happened in, or among the roots in time order when no span is known. Read by the trace
//! page and `GET /api/v1/traces/{id}` from the [`TraceView`] that [`App::trace`]
//! assembles; pure, so what the page draws is what the API answers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pharos_store::errors::{StoredSpan, TraceRefs};
use serde::Serialize;
use serde_json::Value;

use crate::{App, AppError};

/// How far back a trace's log lines are looked for.
const TRACE_LOG_WINDOW_DAYS: i64 = 30;

/// Everything Pharos holds for one trace.
pub struct TraceView {
    pub trace_id: String,
    pub errors: TraceRefs,
    pub lines: Vec<pharos_logs::StoredLog>,
}

impl App {
    /// The error events, transactions and log lines of one trace, so a log line's trace id
    /// leads to the error it belongs to, and back.
    pub async fn trace(&self, trace_id: &str) -> Result<TraceView, AppError> {
        let trace_id = trace_id.trim().to_ascii_lowercase();
        if trace_id.len() != 32 || !trace_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::Invalid {
                field: Some("trace_id".into()),
                message: "a trace id is 32 hexadecimal digits".into(),
            });
        }
        let id = trace_id.clone();
        let errors = self.with_store(move |s| s.errors().trace(&id)).await?;
        let lines = match &self.logs {
            Some(_) => {
                let now = chrono::Utc::now();
                let req = pharos_logs::SearchRequest {
                    query: crate::logs::parse_query(Some(&format!("trace_id={trace_id}")))?,
                    range: pharos_logs::TimeRange {
                        start: now - chrono::Duration::days(TRACE_LOG_WINDOW_DAYS),
                        end: now + chrono::Duration::hours(1),
                    },
                    limit: 200,
                    cursor: None,
                };
                self.search_logs(req).await?.entries
            }
            None => Vec::new(),
        };
        Ok(TraceView {
            trace_id,
            errors,
            lines,
        })
    }
}

/// The span attribute naming the service that sent a span (OpenTelemetry's resource
/// attribute); without it a span's service is its project.
pub const SERVICE_ATTRIBUTE: &str = "service.name";

/// A trace laid out for drawing.
#[derive(Clone, Debug, Serialize)]
pub struct Waterfall {
    /// The earliest span's start (without spans: the earliest event or line).
    pub start: Option<DateTime<Utc>>,
    /// From `start` to the end of the last span to end.
    pub duration_ms: f64,
    /// Spans, error events and log lines in the order drawn.
    pub rows: Vec<WaterfallRow>,
    /// The services involved, in the order they first appear.
    pub services: Vec<TraceService>,
    /// Whether the trace has more spans than the store returned.
    pub spans_cut: bool,
}

/// One row: a span (by its index in [`TraceRefs::spans`]), an error event (in
/// [`TraceRefs::events`]) or a log line (in [`TraceView::lines`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "index", rename_all = "lowercase")]
pub enum RowItem {
    Span(usize),
    Event(usize),
    Log(usize),
}

#[derive(Clone, Debug, Serialize)]
pub struct WaterfallRow {
    #[serde(flatten)]
    pub item: RowItem,
    /// How many spans it is nested under.
    pub depth: usize,
    /// From the waterfall's start to this row's start (or time, for an event or a line).
    pub offset_ms: f64,
    /// A span's duration; none for an event or a line.
    pub duration_ms: Option<f64>,
    /// The span the row is placed under, if any.
    pub parent_span_id: Option<String>,
    /// Which service it belongs to (a key of [`Waterfall::services`]).
    pub service: String,
}

/// One service of the trace.
#[derive(Clone, Debug, Serialize)]
pub struct TraceService {
    /// `service.name` of its spans, else its project's name.
    pub name: String,
    pub project_id: i64,
    pub spans: usize,
    pub errors: usize,
    /// The names of its transactions (segments) in this trace, for links to their pages.
    pub transactions: Vec<String>,
}

/// Where a row goes before ordering: under a span, or among the roots.
#[derive(Clone, Copy)]
struct Placed {
    at: DateTime<Utc>,
    item: RowItem,
}

impl TraceView {
    /// The trace as one waterfall across services.
    pub fn waterfall(&self) -> Waterfall {
        waterfall(&self.errors, &self.lines)
    }
}

/// A span's service: its `service.name` attribute, else its project's name.
pub fn span_service(span: &StoredSpan, refs: &TraceRefs) -> String {
    match span
        .attributes
        .get(SERVICE_ATTRIBUTE)
        .and_then(Value::as_str)
    {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => project_name(span.project_id, refs),
    }
}

fn project_name(id: i64, refs: &TraceRefs) -> String {
    refs.projects
        .get(&id)
        .cloned()
        .unwrap_or_else(|| format!("project {id}"))
}

/// The span a log line was written in: `span_id` as JSON lines and OTLP carry it, or the
/// Sentry SDK's `sentry.trace.parent_span_id` attribute.
pub fn log_span_id(line: &pharos_logs::StoredLog) -> Option<String> {
    ["span_id", "spanId", "sentry.trace.parent_span_id"]
        .iter()
        .find_map(|k| line.entry.fields.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
}

fn waterfall(refs: &TraceRefs, lines: &[pharos_logs::StoredLog]) -> Waterfall {
    let spans = &refs.spans;
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.span_id.as_str()).or_insert(i);
    }
    let find = |id: Option<&str>| id.and_then(|p| by_id.get(p).copied());
    let mut children: Vec<Vec<Placed>> = vec![Vec::new(); spans.len()];
    let mut roots: Vec<Placed> = Vec::new();
    let mut place = |parent: Option<usize>, p: Placed| match parent {
        Some(i) => children[i].push(p),
        None => roots.push(p),
    };
    for (i, s) in spans.iter().enumerate() {
        let parent = find(s.parent_span_id.as_deref()).filter(|p| *p != i);
        place(
            parent,
            Placed {
                at: s.start,
                item: RowItem::Span(i),
            },
        );
    }
    for (i, e) in refs.events.iter().enumerate() {
        place(
            find(e.span_id.as_deref()),
            Placed {
                at: e.timestamp,
                item: RowItem::Event(i),
            },
        );
    }
    for (i, l) in lines.iter().enumerate() {
        place(
            find(log_span_id(l).as_deref()),
            Placed {
                at: l.entry.time,
                item: RowItem::Log(i),
            },
        );
    }
    // Stable: at the same time a span comes before an event, an event before a line.
    let order = |v: &mut Vec<Placed>| v.sort_by_key(|p| p.at);
    order(&mut roots);
    children.iter_mut().for_each(order);

    let start = spans
        .iter()
        .map(|s| s.start)
        .min()
        .or_else(|| refs.events.iter().map(|e| e.timestamp).min())
        .or_else(|| lines.iter().map(|l| l.entry.time).min());
    let end_ms = |s: &StoredSpan| {
        start.map_or(0.0, |st| micros(s.start - st) / 1000.0) + s.duration_ms.max(0.0)
    };
    let duration_ms = spans.iter().map(end_ms).fold(0.0, f64::max);
    let offset = |at: DateTime<Utc>| start.map_or(0.0, |st| micros(at - st) / 1000.0);

    // Depth first from the roots; a span in a cycle of parents (never a root) is drawn
    // from where the cycle is first met.
    let mut rows = Vec::with_capacity(roots.len() + spans.len());
    let mut seen = vec![false; spans.len()];
    let mut stack: Vec<(Placed, usize, Option<usize>)> =
        roots.iter().rev().map(|p| (*p, 0, None)).collect();
    let mut next_unseen = 0;
    loop {
        let Some((p, depth, parent)) = stack.pop() else {
            while next_unseen < spans.len() && seen[next_unseen] {
                next_unseen += 1;
            }
            if next_unseen == spans.len() {
                break;
            }
            let i = next_unseen;
            stack.push((
                Placed {
                    at: spans[i].start,
                    item: RowItem::Span(i),
                },
                0,
                None,
            ));
            continue;
        };
        let parent_span = parent.map(|i: usize| &spans[i]);
        let (service, duration) = match p.item {
            RowItem::Span(i) => {
                if seen[i] {
                    continue;
                }
                seen[i] = true;
                stack.extend(children[i].iter().rev().map(|c| (*c, depth + 1, Some(i))));
                (span_service(&spans[i], refs), Some(spans[i].duration_ms))
            }
            RowItem::Event(i) => (
                parent_span.map_or_else(
                    || project_name(refs.events[i].project_id, refs),
                    |s| span_service(s, refs),
                ),
                None,
            ),
            RowItem::Log(i) => (
                parent_span
                    .map_or_else(|| lines[i].entry.service.clone(), |s| span_service(s, refs)),
                None,
            ),
        };
        rows.push(WaterfallRow {
            item: p.item,
            depth,
            offset_ms: offset(p.at),
            duration_ms: duration,
            parent_span_id: parent_span.map(|s| s.span_id.clone()),
            service,
        });
    }
    Waterfall {
        start,
        duration_ms,
        services: services(refs, &rows),
        rows,
        spans_cut: refs.spans_cut,
    }
}

fn micros(d: chrono::TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(0) as f64
}

/// The services of the rows' spans and events, in the order they first appear, with their
/// counts and transactions.
fn services(refs: &TraceRefs, rows: &[WaterfallRow]) -> Vec<TraceService> {
    let mut out: Vec<TraceService> = Vec::new();
    for row in rows {
        let project_id = match row.item {
            RowItem::Span(i) => refs.spans[i].project_id,
            RowItem::Event(i) => refs.events[i].project_id,
            RowItem::Log(_) => continue,
        };
        let at = match out
            .iter()
            .position(|s| s.name == row.service && s.project_id == project_id)
        {
            Some(at) => at,
            None => {
                out.push(TraceService {
                    name: row.service.clone(),
                    project_id,
                    spans: 0,
                    errors: 0,
                    transactions: Vec::new(),
                });
                out.len() - 1
            }
        };
        let service = &mut out[at];
        match row.item {
            RowItem::Span(i) => {
                service.spans += 1;
                let span = &refs.spans[i];
                if span.is_segment && !service.transactions.contains(&span.name) {
                    service.transactions.push(span.name.clone());
                }
            }
            RowItem::Event(_) => service.errors += 1,
            RowItem::Log(_) => {}
        }
    }
    // A transaction stored before the span store has no segment span.
    for t in &refs.transactions {
        let service = out
            .iter_mut()
            .find(|s| s.project_id == t.project_id && s.transactions.contains(&t.name));
        if service.is_some() {
            continue;
        }
        match out.iter_mut().find(|s| s.project_id == t.project_id) {
            Some(s) => s.transactions.push(t.name.clone()),
            None => out.push(TraceService {
                name: project_name(t.project_id, refs),
                project_id: t.project_id,
                spans: 0,
                errors: 0,
                transactions: vec![t.name.clone()],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_logs::StoredLog;
    use pharos_model::{LogEntry, LogSource};
    use pharos_store::errors::TraceEvent;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn span(project_id: i64, id: &str, parent: Option<&str>, start_ms: i64, ms: f64) -> StoredSpan {
        StoredSpan {
            project_id,
            trace_id: "5b8efff798038103d269b633813fc60c".into(),
            span_id: id.into(),
            parent_span_id: parent.map(String::from),
            segment_id: None,
            is_segment: parent.is_none(),
            name: format!("span {id}"),
            op: None,
            status: "ok".into(),
            start: at(start_ms),
            duration_ms: ms,
            environment: None,
            release: None,
            attributes: Value::Null,
        }
    }

    fn line(id: &str, span_id: Option<&str>, ms: i64) -> StoredLog {
        let mut entry = LogEntry::new("worker", LogSource::Http, at(ms), format!("line {id}"));
        if let Some(s) = span_id {
            entry
                .fields
                .insert("span_id".into(), Value::String(s.into()));
        }
        StoredLog {
            id: id.into(),
            entry,
        }
    }

    fn order(w: &Waterfall) -> Vec<(RowItem, usize)> {
        w.rows.iter().map(|r| (r.item, r.depth)).collect()
    }

    #[test]
    fn spans_of_two_services_make_one_tree_with_errors_and_lines_under_their_span() {
        let mut otel = span(8, "c1", Some("a2"), 30, 20.0);
        otel.attributes = serde_json::json!({"service.name": "billing-api"});
        let refs = TraceRefs {
            spans: vec![
                span(7, "a1", None, 0, 100.0),
                span(7, "a2", Some("a1"), 10, 60.0),
                span(7, "a3", Some("a1"), 20, 5.0),
                otel,
                // Its parent never reported: a root.
                span(9, "d1", Some("ffffffffffffffff"), 5, 300.0),
            ],
            events: vec![TraceEvent {
                project_id: 8,
                event_id: "e".into(),
                issue_id: 1,
                title: "card declined".into(),
                level: "error".into(),
                timestamp: at(40),
                span_id: Some("c1".into()),
            }],
            projects: [(7, "shop".to_string()), (8, "billing".into())].into(),
            ..TraceRefs::default()
        };
        let lines = vec![line("l1", Some("a2"), 12), line("l2", None, 200)];
        let w = waterfall(&refs, &lines);
        use RowItem::*;
        assert_eq!(
            order(&w),
            [
                (Span(0), 0),
                (Span(1), 1),
                (Log(0), 2),
                (Span(3), 2),
                (Event(0), 3),
                (Span(2), 1),
                (Span(4), 0),
                (Log(1), 0),
            ]
        );
        assert_eq!(w.duration_ms, 305.0);
        assert_eq!(w.start, Some(at(0)));
        assert_eq!(w.rows[3].offset_ms, 30.0);
        assert_eq!(w.rows[4].service, "billing-api");
        assert_eq!(w.rows[4].parent_span_id.as_deref(), Some("c1"));
        let services: Vec<(&str, usize, usize, &[String])> = w
            .services
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.spans,
                    s.errors,
                    s.transactions.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            services,
            [
                ("shop", 3, 0, &["span a1".to_string()][..]),
                ("billing-api", 1, 1, &[][..]),
                ("project 9", 1, 0, &[][..]),
            ]
        );
    }

    #[test]
    fn spans_whose_parents_form_a_cycle_are_still_drawn_once() {
        let refs = TraceRefs {
            spans: vec![
                span(7, "a", Some("b"), 0, 1.0),
                span(7, "b", Some("a"), 1, 1.0),
            ],
            ..TraceRefs::default()
        };
        let w = waterfall(&refs, &[]);
        assert_eq!(order(&w), [(RowItem::Span(0), 0), (RowItem::Span(1), 1)]);
    }
}
