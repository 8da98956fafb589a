//! The metrics side of Pharos as the operations see it: the time-series store, the PromQL
//! engine over it and the scrape manager that feeds it; and the operations of the
//! Prometheus HTTP API over them (queries, series and label lookups, metadata, targets,
//! remote_write, the TSDB status).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pharos_model::series::{LabelMatcher, LabelSet, SeriesSource};
use pharos_promql::Engine;
use pharos_scrape::manager::ScrapeManager;
use pharos_scrape::metadata::MetricMetadata;
use pharos_tsdb::Tsdb;

pub use pharos_promql::{QueryError, QueryResult};

use crate::App;

/// `None` in [`crate::App`] when metrics are off.
pub struct Metrics {
    pub db: Arc<Tsdb>,
    pub engine: Engine,
    pub scrape: Arc<ScrapeManager>,
    /// How many PromQL queries of the API and the pages evaluate at once.
    pub queries: QueryLimit,
}

/// At most so many PromQL queries evaluate at once (Prometheus's
/// `--query.max-concurrency`); the others wait in line for a slot up to `wait`, then
/// fail as Prometheus's do: `timeout`, "query timed out in query queue".
pub struct QueryLimit {
    slots: Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl QueryLimit {
    /// `max_concurrent` is at least one (a limit of none would refuse every query).
    pub fn new(max_concurrent: usize, wait: std::time::Duration) -> Self {
        QueryLimit {
            slots: Arc::new(tokio::sync::Semaphore::new(max_concurrent.max(1))),
            wait,
        }
    }

    /// A slot, held until the returned permit is dropped.
    pub async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, MetricsError> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(MetricsError::Internal(closed.to_string())),
            Err(_) => Err(MetricsError::Query(QueryError {
                kind: pharos_promql::ErrorType::Timeout,
                message: "query timed out in query queue".into(),
                position: None,
            })),
        }
    }
}

/// Why a metrics operation failed, in the Prometheus HTTP API's kinds.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A PromQL parse or evaluation error, with PromQL's own kind.
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("{0}")]
    BadData(String),
    #[error("{0}")]
    Execution(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("the metrics store is not enabled")]
    Disabled,
    #[error("{0}")]
    Internal(String),
}

impl MetricsError {
    /// Prometheus's `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            MetricsError::Query(e) => e.kind.as_str(),
            MetricsError::BadData(_) => "bad_data",
            MetricsError::Execution(_) => "execution",
            MetricsError::Unsupported(_) => "unsupported",
            MetricsError::Disabled => "unavailable",
            MetricsError::Internal(_) => "internal",
        }
    }
}

/// A scrape target as `/api/v1/targets` shows it.
pub struct TargetView {
    pub discovered_labels: LabelSet,
    pub labels: LabelSet,
    pub job: String,
    pub url: String,
    pub last_error: String,
    pub last_scrape_ms: i64,
    pub last_scrape_duration_s: f64,
    pub health: String,
    pub interval_secs: u64,
    pub timeout_secs: u64,
}

/// What remote_write stored and refused of one request.
pub struct RemoteWriteOutcome {
    pub appended: usize,
    pub histograms_dropped: usize,
}

/// The series store's head and cardinality, as `/api/v1/status/tsdb` reports them.
pub struct TsdbStatus {
    pub head_series: usize,
    pub label_pairs: usize,
    pub head_chunks: usize,
    pub head_min_time: i64,
    pub head_max_time: i64,
    pub metrics: Vec<(String, usize)>,
    pub labels: Vec<(String, usize)>,
    /// Bytes of each label's values, largest first.
    pub label_memory: Vec<(String, usize)>,
    pub label_pairs_by_count: Vec<(String, usize)>,
}

/// A series selector (`up{job="x"}`) as the `match[]` parameters give them.
pub fn parse_selector(selector: &str) -> Result<Vec<LabelMatcher>, MetricsError> {
    Ok(pharos_promql::parse_selector(selector)?)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, MetricsError> + Send + 'static,
) -> Result<T, MetricsError> {
    crate::blocking(f)
        .await
        .map_err(|e| MetricsError::Internal(e.to_string()))?
}

