//! The time-series store: every numeric series Pharos keeps (scraped metrics,
//! remote-written samples, probe results, error and log counts, Pharos's own metrics).
//!
//! Public contract (the rest of Pharos codes against this; the internals are free):
//! - [`Tsdb::open`] replays the write-ahead log; [`Tsdb::appender`] batches samples and
//!   [`Appender::commit`] makes them durable (written to the WAL before it returns, so an
//!   acknowledged batch survives `kill -9`) and visible to queries.
//! - Append semantics are Prometheus's: a sample older than the series' newest one is
//!   "out of order", the same timestamp with another value is a "duplicate sample for
//!   timestamp", the same timestamp and value is accepted silently, a sample older than the
//!   head's lower bound is "out of bounds". Staleness markers are kept bit-exact.
//! - Queries go through [`pharos_model::series::SeriesSource`], implemented by [`Tsdb`].

mod append;
mod block;
mod chunk;
mod codec;
mod column;
mod compaction;
mod error;
mod head;
mod head_chunks;
mod int_coder;
mod open;
mod query;
mod retention;
mod snapshot;
mod stats;
mod wal;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

pub use append::{AppendError, Appender, CommitSummary, SeriesRef};
pub use error::TsdbError;
pub use open::Options;
pub use snapshot::STORE_FORMAT;
pub use stats::{Cardinality, Stats, TsdbMetrics};

use block::Block;
use head::Head;
use wal::Wal;

// Defined at the crate root so that every module's `impl Tsdb` reaches the fields
// without making them visible crate-wide.
pub struct Tsdb {
    dir: PathBuf,
    opts: Options,
    head: Head,
    wal: Mutex<Wal>,
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Samples older than this are out of bounds (they would belong to a written block).
    min_valid: AtomicI64,
    /// Newest sample time in the head or in blocks.
    max_time: AtomicI64,
    /// Newest sample time appended to the head (`i64::MIN` while it has none).
    head_max_time: AtomicI64,
    appended: AtomicU64,
    compactions: AtomicU64,
    /// Held by `maintain`: compaction and retention assume nobody else changes blocks.
    maintenance: Mutex<()>,
}
