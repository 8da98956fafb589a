//! Reading logs the way Grafana's Loki data source and `logcli` ask: LogQL queries (log
//! and metric), label names and values, series and the size estimate. The language and
//! its evaluation live in the log store (`pharos_logs::logql`); here each operation is
//! parsed, bounded and run off the async threads.

use pharos_logs::LogStoreError;

pub use pharos_logs::TimeRange;
pub use pharos_logs::logql::{
    Direction, IndexStats, Labels, Logql, LogqlLimits, LogqlRequest, LogqlStream, MetricSeries,
    QueryAnswer, QueryStats,
};

use crate::AppError;
use crate::logs::store_error;

/// Lines a `labels`, `label/{name}/values` or `series` answer is read from, newest first:
/// label names come from lines, and reading every line of a week for them would be slow.
pub const LABEL_SAMPLE_LINES: usize = 5000;
/// Series a `series` answer lists at most.
pub const MAX_SERIES_LISTED: usize = 5000;

/// A LogQL text, with errors naming the `query` parameter as Loki's do.
pub fn parse_logql(text: &str) -> Result<Logql, AppError> {
    Logql::parse(text).map_err(|e| AppError::invalid_field("query", e))
}

fn query_error(e: LogStoreError) -> AppError {
    match e {
        LogStoreError::Timeout(_) => AppError::Unavailable(e.to_string()),
        e => store_error(e),
    }
}

impl crate::App {
    async fn on_log_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&pharos_logs::LogStore) -> Result<T, LogStoreError> + Send + 'static,
    ) -> Result<T, AppError> {
        let store = self.logs()?.store.clone();
        crate::blocking(move || f(&store))
            .await?
            .map_err(query_error)
    }

    /// A LogQL query: streams for a log query, a vector / matrix / scalar for a metric one.
    pub async fn loki_query(
        &self,
        query: Logql,
        req: LogqlRequest,
        limits: LogqlLimits,
    ) -> Result<(QueryAnswer, QueryStats), AppError> {
        if req.instant && query.is_log_query() {
            return Err(AppError::invalid_field(
                "query",
                "log queries are not supported as an instant query type, please change your query to a range query type",
            ));
        }
        self.on_log_store(move |s| s.logql(&query, &req, &limits))
            .await
    }

    /// Label names of the lines `query` selects (every line without one).
    pub async fn loki_label_names(
        &self,
        query: Option<Logql>,
        range: TimeRange,
    ) -> Result<Vec<String>, AppError> {
        self.on_log_store(move |s| s.logql_label_names(query.as_ref(), range, LABEL_SAMPLE_LINES))
            .await
    }

    pub async fn loki_label_values(
        &self,
        name: String,
        query: Option<Logql>,
        range: TimeRange,
    ) -> Result<Vec<String>, AppError> {
        self.on_log_store(move |s| {
            s.logql_label_values(&name, query.as_ref(), range, LABEL_SAMPLE_LINES)
        })
        .await
    }

    pub async fn loki_series(
        &self,
        matches: Vec<Logql>,
        range: TimeRange,
    ) -> Result<Vec<Labels>, AppError> {
        self.on_log_store(move |s| {
            s.logql_series(&matches, range, LABEL_SAMPLE_LINES, MAX_SERIES_LISTED)
        })
        .await
    }

    pub async fn loki_index_stats(
        &self,
        query: Option<Logql>,
        range: TimeRange,
    ) -> Result<IndexStats, AppError> {
        self.on_log_store(move |s| {
            s.logql_index_stats(query.as_ref(), range, &LogqlLimits::default())
        })
        .await
    }
}
