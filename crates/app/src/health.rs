//! Whether Pharos can do its job: the stores are writable, the data directory's disk has
//! room, and each receiver is delivering.
//!
//! A store that cannot write (disk full, read-only, EIO) refuses ingest with
//! [`STORE_RETRY_AFTER_SECS`] and recovers by itself once the disk does: the databases are
//! probed by a real write on every readiness check, the log store probes its WAL every
//! second, and the metrics store's next commit (Pharos writes its own series every few
//! seconds) clears its failure.
//!
//! A receiver (each integration of one, by its delivery-log name) is failing when its
//! last [`FAILED_ATTEMPTS`] attempts or more failed with nothing delivered since, or when
//! a notification has waited [`STALLED_AFTER`] with nothing delivered in that time. One
//! success clears it: a receiver that failed once and then delivered is healthy.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};

use crate::{App, AppError};

/// How long a metrics WAL write failure keeps the metrics check unhealthy after a later
/// write succeeded (see `Tsdb::recent_write_failure`).
const METRICS_FAILURE_MEMORY: std::time::Duration = std::time::Duration::from_secs(5);

/// What a client refused because a store cannot write is told to wait (`Retry-After`):
/// short, since the store takes writes again as soon as the disk does.
pub const STORE_RETRY_AFTER_SECS: u64 = 5;
/// How long a readiness verdict answers anonymous callers before it is checked again.
pub const READY_VERDICT_FOR: Duration = Duration::from_secs(5);

/// The last readiness verdict (healthy or not), so a flood of anonymous `/health/ready`
/// requests costs one storage write every [`READY_VERDICT_FOR`], not one each.
#[derive(Debug, Default)]
pub struct ReadyVerdict {
    last: Mutex<Option<(Instant, bool)>>,
    /// Held while one caller checks, so callers arriving meanwhile wait for its verdict
    /// instead of checking too.
    checking: tokio::sync::Mutex<()>,
}

impl ReadyVerdict {
    /// The verdict if it was made less than [`READY_VERDICT_FOR`] before `now`.
    pub fn fresh(&self, now: Instant) -> Option<bool> {
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.filter(|(at, _)| now.saturating_duration_since(*at) < READY_VERDICT_FOR)
            .map(|(_, healthy)| healthy)
    }

    pub fn record(&self, at: Instant, healthy: bool) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, healthy));
    }

    /// The fresh verdict, or `check`'s, run by one caller at a time.
    pub async fn get_or_check<F: Future<Output = bool>>(&self, check: impl FnOnce() -> F) -> bool {
        if let Some(v) = self.fresh(Instant::now()) {
            return v;
        }
        let _one = self.checking.lock().await;
        if let Some(v) = self.fresh(Instant::now()) {
            return v;
        }
        let healthy = check().await;
        self.record(Instant::now(), healthy);
        healthy
    }
}

/// Failed attempts in a row that make a receiver failing; fewer are ordinary retries.
pub const FAILED_ATTEMPTS: u64 = 3;
/// How long a notification may wait undelivered, with nothing else delivered meanwhile.
pub const STALLED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// Failures older than this no longer count, and success rates cover this window.
pub const WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How one integration of a receiver is doing.
#[derive(Clone, Debug)]
pub struct ReceiverHealth {
    /// The configured receiver (`ops`).
    pub receiver: String,
    /// The delivery-log name (`ops`, or `ops/slack0` when it has several).
    pub integration: String,
    /// Why it counts as failing; `None` when healthy.
    pub failing: Option<String>,
    pub record: pharos_store::IntegrationRecord,
}

impl ReceiverHealth {
    /// Delivered share of the deliveries finished in the window, if any finished.
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.record.delivered + self.record.failed;
        (done > 0).then(|| self.record.delivered as f64 * 100.0 / done as f64)
    }
}

