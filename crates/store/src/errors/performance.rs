//! Performance data and release health: transactions summarised by name (throughput,
//! percentiles, failure rate, slowest samples with their spans from the span store),
//! crash-free sessions by release, and what SDKs report having dropped.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::{ErrorStore, decompress};
use crate::{Result, from_ms, ms};

#[derive(Clone, Debug, Serialize)]
pub struct TransactionSummary {
    pub project_id: i64,
    pub name: String,
    pub op: Option<String>,
    pub count: u64,
    pub failures: u64,
    pub failure_rate: f64,
    /// Transactions per minute over the window.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TransactionSample {
    pub event_id: String,
    pub start: DateTime<Utc>,
    pub duration_ms: f64,
    pub status: String,
    pub release: Option<String>,
    pub environment: Option<String>,
    pub trace_id: Option<String>,
    /// Its segment span's id (none for a transaction stored before the span store).
    pub span_id: Option<String>,
    /// The stored transaction (for a transaction event: with its spans; for a segment
    /// span: that span as sent).
    pub payload: serde_json::Value,
    /// Its child spans from the span store, oldest first, those that arrived after it
    /// included.
    pub spans: Vec<StoredSpan>,
}

/// A span as the span store keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct StoredSpan {
    pub project_id: i64,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub segment_id: Option<String>,
    pub is_segment: bool,
    pub name: String,
    pub op: Option<String>,
    pub status: String,
    pub start: DateTime<Utc>,
    pub duration_ms: f64,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub attributes: serde_json::Value,
}

/// The columns [`StoredSpan::from_row`] reads, in its order.
pub(super) const SPAN_COLUMNS: &str = "project_id, trace_id, span_id, parent_span_id, segment_id, is_segment, name, op, status, start_us, duration_ms, environment, release, attributes";

/// Most spans a waterfall shows: the SDK sends at most 1,000 per segment.
pub const MAX_WATERFALL_SPANS: u32 = 1000;

impl StoredSpan {
    pub(super) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSpan> {
        let start_us: i64 = r.get(9)?;
        let attributes: String = r.get(13)?;
        Ok(StoredSpan {
            project_id: r.get(0)?,
            trace_id: r.get(1)?,
            span_id: r.get(2)?,
            parent_span_id: r.get(3)?,
            segment_id: r.get(4)?,
            is_segment: r.get(5)?,
            name: r.get(6)?,
            op: r.get(7)?,
            status: r.get(8)?,
            start: DateTime::from_timestamp_micros(start_us).unwrap_or_default(),
            duration_ms: r.get(10)?,
            environment: r.get(11)?,
            release: r.get(12)?,
            attributes: serde_json::from_str(&attributes).unwrap_or(serde_json::Value::Null),
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ReleaseHealth {
    pub release: String,
    pub sessions: i64,
    pub crashed: i64,
    pub errored: i64,
    pub abnormal: i64,
    /// Share of sessions that did not crash (Sentry's "crash free sessions").
    pub crash_free_rate: Option<f64>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClientReportRow {
    pub day: DateTime<Utc>,
    pub reason: String,
    pub category: String,
    pub quantity: i64,
}

/// An attachment as listed: (id, filename, content type, size).
pub type AttachmentRow = (i64, String, Option<String>, i64);

/// The nearest-rank percentile of sorted values (the method Sentry's p95 uses).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl ErrorStore {
    /// Transactions since `since`, grouped by project and name, busiest first.
    pub fn transaction_summaries(
        &self,
        project: Option<i64>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactionSummary>> {
        let minutes = ((now - since).num_seconds() as f64 / 60.0).max(1.0);
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT project_id, name, op, status, duration_ms FROM transactions WHERE start >= ?1 AND (?2 IS NULL OR project_id = ?2) ORDER BY project_id, name, duration_ms",
            )?;
            let mut rows = stmt.query(params![ms(since), project])?;
            let mut out: Vec<TransactionSummary> = Vec::new();
            let mut durations: Vec<f64> = Vec::new();
            let finish = |s: &mut TransactionSummary, d: &mut Vec<f64>| {
                s.p50_ms = percentile(d, 0.50);
                s.p95_ms = percentile(d, 0.95);
                s.p99_ms = percentile(d, 0.99);
                s.max_ms = d.last().copied().unwrap_or(0.0);
                s.failure_rate = s.failures as f64 / s.count.max(1) as f64;
                s.throughput = s.count as f64 / minutes;
                d.clear();
            };
            while let Some(r) = rows.next()? {
                let pid: i64 = r.get(0)?;
                let name: String = r.get(1)?;
                let status: String = r.get(3)?;
                if out.last().is_none_or(|s| s.project_id != pid || s.name != name) {
                    if let Some(last) = out.last_mut() {
                        finish(last, &mut durations);
                    }
                    out.push(TransactionSummary {
                        project_id: pid,
                        name,
                        op: r.get(2)?,
                        count: 0,
                        failures: 0,
                        failure_rate: 0.0,
                        throughput: 0.0,
                        p50_ms: 0.0,
                        p95_ms: 0.0,
                        p99_ms: 0.0,
                        max_ms: 0.0,
                    });
                }
                let s = out.last_mut().expect("pushed above");
                s.count += 1;
                if !matches!(status.as_str(), "ok" | "cancelled" | "unknown") {
                    s.failures += 1;
                }
                durations.push(r.get(4)?);
            }
            if let Some(last) = out.last_mut() {
                finish(last, &mut durations);
            }
            out.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
            Ok(out)
        })
    }

    /// The slowest transactions of one name since `since`, with their spans.
    pub fn slowest_transactions(
        &self,
        project: i64,
        name: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TransactionSample>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT event_id, start, duration_ms, status, release, environment, trace_id, payload, span_id FROM transactions WHERE project_id = ?1 AND name = ?2 AND start >= ?3 ORDER BY duration_ms DESC LIMIT ?4",
            )?;
            let rows = stmt
                .query_map(params![project, name, ms(since), limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, f64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Vec<u8>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(event_id, start, duration_ms, status, release, environment, trace_id, blob, span_id)| {
                    let spans = match (&trace_id, &span_id) {
                        (Some(t), Some(s)) => segment_spans(c, project, t, s)?,
                        _ => Vec::new(),
                    };
                    Ok(TransactionSample {
                        event_id,
                        start: from_ms(start),
                        duration_ms,
                        status,
                        release,
                        environment,
                        trace_id,
                        span_id,
                        payload: decompress(&blob)?,
                        spans,
                    })
                })
                .collect()
        })
    }

