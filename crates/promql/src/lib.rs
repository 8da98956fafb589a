//! The PromQL engine: evaluates `promql-parser`'s syntax tree over a
//! [`SeriesSource`], giving Prometheus's (3.x) answers.
//!
//! Public contract (the HTTP API, rules and UI code against this):
//! - [`Engine::instant_query`] / [`Engine::range_query`] parse and evaluate a query.
//! - [`QueryValue::to_api_json`] renders a result in the Prometheus HTTP API's `data`
//!   shape (`resultType` + `result`, values as strings such as `"NaN"` and `"+Inf"`).
//! - [`QueryError`] carries the Prometheus error type (`bad_data`, `execution`,
//!   `timeout`, `canceled`) and, for parse errors, where in the query the error is.
//! - [`memory::MemorySource`] is a plain in-memory [`SeriesSource`] for tests and for
//!   unit-testing rules.

use pharos_model::series::{LabelSet, Sample, SeriesSamples, SeriesSource};

/// Limits and defaults; Prometheus's defaults unless said otherwise.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5 m).
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold in memory at once (Prometheus: 50 million).
    pub max_samples: usize,
    /// Wall-clock limit per query (Prometheus: 2 m).
    pub timeout: std::time::Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: std::time::Duration::from_secs(120),
        }
    }
}

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryValue {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    /// Instant vector: one sample per series, all at the evaluation time.
    Vector(Vec<VectorSample>),
    /// Range vector or range-query result: series with their samples, oldest first.
    Matrix(Vec<SeriesSamples>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct VectorSample {
    pub labels: LabelSet,
    pub sample: Sample,
}

impl QueryValue {
    /// The Prometheus HTTP API `data` object for this value.
    pub fn to_api_json(&self) -> serde_json::Value {
        todo!()
    }
}

/// A result with the annotations Prometheus returns beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub value: QueryValue,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// Prometheus's error types, as the HTTP API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
        }
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub kind: ErrorType,
    pub message: String,
    /// For parse errors: the byte range in the query the error is about, when known.
    pub position: Option<std::ops::Range<usize>>,
}

pub struct Engine {
    pub opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// Evaluates `query` at `t` (Unix ms).
    pub fn instant_query(&self, src: &dyn SeriesSource, query: &str, t: i64) -> Result<QueryResult, QueryError> {
        let _ = (src, query, t);
        todo!()
    }

    /// Evaluates `query` at every `step` from `start` to `end` (Unix ms, inclusive).
    /// The result is a matrix (or a scalar/vector expression evaluated to a matrix, as
    /// Prometheus does).
    pub fn range_query(
        &self,
        src: &dyn SeriesSource,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        let _ = (src, query, start, end, step);
        todo!()
    }
}