fn verdict(r: &pharos_store::IntegrationRecord, now: chrono::DateTime<Utc>) -> Option<String> {
    let error = match (&r.last_error, r.last_response_status) {
        (Some(e), _) => format!(": {e}"),
        (None, Some(code)) => format!(": HTTP {code}"),
        (None, None) => String::new(),
    };
    if r.failed_attempts_since_success >= FAILED_ATTEMPTS {
        return Some(format!(
            "the last {} delivery attempts failed{error}",
            r.failed_attempts_since_success
        ));
    }
    let stalled_since = r
        .oldest_pending_since
        .filter(|t| *t <= now - STALLED_AFTER)?;
    if r.last_success_at.is_some_and(|t| t > now - STALLED_AFTER) {
        return None;
    }
    Some(format!(
        "a notification has waited since {} and nothing was delivered in {} min{error}",
        stalled_since.to_rfc3339_opts(SecondsFormat::Secs, true),
        STALLED_AFTER.num_minutes()
    ))
}

impl App {
    /// Every integration of every configured receiver, in config order, with its verdict.
    pub async fn receiver_health(&self) -> Result<Vec<ReceiverHealth>, AppError> {
        let integrations: Vec<(String, String)> = {
            let receivers = self.receivers.read().unwrap_or_else(|p| p.into_inner());
            receivers
                .receiver_names()
                .flat_map(|name| {
                    receivers
                        .integrations_of(name)
                        .unwrap_or_default()
                        .iter()
                        .map(|i| (name.to_string(), i.name().to_string()))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let names: Vec<String> = integrations.iter().map(|(_, i)| i.clone()).collect();
        let now = Utc::now();
        let records = self
            .with_store(move |s| s.integration_records(&names, now - WINDOW))
            .await?;
        Ok(integrations
            .into_iter()
            .zip(records)
            .map(|((receiver, integration), record)| ReceiverHealth {
                receiver,
                integration,
                failing: verdict(&record, now),
                record,
            })
            .collect())
    }
}

impl App {
    /// Writes a probe row: fails, saying why, when the disk is full or read-only.
    pub async fn check_storage_writable(&self) -> Result<(), AppError> {
        let store = self.store.clone();
        crate::blocking(move || store.check_writable())
            .await?
            .map_err(|e| AppError::Unavailable(format!("storage not writable: {e}")))
    }

    /// The log and metrics stores' write failures, by store (`logs`, `metrics`): `Ok` when
    /// the store writes (or is turned off), else why not.
    pub fn store_write_health(&self) -> Vec<(&'static str, Result<(), String>)> {
        let mut out = Vec::new();
        if let Some(logs) = &self.logs {
            let verdict = match (logs.store.write_failure(), logs.store.index_failure()) {
                (Some(e), _) => Err(format!("log lines cannot be stored: {e}")),
                (None, Some(e)) => Err(format!(
                    "new log lines are stored but not searchable yet: {e}"
                )),
                (None, None) => Ok(()),
            };
            out.push(("logs", verdict));
        }
        if let Some(m) = &self.metrics_store {
            let verdict = match m.db.recent_write_failure(METRICS_FAILURE_MEMORY) {
                Some(e) => Err(format!("samples cannot be stored: {e}")),
                None => Ok(()),
            };
            out.push(("metrics", verdict));
        }
        out
    }

    /// Free bytes for unprivileged users on the file system of the data directory.
    pub fn free_disk_bytes(&self) -> Option<u64> {
        pharos_scrape::host::available_bytes(self.store.dir())
    }

    /// Monitors by state and open alerts (pending, firing), for `/metrics`.
    pub async fn status_counts(
        &self,
    ) -> Result<(pharos_store::StatusCounts, (u64, u64)), AppError> {
        self.with_store(|s| Ok((s.status_counts()?, s.open_alert_counts()?)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_verdict_is_reused_for_five_seconds() {
        let verdict = ReadyVerdict::default();
        let checks = std::sync::atomic::AtomicUsize::new(0);
        let check = || async {
            checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            true
        };
        for _ in 0..100 {
            assert!(verdict.get_or_check(check).await);
        }
        assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 1);
        let now = Instant::now();
        verdict.record(now, false);
        assert_eq!(verdict.fresh(now + Duration::from_secs(4)), Some(false));
        assert_eq!(verdict.fresh(now + READY_VERDICT_FOR), None);
    }
}
