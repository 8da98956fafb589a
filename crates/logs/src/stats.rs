//! The store's numbers for `/metrics` and the UI: counters bumped with relaxed atomics on
//! the write path, sizes read from the partitions when asked.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct LogStoreStats {
    /// Partitions plus WAL.
    pub bytes_total: u64,
    pub wal_bytes: u64,
    /// Searchable entries (committed to the index).
    pub entries: u64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    pub partitions: Vec<PartitionStats>,
    /// Entries made durable since start.
    pub lines_appended: u64,
    /// Entries refused since start (too large, too far in the future).
    pub lines_refused: u64,
    /// Entries durable in the WAL but not yet searchable.
    pub indexing_lag_entries: u64,
    /// Age of the oldest entry not yet searchable, 0 when none.
    pub indexing_lag_seconds: f64,
    /// Entries deleted by retention since start.
    pub lines_expired: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionStats {
    /// The UTC day the partition holds.
    pub day: NaiveDate,
    pub bytes: u64,
    pub entries: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub appended: AtomicU64,
    pub refused: AtomicU64,
    pub expired: AtomicU64,
    /// Highest sequence number made durable.
    pub durable_seq: AtomicU64,
    /// Highest sequence number searchable.
    pub committed_seq: AtomicU64,
    /// Append time (ns since epoch) of the oldest batch not yet searchable; 0 when none.
    pub oldest_unindexed_ns: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The store's numbers on `/metrics`.
pub struct LogStoreMetrics {
    bytes: prometheus::IntGauge,
    entries: prometheus::IntGauge,
    indexing_lag: prometheus::Gauge,
    expired: prometheus::IntGauge,
}

impl LogStoreMetrics {
    pub fn new(registry: &prometheus::Registry) -> prometheus::Result<Self> {
        let m = LogStoreMetrics {
            bytes: prometheus::IntGauge::new(
                "pharos_logs_bytes",
                "Bytes the log store takes on disk (indexes, stored entries and WAL).",
            )?,
            entries: prometheus::IntGauge::new(
                "pharos_logs_entries",
                "Log entries that can be searched.",
            )?,
            indexing_lag: prometheus::Gauge::new(
                "pharos_logs_indexing_lag_seconds",
                "Age of the oldest stored log entry not yet searchable.",
            )?,
            expired: prometheus::IntGauge::new(
                "pharos_logs_expired_entries",
                "Log entries deleted by retention since start.",
            )?,
        };
        registry.register(Box::new(m.bytes.clone()))?;
        registry.register(Box::new(m.entries.clone()))?;
        registry.register(Box::new(m.indexing_lag.clone()))?;
        registry.register(Box::new(m.expired.clone()))?;
        Ok(m)
    }

    pub fn observe(&self, stats: &LogStoreStats) {
        self.bytes.set(stats.bytes_total as i64);
        self.entries.set(stats.entries as i64);
        self.indexing_lag.set(stats.indexing_lag_seconds);
        self.expired.set(stats.lines_expired as i64);
    }
}
