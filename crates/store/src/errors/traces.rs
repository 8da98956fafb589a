//! What the error store holds for one trace id: the error events (with their issues and the
//! span each happened in), the transactions, every project's spans, and the names of the
//! projects involved, so one trace view can draw them as one waterfall across services.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::performance::{SPAN_COLUMNS, StoredSpan};
use super::{ErrorStore, decompress};
use crate::{Result, from_ms};

/// Most error events and transactions a trace lookup returns.
const LIMIT: i64 = 200;

/// Most spans a trace lookup returns (across every project); [`TraceRefs::spans_cut`] says
/// when the trace has more.
pub const MAX_TRACE_SPANS: usize = 1000;

#[derive(Clone, Debug, Serialize)]
pub struct TraceEvent {
    pub project_id: i64,
    pub event_id: String,
    pub issue_id: i64,
    pub title: String,
    pub level: String,
    pub timestamp: DateTime<Utc>,
    /// The span it happened in (`contexts.trace.span_id` of the stored event), when the SDK
    /// said and the payload is still kept.
    pub span_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TraceTransaction {
    pub project_id: i64,
    pub event_id: String,
    pub name: String,
    pub op: Option<String>,
    pub status: String,
    pub start: DateTime<Utc>,
    pub duration_ms: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TraceRefs {
    pub events: Vec<TraceEvent>,
    pub transactions: Vec<TraceTransaction>,
    /// Every project's spans of the trace, oldest first, at most [`MAX_TRACE_SPANS`].
    pub spans: Vec<StoredSpan>,
    /// Whether the trace has more spans than those listed (the newest were left out).
    pub spans_cut: bool,
    /// The name of each project the events, transactions and spans belong to.
    pub projects: BTreeMap<i64, String>,
}

impl ErrorStore {
    /// Error events, transactions and spans of `trace_id` (32 hex digits, any case), oldest first.
    pub fn trace(&self, trace_id: &str) -> Result<TraceRefs> {
        let trace_id = trace_id.to_ascii_lowercase();
        self.read(|c| {
            let events = c
                .prepare_cached(
                    "SELECT e.project_id, e.event_id, e.issue_id, i.title, e.level, e.timestamp, e.payload
                     FROM events e JOIN issues i ON i.id = e.issue_id
                     WHERE e.trace_id = ?1 ORDER BY e.timestamp LIMIT ?2",
                )?
                .query_map(params![trace_id, LIMIT], |r| {
                    let payload: Vec<u8> = r.get(6)?;
                    Ok(TraceEvent {
                        project_id: r.get(0)?,
                        event_id: r.get(1)?,
                        issue_id: r.get(2)?,
                        title: r.get(3)?,
                        level: r.get(4)?,
                        timestamp: from_ms(r.get(5)?),
                        span_id: event_span_id(&payload),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let transactions = c
                .prepare_cached(
                    "SELECT project_id, event_id, name, op, status, start, duration_ms
                     FROM transactions WHERE trace_id = ?1 ORDER BY start LIMIT ?2",
                )?
                .query_map(params![trace_id, LIMIT], |r| {
                    Ok(TraceTransaction {
                        project_id: r.get(0)?,
                        event_id: r.get(1)?,
                        name: r.get(2)?,
                        op: r.get(3)?,
                        status: r.get(4)?,
                        start: from_ms(r.get(5)?),
                        duration_ms: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut spans = c
                .prepare_cached(&format!(
                    "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = ?1 ORDER BY start_us LIMIT ?2"
                ))?
                .query_map(
                    params![trace_id, MAX_TRACE_SPANS as i64 + 1],
                    StoredSpan::from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let spans_cut = spans.len() > MAX_TRACE_SPANS;
            spans.truncate(MAX_TRACE_SPANS);
            let mut projects = BTreeMap::new();
            let ids = events
                .iter()
                .map(|e| e.project_id)
                .chain(transactions.iter().map(|t| t.project_id))
                .chain(spans.iter().map(|s| s.project_id));
            let mut name = c.prepare_cached("SELECT name FROM projects WHERE id = ?1")?;
            for id in ids {
                if let std::collections::btree_map::Entry::Vacant(v) = projects.entry(id) {
                    let n: Option<String> = name
                        .query_row(params![id], |r| r.get(0))
                        .map(Some)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            e => Err(e),
                        })?;
                    v.insert(n.unwrap_or_else(|| format!("project {id}")));
                }
            }
            Ok(TraceRefs {
                events,
                transactions,
                spans,
                spans_cut,
                projects,
            })
        })
    }
}

/// `contexts.trace.span_id` of a stored event payload; `None` when the SDK sent none or the
/// payload cannot be read.
fn event_span_id(payload: &[u8]) -> Option<String> {
    let event = decompress(payload).ok()?;
    let id = event.pointer("/contexts/trace/span_id")?.as_str()?;
    (!id.is_empty()).then(|| id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use pharos_ingest::sentry::{Envelope, Scrubber, process_envelope};
    use pharos_model::project::ProjectSpec;
    use pharos_model::sentry::Record;

    use crate::errors::IngestBatch;

    const TRACE: &str = "5b8efff798038103d269b633813fc60c";

    fn records(envelope: &str) -> Vec<Record> {
        let env = Envelope::parse(envelope.as_bytes()).unwrap();
        let p = process_envelope(&env, &Scrubber::default(), Default::default(), Utc::now());
        assert!(p.invalid.is_empty(), "{:?}", p.invalid);
        p.records
    }

    fn item(kind: &str, body: serde_json::Value) -> String {
        format!("{{}}\n{{\"type\":\"{kind}\"}}\n{body}\n")
    }

    #[test]
    fn a_trace_has_the_spans_of_every_project_and_the_span_each_error_happened_in() {
        let (store, _dir) = crate::temp_store();
        let errors = store.errors();
        let specs: Vec<ProjectSpec> = serde_json::from_str(
            r#"[{"id": 7, "name": "shop", "keys": ["abcdef0123456789"]},
                {"id": 8, "name": "billing", "keys": ["0123456789abcdef"]}]"#,
        )
        .unwrap();
        errors.sync_config_projects(&specs, Utc::now()).unwrap();
        let start = Utc::now() - Duration::seconds(5);
        let at = |ms: i64| (start + Duration::milliseconds(ms)).timestamp_millis() as f64 / 1000.0;
        // A 2.x transaction event in `shop`: the segment and one child span.
        let transaction = item(
            "transaction",
            serde_json::json!({
                "event_id": "0000000000000000000000000000000a", "type": "transaction",
                "transaction": "POST /checkout", "start_timestamp": at(0), "timestamp": at(100),
                "contexts": {"trace": {"trace_id": TRACE, "span_id": "a000000000000001", "op": "http.server", "status": "ok"}},
                "spans": [{"trace_id": TRACE, "span_id": "a000000000000002", "parent_span_id": "a000000000000001",
                           "op": "http.client", "description": "POST billing/charge",
                           "start_timestamp": at(10), "timestamp": at(80)}]
            }),
        );
        // `billing`'s streamed segment, a child of shop's client span, and its error.
        let span = format!(
            "{{}}\n{{\"type\":\"span\",\"content_type\":\"application/vnd.sentry.items.span.v2+json\"}}\n{}\n",
            serde_json::json!({"version": 2, "items": [{
                "trace_id": TRACE, "span_id": "b000000000000001", "parent_span_id": "a000000000000002",
                "name": "POST /charge", "status": "error", "is_segment": true,
                "start_timestamp": at(20), "end_timestamp": at(70)}]})
        );
        let error = item(
            "event",
            serde_json::json!({
                "event_id": "0000000000000000000000000000000b", "level": "error",
                "timestamp": at(60), "message": "card declined",
                "contexts": {"trace": {"trace_id": TRACE, "span_id": "B000000000000001"}}
            }),
        );
        let now = Utc::now();
        errors
            .ingest_now(IngestBatch::new(7, now, records(&transaction)))
            .unwrap();
        let mut billing = records(&span);
        billing.extend(records(&error));
        errors
            .ingest_now(IngestBatch::new(8, now, billing))
            .unwrap();

        let t = errors.trace(&TRACE.to_ascii_uppercase()).unwrap();
        let spans: Vec<(i64, &str, Option<&str>)> = t
            .spans
            .iter()
            .map(|s| {
                (
                    s.project_id,
                    s.span_id.as_str(),
                    s.parent_span_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            spans,
            [
                (7, "a000000000000001", None),
                (7, "a000000000000002", Some("a000000000000001")),
                (8, "b000000000000001", Some("a000000000000002")),
            ],
            "oldest first, across projects"
        );
        assert!(!t.spans_cut);
        assert_eq!(t.transactions.len(), 2, "shop's and billing's segments");
        assert_eq!(t.events.len(), 1);
        assert_eq!(t.events[0].project_id, 8);
        assert_eq!(t.events[0].span_id.as_deref(), Some("b000000000000001"));
        assert_eq!(t.projects.get(&7).map(String::as_str), Some("shop"));
        assert_eq!(t.projects.get(&8).map(String::as_str), Some("billing"));
        assert!(errors.trace(&"f".repeat(32)).unwrap().spans.is_empty());
    }

    #[test]
    fn a_trace_with_more_spans_than_shown_says_so() {
        let (store, _dir) = crate::temp_store();
        let errors = store.errors();
        let specs: Vec<ProjectSpec> =
            serde_json::from_str(r#"[{"id": 7, "name": "shop", "keys": ["abcdef0123456789"]}]"#)
                .unwrap();
        errors.sync_config_projects(&specs, Utc::now()).unwrap();
        let start = Utc::now().timestamp() as f64;
        let spans = |from: usize, to: usize| {
            let items: Vec<serde_json::Value> = (from..to)
                .map(|i| {
                    serde_json::json!({"trace_id": TRACE, "span_id": format!("{i:016x}"),
                        "parent_span_id": "ffffffffffffffff", "name": "step", "status": "ok",
                        "is_segment": false, "start_timestamp": start + i as f64 / 1000.0,
                        "end_timestamp": start + i as f64 / 1000.0 + 0.0005})
                })
                .collect();
            format!(
                "{{}}\n{{\"type\":\"span\",\"content_type\":\"application/vnd.sentry.items.span.v2+json\"}}\n{}\n",
                serde_json::json!({"version": 2, "items": items})
            )
        };
        let now = Utc::now();
        for (from, to) in [(1, 1000), (1000, 1002)] {
            errors
                .ingest_now(IngestBatch::new(7, now, records(&spans(from, to))))
                .unwrap();
        }
        let t = errors.trace(TRACE).unwrap();
        assert_eq!(t.spans.len(), super::MAX_TRACE_SPANS);
        assert!(t.spans_cut);
        assert_eq!(
            t.spans[0].span_id,
            format!("{:016x}", 1),
            "the oldest are kept"
        );
    }
}
