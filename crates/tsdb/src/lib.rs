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

use std::path::Path;

use pharos_model::series::{LabelMatcher, LabelSet, SelectError, SeriesSamples, SeriesSource};

/// Store options; every limit has a default that suits a small team's machine.
#[derive(Clone, Debug)]
pub struct Options {
    /// Delete blocks whose newest sample is older than this (ms). `None`: keep forever.
    pub retention_ms: Option<i64>,
    /// Delete oldest blocks while the data on disk is larger than this. `None`: no limit.
    pub retention_bytes: Option<u64>,
    /// Time span of a block cut from the head (ms); Prometheus uses 2 h.
    pub block_duration_ms: i64,
    /// The most series the head may hold; appends creating more fail with a limit error.
    pub max_series: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_ms: Some(15 * 24 * 3600 * 1000),
            retention_bytes: None,
            block_duration_ms: 2 * 3600 * 1000,
            max_series: 1_000_000,
        }
    }
}

/// A handle to a series in the head, valid until the store is closed. Scrape loops cache
/// it per exposed line so that repeated appends skip label hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesRef(pub u64);

/// Why one sample was refused; the rest of the batch is unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("out of order sample")]
    OutOfOrder,
    #[error("duplicate sample for timestamp")]
    Duplicate,
    #[error("out of bounds")]
    OutOfBounds,
    #[error("series limit reached: the store holds {0} series (limit `max_series`)")]
    TooManySeries(usize),
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("corrupt data in {path}: {message}")]
    Corrupt { path: String, message: String },
    #[error("the store is closed")]
    Closed,
}

/// What a commit did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommitSummary {
    pub appended: usize,
    pub out_of_order: usize,
    pub duplicate: usize,
    pub out_of_bounds: usize,
    pub too_many_series: usize,
    pub new_series: usize,
}

/// Numbers the store reports about itself (exported on `/metrics` and in the UI).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub head_series: usize,
    pub head_chunks: usize,
    pub head_samples: u64,
    pub head_min_time: Option<i64>,
    pub head_max_time: Option<i64>,
    pub blocks: usize,
    pub block_samples: u64,
    /// WAL + blocks, bytes on disk.
    pub disk_bytes: u64,
    /// Bytes of block chunk data divided by block samples.
    pub bytes_per_sample: f64,
    /// Estimated heap bytes of the head divided by head series.
    pub memory_per_series: f64,
    pub wal_bytes: u64,
    pub compactions: u64,
    pub samples_appended_total: u64,
}

/// Cardinality: where the series come from.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Cardinality {
    /// (metric name, series count), most first.
    pub metrics: Vec<(String, usize)>,
    /// (label name, distinct values), most first.
    pub labels: Vec<(String, usize)>,
    /// (`name=value`, series count), most first.
    pub label_pairs: Vec<(String, usize)>,
    /// (metric name, series created in the last hour), most first.
    pub growing: Vec<(String, usize)>,
    pub total_series: usize,
}

pub struct Tsdb {
    _private: (),
}

impl Tsdb {
    /// Opens (or creates) the store in `dir`, replaying the WAL.
    pub fn open(dir: &Path, opts: Options) -> Result<Tsdb, TsdbError> {
        let _ = (dir, opts);
        todo!()
    }

    pub fn appender(&self) -> Appender<'_> {
        todo!()
    }

    /// Cuts head data older than a block span into blocks, merges blocks, applies
    /// retention, truncates the WAL. Cheap when there is nothing to do; the binary calls it
    /// every minute from a blocking thread.
    pub fn maintain(&self) -> Result<(), TsdbError> {
        todo!()
    }

    pub fn stats(&self) -> Stats {
        todo!()
    }

    /// The top `limit` entries of each list.
    pub fn cardinality(&self, limit: usize) -> Cardinality {
        let _ = limit;
        todo!()
    }

    /// Flushes and syncs the WAL (called on shutdown).
    pub fn close(&self) -> Result<(), TsdbError> {
        todo!()
    }
}

/// A batch of samples, applied by [`Appender::commit`].
pub struct Appender<'a> {
    _db: &'a Tsdb,
}

impl Appender<'_> {
    /// Queues a sample, creating the series if new. Errors are per sample.
    pub fn append(&mut self, labels: &LabelSet, t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let _ = (labels, t, v);
        todo!()
    }

    /// Queues a sample for a series known by reference (from an earlier `append`).
    pub fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), AppendError> {
        let _ = (series, t, v);
        todo!()
    }

    /// Writes the batch to the WAL, then makes it visible to queries.
    pub fn commit(self) -> Result<CommitSummary, TsdbError> {
        todo!()
    }
}

impl SeriesSource for Tsdb {
    fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<SeriesSamples>, SelectError> {
        let _ = (matchers, mint, maxt);
        todo!()
    }
    fn series(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<LabelSet>, SelectError> {
        let _ = (matchers, mint, maxt);
        todo!()
    }
    fn label_names(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>, SelectError> {
        let _ = (matchers, mint, maxt);
        todo!()
    }
    fn label_values(&self, name: &str, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Result<Vec<String>, SelectError> {
        let _ = (name, matchers, mint, maxt);
        todo!()
    }
}
