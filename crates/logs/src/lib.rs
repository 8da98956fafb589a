//! `pharos-logs`: the log store. Entries arrive parsed and redacted as
//! [`pharos_model::LogEntry`]; the store makes them durable in its own write-ahead log
//! before answering, indexes them with tantivy in one partition per UTC day, answers the
//! search language ([`LogQuery`]) newest first with cursor paging, counts and
//! histograms, publishes every durable batch to subscribers (live tail, log rules), and
//! applies retention per service and level plus a disk budget.
//!
//! Layout: `store.rs` (the write path, its WAL and indexer threads), `wal.rs`,
//! `partition.rs` (a day's index and the document an entry becomes), `query/` (the
//! language), `logql/` (Loki's query language for the Loki query API), `search.rs` and `collect.rs` (reads), `retention.rs`, `settings.rs`,
//! `stats.rs`.

mod collect;
mod error;
#[cfg(test)]
mod faults;
pub mod logql;
mod partition;
mod query;
mod retention;
mod search;
mod settings;
mod snapshot;
mod stats;
mod store;
mod wal;

pub use error::LogStoreError;
pub use query::{LogQuery, QueryError};
pub use retention::RetentionReport;
pub use search::{
    FieldCount, Histogram, HistogramBucket, LevelCount, MAX_PAGE, SearchPage, SearchRequest,
    StoredLog, TimeRange,
};
pub use settings::{
    ByteSize, CompareOp, Keep, LevelCondition, LogSettings, RetentionRule, RetentionSettings,
};
pub use snapshot::STORE_FORMAT;
pub use stats::{LogStoreMetrics, LogStoreStats, PartitionStats};
pub use store::{AppendReceipt, LogStore, MAX_ENTRY_BYTES, RefusedEntry};
