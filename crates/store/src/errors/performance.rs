//! Performance data and release health: transactions summarised by name (throughput,
//! percentiles, failure rate, slowest samples), crash-free sessions by release, and what
//! SDKs report having dropped.

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
    /// The stored transaction (spans included).
    pub payload: serde_json::Value,
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
                "SELECT event_id, start, duration_ms, status, release, environment, trace_id, payload FROM transactions WHERE project_id = ?1 AND name = ?2 AND start >= ?3 ORDER BY duration_ms DESC LIMIT ?4",
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
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|(event_id, start, duration_ms, status, release, environment, trace_id, blob)| {
                    Ok(TransactionSample {
                        event_id,
                        start: from_ms(start),
                        duration_ms,
                        status,
                        release,
                        environment,
                        trace_id,
                        payload: decompress(&blob)?,
                    })
                })
                .collect()
        })
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
    #[allow(clippy::type_complexity)]
    pub fn attachments(
        &self,
        project: i64,
        event_id: &str,
    ) -> Result<Vec<(i64, String, Option<String>, i64)>> {
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
