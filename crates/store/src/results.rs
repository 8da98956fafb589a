//! Probe results, hourly uptime roll-ups and the numbers probes record as series.
//!
//! Uptime over 24 h / 7 d / 30 d is read from `uptime_hourly`, written in the same
//! transaction as each result, so lists of thousands of monitors never scan raw results.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use pharos_model::{MonitorId, Outcome, ProbeResult};
use rusqlite::params;
use serde::Serialize;

use crate::monitors::{MonitorStatus, put_status};
use crate::{Result, Store, from_ms, ms};

/// Share of checks that were up, 0.0 to 1.0; `None` when there were no checks.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Uptime {
    pub h24: Option<f64>,
    pub d7: Option<f64>,
    pub d30: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub avg_ms: Option<f64>,
}

const HOUR_MS: i64 = 3_600_000;

/// A monitor's checks in one slice of time, for charts: how many, how many failed, and
/// the response times of those that got an answer.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ResultBucket {
    /// Start of the slice, Unix ms.
    pub start_ms: i64,
    pub checks: u64,
    pub down: u64,
    pub avg_latency_ms: Option<f64>,
    pub max_latency_ms: Option<f64>,
}

/// One hour of a monitor's uptime roll-up.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct HourlyChecks {
    /// Start of the hour, Unix ms.
    pub hour_ms: i64,
    pub checks: u64,
    pub up: u64,
}

/// A run of consecutive failed checks: from the first failed check to the first check
/// that passed after it (`None` while still failing).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outage {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// Failed checks in the run.
    pub checks: u64,
    /// The first failed check's error.
    pub error: Option<String>,
}

