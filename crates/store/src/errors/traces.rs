//! What the error store holds for one trace id: the error events (with their issues), the
//! transactions and the spans, so a log line carrying a trace id leads to them.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::ErrorStore;
use super::performance::{SPAN_COLUMNS, StoredSpan};
use crate::{Result, from_ms};

/// Most rows of each kind a trace lookup returns.
const LIMIT: i64 = 200;

#[derive(Clone, Debug, Serialize)]
pub struct TraceEvent {
    pub project_id: i64,
    pub event_id: String,
    pub issue_id: i64,
    pub title: String,
    pub level: String,
    pub timestamp: DateTime<Utc>,
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
    /// Every project's spans of the trace, oldest first.
    pub spans: Vec<StoredSpan>,
}

impl ErrorStore {
    /// Error events, transactions and spans of `trace_id` (32 hex digits, any case), oldest first.
    pub fn trace(&self, trace_id: &str) -> Result<TraceRefs> {
        let trace_id = trace_id.to_ascii_lowercase();
        self.read(|c| {
            let events = c
                .prepare_cached(
                    "SELECT e.project_id, e.event_id, e.issue_id, i.title, e.level, e.timestamp
                     FROM events e JOIN issues i ON i.id = e.issue_id
                     WHERE e.trace_id = ?1 ORDER BY e.timestamp LIMIT ?2",
                )?
                .query_map(params![trace_id, LIMIT], |r| {
                    Ok(TraceEvent {
                        project_id: r.get(0)?,
                        event_id: r.get(1)?,
                        issue_id: r.get(2)?,
                        title: r.get(3)?,
                        level: r.get(4)?,
                        timestamp: from_ms(r.get(5)?),
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
            let spans = c
                .prepare_cached(&format!(
                    "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = ?1 ORDER BY start_us LIMIT ?2"
                ))?
                .query_map(params![trace_id, LIMIT], StoredSpan::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(TraceRefs {
                events,
                transactions,
                spans,
            })
        })
    }
}