    /// The child spans of one segment, oldest first.
    pub fn segment_spans(
        &self,
        project: i64,
        trace_id: &str,
        segment_id: &str,
    ) -> Result<Vec<StoredSpan>> {
        self.read(|c| segment_spans(c, project, trace_id, segment_id))
    }

    /// Crash-free sessions per release of a project, newest release first.
    pub fn release_health(&self, project: i64, since: DateTime<Utc>) -> Result<Vec<ReleaseHealth>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT release, sum(total), sum(crashed), sum(errored), sum(abnormal), max(hour) FROM sessions WHERE project_id = ?1 AND hour >= ?2 GROUP BY release ORDER BY max(hour) DESC, release",
            )?;
            let rows = stmt
                .query_map(params![project, ms(since)], |r| {
                    let total: i64 = r.get(1)?;
                    let crashed: i64 = r.get(2)?;
                    Ok(ReleaseHealth {
                        release: r.get(0)?,
                        sessions: total,
                        crashed,
                        errored: r.get(3)?,
                        abnormal: r.get(4)?,
                        crash_free_rate: (total > 0)
                            .then(|| 1.0 - (crashed.min(total) as f64 / total as f64)),
                        last_seen: from_ms(r.get(5)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    pub fn client_reports(&self, project: i64) -> Result<Vec<ClientReportRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT day, reason, category, quantity FROM client_reports WHERE project_id = ?1 ORDER BY day DESC, quantity DESC LIMIT 200",
            )?;
            let rows = stmt
                .query_map([project], |r| {
                    Ok(ClientReportRow {
                        day: from_ms(r.get(0)?),
                        reason: r.get(1)?,
                        category: r.get(2)?,
                        quantity: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Logs that arrived in Sentry envelopes, newest first.
    pub fn sentry_logs(&self, project: i64, limit: u32) -> Result<Vec<serde_json::Value>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT payload FROM sentry_logs WHERE project_id = ?1 ORDER BY timestamp DESC, id DESC LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![project, limit], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows
                .into_iter()
                .filter_map(|s| serde_json::from_str(&s).ok())
                .collect())
        })
    }

    /// Attachments of an event: (id, filename, content type, size).
    pub fn attachments(&self, project: i64, event_id: &str) -> Result<Vec<AttachmentRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, filename, content_type, size FROM attachments WHERE project_id = ?1 AND event_id = ?2 ORDER BY id",
            )?;
            let rows = stmt
                .query_map(params![project, event_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    pub fn attachment(&self, id: i64) -> Result<(String, Option<String>, Vec<u8>)> {
        use rusqlite::OptionalExtension;
        self.read(|c| {
            c.query_row(
                "SELECT filename, content_type, data FROM attachments WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| crate::StoreError::NotFound(format!("attachment {id}")))
        })
    }
}

fn segment_spans(
    c: &rusqlite::Connection,
    project: i64,
    trace_id: &str,
    segment_id: &str,
) -> Result<Vec<StoredSpan>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {SPAN_COLUMNS} FROM spans WHERE project_id = ?1 AND segment_id = ?2 AND trace_id = ?3 AND is_segment = 0 ORDER BY start_us LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(
            params![project, segment_id, trace_id, MAX_WATERFALL_SPANS],
            StoredSpan::from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