impl Store {
    /// Stores check results with the monitor status each one led to, in one transaction.
    pub fn record_checks(&self, checks: &[(ProbeResult, MonitorStatus)]) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO probe_results(monitor_id, at, outcome, latency_ms, status_code, error, tls_days_left) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                let mut rollup = tx.prepare_cached(
                    "INSERT INTO uptime_hourly(monitor_id, hour, checks, up, degraded) VALUES(?1, ?2, 1, ?3, ?4)
                     ON CONFLICT(monitor_id, hour) DO UPDATE SET checks = checks + 1, up = up + excluded.up, degraded = degraded + excluded.degraded",
                )?;
                let mut sample = tx.prepare_cached("INSERT INTO samples(metric, labels, at, value) VALUES(?1, ?2, ?3, ?4)")?;
                for (r, status) in checks {
                    let at = ms(r.at);
                    insert.execute(params![
                        r.monitor.as_str(),
                        at,
                        r.outcome.as_str(),
                        r.latency_ms,
                        r.status_code,
                        r.error,
                        r.tls_days_left
                    ])?;
                    rollup.execute(params![
                        r.monitor.as_str(),
                        at - at.rem_euclid(HOUR_MS),
                        r.outcome.is_up() as i64,
                        (r.outcome == Outcome::Degraded) as i64
                    ])?;
                    for (field, value) in &r.numbers {
                        let labels = serde_json::json!({"monitor": r.monitor.as_str(), "field": field}).to_string();
                        sample.execute(params!["pharos_monitor_json_value", labels, at, value])?;
                    }
                    put_status(&tx, status)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Uptime of each monitor over the last 24 hours, 7 and 30 days.
    pub fn uptime(
        &self,
        ids: &[MonitorId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<MonitorId, Uptime>> {
        let now_ms = ms(now);
        let since = now_ms - 30 * 24 * HOUR_MS;
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT hour, checks, up FROM uptime_hourly WHERE monitor_id = ?1 AND hour >= ?2",
            )?;
            let mut out = HashMap::with_capacity(ids.len());
            for id in ids {
                // (checks, up) over 24 h, 7 d, 30 d
                let mut acc = [(0u64, 0u64); 3];
                let rows = stmt.query_map(params![id.as_str(), since - HOUR_MS], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, u64>(1)?,
                        r.get::<_, u64>(2)?,
                    ))
                })?;
                for row in rows {
                    let (hour, checks, up) = row?;
                    // An hour bucket counts when any part of it is inside the window.
                    let age = now_ms - (hour + HOUR_MS);
                    for (i, window) in [24, 24 * 7, 24 * 30].into_iter().enumerate() {
                        if age < window * HOUR_MS {
                            acc[i].0 += checks;
                            acc[i].1 += up;
                        }
                    }
                }
                let ratio =
                    |(checks, up): (u64, u64)| (checks > 0).then(|| up as f64 / checks as f64);
                out.insert(
                    id.clone(),
                    Uptime {
                        h24: ratio(acc[0]),
                        d7: ratio(acc[1]),
                        d30: ratio(acc[2]),
                    },
                );
            }
            Ok(out)
        })
    }

    /// Response-time percentiles over checks since `since` that got an answer.
    pub fn latency_summary(&self, id: &MonitorId, since: DateTime<Utc>) -> Result<LatencySummary> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT latency_ms FROM probe_results WHERE monitor_id = ?1 AND at >= ?2 AND latency_ms IS NOT NULL AND outcome != 'down' ORDER BY latency_ms",
            )?;
            let values: Vec<f64> = stmt.query_map(params![id.as_str(), ms(since)], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            if values.is_empty() {
                return Ok(LatencySummary::default());
            }
            let pick = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
            Ok(LatencySummary {
                count: values.len() as u64,
                p50_ms: Some(pick(0.5)),
                p95_ms: Some(pick(0.95)),
                p99_ms: Some(pick(0.99)),
                avg_ms: Some(values.iter().sum::<f64>() / values.len() as f64),
            })
        })
    }

    /// The newest results of a monitor, newest first; `before` pages further back.
    pub fn recent_results(
        &self,
        id: &MonitorId,
        before: Option<DateTime<Utc>>,
        limit: u64,
    ) -> Result<Vec<ProbeResult>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, outcome, latency_ms, status_code, error, tls_days_left FROM probe_results
                 WHERE monitor_id = ?1 AND at < ?2 ORDER BY at DESC LIMIT ?3",
            )?;
            let before = before.map(ms).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![id.as_str(), before, limit as i64], |r| {
                Ok(ProbeResult {
                    monitor: id.clone(),
                    at: from_ms(r.get(0)?),
                    outcome: Outcome::parse(&r.get::<_, String>(1)?).unwrap_or(Outcome::Down),
                    latency_ms: r.get(2)?,
                    status_code: r.get(3)?,
                    error: r.get(4)?,
                    tls_days_left: r.get(5)?,
                    numbers: Vec::new(),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// A monitor's checks in `[since, until)` summed over slices of `bucket_ms`, oldest
    /// first; slices without checks are left out. One indexed range scan whatever the
    /// range, so a 30-day chart reads no more rows than it must and returns a few hundred.
    pub fn result_buckets(
        &self,
        id: &MonitorId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        bucket_ms: i64,
    ) -> Result<Vec<ResultBucket>> {
        let (since, until, bucket) = (ms(since), ms(until), bucket_ms.max(1));
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT (at - ?2) / ?4 AS b, count(*), sum(outcome = 'down'),
                        avg(CASE WHEN outcome != 'down' THEN latency_ms END),
                        max(CASE WHEN outcome != 'down' THEN latency_ms END)
                 FROM probe_results WHERE monitor_id = ?1 AND at >= ?2 AND at < ?3
                 GROUP BY b ORDER BY b",
            )?;
            let rows = stmt.query_map(params![id.as_str(), since, until, bucket], |r| {
                Ok(ResultBucket {
                    start_ms: since + r.get::<_, i64>(0)? * bucket,
                    checks: r.get(1)?,
                    down: r.get(2)?,
                    avg_latency_ms: r.get(3)?,
                    max_latency_ms: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The hours in `[since, until)` with failed checks that only the hourly roll-up
    /// still knows of: those before the monitor's oldest raw result (pruned after the
    /// retention; roll-ups are kept a year), oldest first.
    pub fn rolled_up_failures(
        &self,
        id: &MonitorId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<HourlyChecks>> {
        self.read(|c| {
            let oldest: Option<i64> = c.query_row(
                "SELECT min(at) FROM probe_results WHERE monitor_id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )?;
            // Hours that end after the oldest raw result are drawn from raw results.
            let raw_from = oldest.map(|o| o - o.rem_euclid(HOUR_MS)).unwrap_or(i64::MAX);
            let mut stmt = c.prepare_cached(
                "SELECT hour, checks, up FROM uptime_hourly
                 WHERE monitor_id = ?1 AND hour > ?2 - 3600000 AND hour < min(?3, ?4) AND up < checks
                 ORDER BY hour",
            )?;
            let rows = stmt.query_map(
                params![id.as_str(), ms(since), ms(until), raw_from],
                |r| {
                    Ok(HourlyChecks {
                        hour_ms: r.get(0)?,
                        checks: r.get(1)?,
                        up: r.get(2)?,
                    })
                },
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Outages that overlap `[since, until)`, newest first, at most `limit`: runs of at
    /// least `min_checks` consecutive failed checks (shorter runs never took the monitor
    /// down). A run that began before `since` keeps its real start.
    pub fn outages(
        &self,
        id: &MonitorId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        min_checks: u32,
        limit: usize,
    ) -> Result<Vec<Outage>> {
        let min_checks = u64::from(min_checks.max(1));
        self.read(|c| {
            // Where the run covering `since`, if any, began: the first check after the
            // last one before `since` that passed.
            let run_start: i64 = c.query_row(
                "SELECT coalesce(max(at), -1) FROM probe_results WHERE monitor_id = ?1 AND at < ?2 AND outcome != 'down'",
                params![id.as_str(), ms(since)],
                |r| r.get(0),
            )?;
            // Only the checks where the outcome flips leave SQLite (a 30-day range of a
            // 1 s monitor is millions of rows); row numbers give each run's length.
            let mut stmt = c.prepare_cached(
                "SELECT at, down, error, rn, total FROM (
                    SELECT at, outcome = 'down' AS down, error,
                           row_number() OVER (ORDER BY at) AS rn,
                           count(*) OVER () AS total,
                           lag(outcome = 'down') OVER (ORDER BY at) AS prev
                    FROM probe_results WHERE monitor_id = ?1 AND at > ?2 AND at < ?3)
                 WHERE prev IS NULL OR down != prev ORDER BY at",
            )?;
            let mut rows = stmt.query(params![id.as_str(), run_start, ms(until)])?;
            let mut out = Vec::new();
            // The open run, with the row number of its first check.
            let mut run: Option<(Outage, u64)> = None;
            let mut total = 0u64;
            while let Some(r) = rows.next()? {
                let at = from_ms(r.get(0)?);
                let rn: u64 = r.get(3)?;
                total = r.get(4)?;
                if r.get::<_, bool>(1)? {
                    run = Some((
                        Outage {
                            start: at,
                            end: None,
                            checks: 0,
                            error: r.get(2)?,
                        },
                        rn,
                    ));
                } else if let Some((mut o, first)) = run.take() {
                    o.end = Some(at);
                    o.checks = rn - first;
                    // A run that ended before the window is not in it.
                    if o.checks >= min_checks && at >= since {
                        out.push(o);
                    }
                }
            }
            let run = run.map(|(mut o, first)| {
                o.checks = total + 1 - first;
                o
            });
            if let Some(o) = run.filter(|o| o.checks >= min_checks) {
                out.push(o);
            }
            out.reverse();
            out.truncate(limit);
            Ok(out)
        })
    }

    /// The latest value of each number a monitor records from its JSON body.
    pub fn latest_numbers(&self, id: &MonitorId) -> Result<Vec<(String, f64, DateTime<Utc>)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT json_extract(labels, '$.field'), value, max(at) FROM samples
                 WHERE metric = 'pharos_monitor_json_value' AND json_extract(labels, '$.monitor') = ?1 GROUP BY labels ORDER BY 1",
            )?;
            let rows = stmt.query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?, from_ms(r.get(2)?))))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Drops raw results and samples older than the retention; roll-ups are kept a year.
    pub fn prune(&self, now: DateTime<Utc>, retention: Duration) -> Result<usize> {
        let cutoff = ms(now - retention);
        let rollup_cutoff = ms(now - Duration::days(366));
        self.write(|c| {
            let mut n = c.execute("DELETE FROM probe_results WHERE at < ?1", [cutoff])?;
            n += c.execute("DELETE FROM samples WHERE at < ?1", [cutoff])?;
            n += c.execute("DELETE FROM uptime_hourly WHERE hour < ?1", [rollup_cutoff])?;
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp_store;

    fn result(id: &MonitorId, at: DateTime<Utc>, outcome: Outcome, latency: f64) -> ProbeResult {
        ProbeResult {
            monitor: id.clone(),
            at,
            outcome,
            latency_ms: Some(latency),
            status_code: Some(200),
            error: None,
            tls_days_left: None,
            numbers: vec![("queue_size".into(), latency)],
        }
    }

    #[test]
    fn uptime_and_percentiles() {
        let (store, _dir) = temp_store();
        let id: MonitorId = "api".parse().unwrap();
        let now = Utc::now();
        let mut checks = Vec::new();
        for i in 0..100 {
            let outcome = if i < 10 { Outcome::Down } else { Outcome::Up };
            checks.push((
                result(&id, now - Duration::minutes(i), outcome, i as f64),
                MonitorStatus::new(id.clone(), now),
            ));
        }
        // An old failure counts for 7 d but not 24 h.
        checks.push((
            result(&id, now - Duration::days(3), Outcome::Down, 1.0),
            MonitorStatus::new(id.clone(), now),
        ));
        store.record_checks(&checks).unwrap();
        let up = store.uptime(std::slice::from_ref(&id), now).unwrap()[&id].clone();
        assert!((up.h24.unwrap() - 0.9).abs() < 1e-9, "{up:?}");
        assert!((up.d7.unwrap() - 90.0 / 101.0).abs() < 1e-9, "{up:?}");
        let lat = store
            .latency_summary(&id, now - Duration::hours(24))
            .unwrap();
        assert_eq!(lat.count, 90);
        assert_eq!(lat.p50_ms, Some(55.0));
        assert_eq!(store.recent_results(&id, None, 5).unwrap().len(), 5);
        let numbers = store.latest_numbers(&id).unwrap();
        assert_eq!(numbers[0].0, "queue_size");
    }

    #[test]
    fn outages_are_runs_of_failures_with_their_start_and_end() {
        let (store, _dir) = temp_store();
        let id: MonitorId = "api".parse().unwrap();
        // Stored to the millisecond.
        let t0 = from_ms(ms(Utc::now() - Duration::hours(3)));
        let minute = |m: i64| t0 + Duration::minutes(m);
        // Down from minute 13 to 41; a single failure at 50 (below two in a row);
        // down again from 70 until now.
        let mut checks = Vec::new();
        for m in 0..90 {
            let down = (13..41).contains(&m) || m == 50 || m >= 70;
            let outcome = if down { Outcome::Down } else { Outcome::Up };
            checks.push((
                result(&id, minute(m), outcome, 10.0 + m as f64),
                MonitorStatus::new(id.clone(), t0),
            ));
        }
        store.record_checks(&checks).unwrap();
        let all = store.outages(&id, t0, Utc::now(), 2, 10).unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(
            (all[0].start, all[0].end, all[0].checks),
            (minute(70), None, 20)
        );
        assert_eq!(
            (all[1].start, all[1].end, all[1].checks),
            (minute(13), Some(minute(41)), 28)
        );
        // A window starting inside the first outage still shows its real start; one
        // after it does not show it.
        let inside = store.outages(&id, minute(20), minute(60), 2, 10).unwrap();
        assert_eq!(inside.len(), 1);
        assert_eq!(inside[0].start, minute(13));
        assert!(
            store
                .outages(&id, minute(42), minute(60), 2, 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.outages(&id, t0, Utc::now(), 1, 10).unwrap().len(), 3);

        let buckets = store.result_buckets(&id, t0, minute(90), 600_000).unwrap();
        assert_eq!(buckets.len(), 9);
        assert_eq!((buckets[1].checks, buckets[1].down), (10, 7));
        assert_eq!(buckets[1].start_ms, ms(minute(10)));
        // Only checks that got an answer count towards response time.
        assert_eq!(buckets[1].max_latency_ms, Some(22.0));
    }

    #[test]
    fn failures_older_than_the_raw_results_come_from_the_roll_up() {
        let (store, _dir) = temp_store();
        let id: MonitorId = "api".parse().unwrap();
        let now = Utc::now();
        let mut checks = Vec::new();
        for (age, outcome) in [
            (Duration::days(40), Outcome::Down),
            (Duration::days(40) + Duration::minutes(1), Outcome::Up),
            (Duration::days(35), Outcome::Up),
            (Duration::hours(2), Outcome::Down),
        ] {
            checks.push((
                result(&id, now - age, outcome, 1.0),
                MonitorStatus::new(id.clone(), now),
            ));
        }
        store.record_checks(&checks).unwrap();
        // While the raw results are there, they tell; the roll-up adds nothing.
        let since = now - Duration::days(60);
        assert!(
            store
                .rolled_up_failures(&id, since, now)
                .unwrap()
                .is_empty()
        );
        store.prune(now, Duration::days(30)).unwrap();
        let old = store.rolled_up_failures(&id, since, now).unwrap();
        assert_eq!(old.len(), 1, "{old:?}");
        assert_eq!((old[0].checks, old[0].up), (2, 1));
        let t = ms(now - Duration::days(40));
        assert!(old[0].hour_ms <= t && t < old[0].hour_ms + HOUR_MS);
        // Outside the range asked for, nothing.
        assert!(
            store
                .rolled_up_failures(&id, now - Duration::days(10), now)
                .unwrap()
                .is_empty()
        );
    }
}
