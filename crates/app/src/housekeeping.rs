//! What timers trigger: dropping raw results and error payloads past their retention,
//! log retention, and the metrics store's compaction and WAL sync, each refreshing the
//! store's numbers on `/metrics`. Each loop runs until the lifecycle stops it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use pharos_logs::{LogStore, LogStoreMetrics};
use pharos_store::Store;
use pharos_tsdb::{Tsdb, TsdbMetrics};

/// How often raw results and error payloads past their retention are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the log store's gauges are refreshed; retention runs every 40th time.
const LOG_STATS_EVERY: Duration = Duration::from_secs(15);
const LOG_RETENTION_EVERY_NTH: u64 = 40;
/// How often the metrics store compacts, applies retention and syncs its WAL.
const TSDB_MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// Drops raw results and error payloads past their retention once an hour; `retention`
/// is the config's, swapped on reload.
pub async fn prune_results(store: Arc<Store>, retention: Arc<RwLock<Duration>>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let keep = *retention.read().unwrap_or_else(|p| p.into_inner());
        let Ok(keep) = chrono::Duration::from_std(keep) else {
            continue;
        };
        let store = store.clone();
        let pruned = tokio::task::spawn_blocking(move || {
            Ok::<_, pharos_store::StoreError>(
                store.prune(Utc::now(), keep)? + store.errors().prune(Utc::now())?,
            )
        });
        match pruned.await {
            Ok(Ok(n)) if n > 0 => {
                tracing::info!(operation = "prune", rows = n, "old results dropped")
            }
            Ok(Err(e)) => tracing::warn!(operation = "prune", error = %e, "pruning failed"),
            _ => {}
        }
    }
}

/// Drops expired browser sessions once an hour (an expired one is refused anyway; this
/// keeps the table from growing).
pub async fn purge_sessions(access: Arc<crate::access::AccessControl>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        match access.purge_sessions().await {
            Ok(n) if n > 0 => tracing::info!(
                operation = "session_purge",
                sessions = n,
                "expired sessions dropped"
            ),
            Err(e) => {
                tracing::warn!(operation = "session_purge", error = %e, "purging sessions failed")
            }
            _ => {}
        }
    }
}

/// Log retention every ten minutes and the store's gauges every 15 s.
pub async fn log_maintenance(store: Arc<LogStore>, metrics: LogStoreMetrics) {
    let mut tick = tokio::time::interval(LOG_STATS_EVERY);
    let mut n = 0u64;
    loop {
        tick.tick().await;
        let s = store.clone();
        let retention_due = n % LOG_RETENTION_EVERY_NTH == 1;
        n += 1;
        let done = tokio::task::spawn_blocking(move || {
            let report = retention_due.then(|| s.apply_retention(Utc::now()));
            (report, s.stats())
        })
        .await;
        let Ok((report, stats)) = done else { continue };
        if let Some(Err(e)) = report {
            tracing::warn!(operation = "log_retention", error = %e, "log retention failed");
        }
        metrics.observe(&stats);
    }
}

/// Compaction, retention and WAL sync once a minute, off the async threads.
pub async fn tsdb_maintenance(db: Arc<Tsdb>, metrics: TsdbMetrics) {
    let mut tick = tokio::time::interval(TSDB_MAINTENANCE_EVERY);
    loop {
        tick.tick().await;
        let d = db.clone();
        match tokio::task::spawn_blocking(move || d.maintain().map(|_| d.stats())).await {
            Ok(Ok(st)) => metrics.observe(&st),
            Ok(Err(e)) => {
                tracing::warn!(operation = "tsdb_maintain", error = %e, "metrics store maintenance failed")
            }
            Err(_) => {}
        }
    }
}