impl App {
    pub fn metrics(&self) -> Result<Arc<Metrics>, MetricsError> {
        self.metrics_store.clone().ok_or(MetricsError::Disabled)
    }

    pub async fn instant_query(
        &self,
        query: String,
        at_ms: i64,
    ) -> Result<QueryResult, MetricsError> {
        let m = self.metrics()?;
        let slot = m.queries.admit().await?;
        // The slot goes into the blocking task: a client that hangs up does not stop the
        // evaluation, so its slot stays taken until the evaluation ends.
        blocking(move || {
            let _slot = slot;
            Ok(m.engine.instant_query(m.db.as_ref(), &query, at_ms)?)
        })
        .await
    }

    pub async fn range_query(
        &self,
        query: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, MetricsError> {
        let m = self.metrics()?;
        let slot = m.queries.admit().await?;
        blocking(move || {
            let _slot = slot;
            Ok(m.engine
                .range_query(m.db.as_ref(), &query, start_ms, end_ms, step_ms)?)
        })
        .await
    }

    /// The series matching any of the selectors in `[start, end]`, at most `limit`.
    pub async fn series(
        &self,
        selectors: Vec<Vec<LabelMatcher>>,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
    ) -> Result<Vec<LabelSet>, MetricsError> {
        let m = self.metrics()?;
        blocking(move || {
            let mut all = BTreeSet::new();
            for ms in selectors {
                all.extend(
                    m.db.series(&ms, start_ms, end_ms)
                        .map_err(|e| MetricsError::Execution(e.to_string()))?,
                );
            }
            Ok(all.into_iter().take(limit.unwrap_or(usize::MAX)).collect())
        })
        .await
    }

    /// Label names (`label` is `None`) or one label's values among the series matching
    /// any selector (every series when there is none).
    pub async fn label_values(
        &self,
        label: Option<String>,
        selectors: Vec<Vec<LabelMatcher>>,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
    ) -> Result<Vec<String>, MetricsError> {
        let m = self.metrics()?;
        blocking(move || {
            let selectors = if selectors.is_empty() {
                vec![vec![]]
            } else {
                selectors
            };
            let mut all = BTreeSet::new();
            for ms in selectors {
                let r = match &label {
                    None => m.db.label_names(&ms, start_ms, end_ms),
                    Some(n) => m.db.label_values(n, &ms, start_ms, end_ms),
                };
                all.extend(r.map_err(|e| MetricsError::Execution(e.to_string()))?);
            }
            Ok(all.into_iter().take(limit.unwrap_or(usize::MAX)).collect())
        })
        .await
    }

    /// What scrape targets and pushers declared of each metric family.
    pub fn metric_metadata(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
    ) -> Result<BTreeMap<String, Vec<MetricMetadata>>, MetricsError> {
        Ok(self.metrics()?.scrape.metadata.list(metric, limit))
    }

    /// Every scrape target with its last scrape.
    pub fn scrape_targets(&self) -> Result<Vec<TargetView>, MetricsError> {
        Ok(self
            .metrics()?
            .scrape
            .targets()
            .iter()
            .map(|t| {
                let h = t.health.read().unwrap_or_else(|p| p.into_inner()).clone();
                TargetView {
                    discovered_labels: t.target.discovered.clone(),
                    labels: t.target.labels.clone(),
                    job: t.target.job.clone(),
                    url: t.target.url.clone(),
                    last_error: h.last_error,
                    last_scrape_ms: h.last_scrape_ms,
                    last_scrape_duration_s: h.last_scrape_duration_s,
                    health: h.health.to_string(),
                    interval_secs: t.job.interval.as_secs(),
                    timeout_secs: t.job.timeout.as_secs(),
                }
            })
            .collect())
    }

    /// remote_write 1.0: valid samples are stored even when others in the request are
    /// refused; the refusals are then an error with the counts, as Prometheus's receiver
    /// answers (senders do not retry a 4xx).
    pub async fn remote_write(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<RemoteWriteOutcome, MetricsError> {
        let m = self.metrics()?;
        if content_type.is_some_and(|ct| ct.contains("io.prometheus.write.v2")) {
            return Err(MetricsError::Unsupported(
                "remote write 2.0 is not supported; configure protobuf_message: prometheus.WriteRequest".into(),
            ));
        }
        let decoded = pharos_ingest::prometheus::remote_write::decode(body)
            .map_err(|e| MetricsError::BadData(e.to_string()))?;
        let db = m.db.clone();
        let meta = m.scrape.metadata.clone();
        let (summary, first_error, rejected, histograms) = blocking(move || {
            for md in &decoded.metadata {
                // Pushers are not told apart: the latest push's declaration stands for all.
                meta.set(
                    &md.metric_family_name,
                    "remote_write",
                    MetricMetadata {
                        kind: md.kind_name().into(),
                        help: md.help.clone(),
                        unit: md.unit.clone(),
                    },
                );
            }
            let mut app = db.appender();
            let mut first_error: Option<String> = None;
            for s in &decoded.series {
                for x in &s.samples {
                    if let Err(e) = app.append(&s.labels, x.t, x.v) {
                        first_error.get_or_insert_with(|| format!("{e} (series {})", s.labels));
                    }
                }
            }
            let summary = app
                .commit()
                .map_err(|e| MetricsError::Internal(e.to_string()))?;
            Ok((
                summary,
                first_error,
                decoded.rejected,
                decoded.histograms_dropped,
            ))
        })
        .await?;
        let refused = summary.out_of_order
            + summary.duplicate
            + summary.out_of_bounds
            + summary.too_many_series;
        if refused > 0 || !rejected.is_empty() {
            let mut msg = format!("{} samples stored, {refused} refused", summary.appended);
            if let Some(e) = first_error {
                msg.push_str(&format!("; first: {e}"));
            }
            if let Some(r) = rejected.first() {
                msg.push_str(&format!("; {} series refused, first: {r}", rejected.len()));
            }
            return Err(MetricsError::BadData(msg));
        }
        if histograms > 0 {
            tracing::debug!(
                operation = "remote_write",
                histograms,
                "native histograms dropped"
            );
        }
        Ok(RemoteWriteOutcome {
            appended: summary.appended,
            histograms_dropped: histograms,
        })
    }

    /// The head's numbers and the `limit` largest of each cardinality list.
    pub async fn tsdb_status(&self, limit: usize) -> Result<TsdbStatus, MetricsError> {
        let m = self.metrics()?;
        blocking(move || {
            let db = m.db.as_ref();
            let st = db.stats();
            // One pass over the index: every label is needed for the pair count.
            let mut c = db.cardinality(usize::MAX);
            let all_labels = c.labels.clone();
            c.metrics.truncate(limit);
            c.labels.truncate(limit);
            c.label_pairs.truncate(limit);
            let pairs: usize = all_labels.iter().map(|(_, n)| n).sum();
            let (lo, hi) = (i64::MIN / 2, i64::MAX / 2);
            // Prometheus sums the bytes of each label's values; the store reports counts,
            // so the values are read for the labels with the most (bounded for huge sets).
            let mut memory: Vec<(String, usize)> = all_labels
                .iter()
                .take(200)
                .map(|(n, _)| {
                    let bytes = db
                        .label_values(n, &[], lo, hi)
                        .map(|v| v.iter().map(String::len).sum())
                        .unwrap_or(0);
                    (n.clone(), bytes)
                })
                .collect();
            memory.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            memory.truncate(limit);
            Ok(TsdbStatus {
                head_series: st.head_series,
                label_pairs: pairs,
                head_chunks: st.head_chunks,
                head_min_time: st.head_min_time.unwrap_or(0),
                head_max_time: st.head_max_time.unwrap_or(0),
                metrics: c.metrics,
                labels: c.labels,
                label_memory: memory,
                label_pairs_by_count: c.label_pairs,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_query_over_the_concurrency_limit_waits_then_times_out_in_the_queue() {
        let limit = QueryLimit::new(2, Duration::from_millis(100));
        let first = limit.admit().await.unwrap();
        let _second = limit.admit().await.unwrap();
        let started = std::time::Instant::now();
        let err = limit.admit().await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(err.kind(), "timeout");
        assert_eq!(err.to_string(), "query timed out in query queue");

        // A slot given back lets the next query in, even one already waiting.
        let waiting = tokio::spawn(async move {
            let limit = limit;
            limit.admit().await.map(|_| ())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        waiting.await.unwrap().unwrap();
    }
}
