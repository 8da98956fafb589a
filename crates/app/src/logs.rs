//! Accepting a batch of log lines, the one path every log source ends in (Loki push,
//! OTLP, `POST /api/v1/logs`, the syslog listeners, Sentry SDK log items): redaction with
//! the error store's rules, the durable append, and the counters.

use std::sync::Arc;

use pharos_ingest::logs::redact;
use pharos_logs::LogStore;
use pharos_model::{DecodedLogs, RejectedLine};
use prometheus::{IntCounterVec, Opts, Registry};

use crate::AppError;

/// Counters of what the ingest endpoints and listeners accepted and refused.
#[derive(Clone)]
pub struct LogIngestMetrics {
    lines: IntCounterVec,
    refused: IntCounterVec,
}

impl LogIngestMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<LogIngestMetrics> {
        let lines = IntCounterVec::new(
            Opts::new(
                "pharos_log_lines_received_total",
                "Log lines accepted for storage, by protocol (loki, otlp, http, syslog, sentry).",
            ),
            &["source"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "pharos_log_lines_refused_total",
                "Log lines refused as malformed, by protocol; the rest of their batch was kept.",
            ),
            &["source"],
        )?;
        registry.register(Box::new(lines.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        Ok(LogIngestMetrics { lines, refused })
    }
}

/// The log store with what every source needs before it: redaction with the error
/// store's rules, counting, and the log rules' status for `/api/v1/log_rules`.
pub struct Logs {
    pub store: Arc<LogStore>,
    pub rules: Option<Arc<pharos_evaluate::log_rules::LogRules>>,
    errors: Arc<crate::sentry::ErrorIngest>,
    metrics: LogIngestMetrics,
}

/// What became of one request's lines.
#[derive(Debug, Default)]
pub struct Accepted {
    pub stored: usize,
    pub rejected: Vec<RejectedLine>,
}

impl Logs {
    pub fn new(
        store: Arc<LogStore>,
        rules: Option<Arc<pharos_evaluate::log_rules::LogRules>>,
        errors: Arc<crate::sentry::ErrorIngest>,
        metrics: LogIngestMetrics,
    ) -> Logs {
        Logs {
            store,
            rules,
            errors,
            metrics,
        }
    }

    /// Redacts, stores (returning once durable), counts and logs refusals: the one path
    /// every log source ends in.
    pub async fn accept(
        &self,
        source: &'static str,
        mut decoded: DecodedLogs,
    ) -> Result<Accepted, pharos_logs::LogStoreError> {
        let scrubber = self.errors.scrubber();
        for e in &mut decoded.entries {
            redact::redact(e, &scrubber);
        }
        let stored = decoded.entries.len();
        let rejected = decoded.rejected;
        if !rejected.is_empty() {
            self.metrics
                .refused
                .with_label_values(&[source])
                .inc_by(rejected.len() as u64);
            tracing::warn!(
                operation = "log_ingest",
                source,
                accepted = stored,
                rejected = rejected.len(),
                "log lines refused: {} at {}",
                rejected[0].reason,
                rejected[0].position
            );
        }
        if stored > 0 {
            self.store.append(decoded.entries).await?;
            self.metrics
                .lines
                .with_label_values(&[source])
                .inc_by(stored as u64);
        }
        Ok(Accepted { stored, rejected })
    }
}

pub use pharos_logs::{
    FieldCount, Histogram, LogQuery, LogStoreStats, SearchPage, SearchRequest, StoredLog, TimeRange,
};

/// Decoded request bodies above this are refused (a batch, not a file upload).
pub const MAX_DECODED_BYTES: usize = 64 << 20;

/// The request a log push came with: what the body is and how it is compressed.
pub struct LogBody<'a> {
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub body: &'a [u8],
}

/// The answer to an OTLP export (`ExportLogsServiceResponse`, `ExportTraceServiceResponse`)
/// in the request's encoding.
pub struct OtlpAnswer {
    pub protobuf: bool,
    pub body: Vec<u8>,
}

pub(crate) fn store_error(e: pharos_logs::LogStoreError) -> AppError {
    if e.is_bad_request() {
        AppError::invalid(e.to_string())
    } else {
        AppError::Internal(format!("log store: {e}"))
    }
}

/// A store that cannot write (disk full, read-only, shutting down) is unavailable for
/// now, not broken: the client is told to retry, and the store recovers by itself.
fn refused_append(e: pharos_logs::LogStoreError) -> AppError {
    match e {
        pharos_logs::LogStoreError::Io { .. } | pharos_logs::LogStoreError::Closed => {
            AppError::Unavailable(format!("cannot store log lines now; try again: {e}"))
        }
        e => AppError::Internal(format!("cannot store log lines: {e}")),
    }
}

/// The search language, with errors naming the `q` field.
pub fn parse_query(q: Option<&str>) -> Result<LogQuery, AppError> {
    LogQuery::parse(q.unwrap_or("")).map_err(|e| AppError::invalid_field("q", e))
}

/// Undoes `Content-Encoding` (gzip, deflate, br, zstd) with a cap on the decoded size.
fn decode_body(body: &LogBody<'_>) -> Result<Vec<u8>, AppError> {
    pharos_ingest::sentry::body::decode(body.content_encoding, body.body, MAX_DECODED_BYTES)
        .map_err(|e| match e {
            pharos_ingest::sentry::body::BodyError::TooLarge { .. } => {
                AppError::TooLarge(e.to_string())
            }
            _ => AppError::invalid(e.to_string()),
        })
}

/// Runs log store work off the async threads.
async fn on_store<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, pharos_logs::LogStoreError> + Send + 'static,
) -> Result<T, AppError> {
    crate::blocking(f).await?.map_err(store_error)
}

impl crate::App {
    /// The log store's ingest path, or why there is none.
    pub fn logs(&self) -> Result<&Arc<Logs>, AppError> {
        self.logs.as_ref().ok_or_else(|| {
            AppError::Disabled(
                "the log store is not running (see the `logs:` section of the config)".into(),
            )
        })
    }

    async fn store_decoded(
        &self,
        source: &'static str,
        decoded: DecodedLogs,
    ) -> Result<Accepted, AppError> {
        self.logs()?
            .accept(source, decoded)
            .await
            .map_err(refused_append)
    }

    /// A Loki push (JSON, or snappy protobuf). A batch where nothing could be read is
    /// invalid; one where only some entries were refused is accepted with them listed.
    pub async fn accept_loki_push(&self, body: LogBody<'_>) -> Result<Accepted, AppError> {
        let received = chrono::Utc::now();
        let protobuf = body.content_type.unwrap_or("").contains("protobuf")
            || body
                .content_encoding
                .unwrap_or("")
                .eq_ignore_ascii_case("snappy");
        let decoded = if protobuf {
            // Loki's protobuf bodies are snappy block-compressed without saying so.
            pharos_ingest::logs::loki::decode_protobuf(body.body, received)
        } else {
            pharos_ingest::logs::loki::decode_json(&decode_body(&body)?, received)
        }
        .map_err(|e| AppError::invalid(e.to_string()))?;
        let accepted = self.store_decoded("loki", decoded).await?;
        if accepted.stored == 0 && !accepted.rejected.is_empty() {
            return Err(AppError::invalid(format!(
                "no entry could be stored: {} at {}",
                accepted.rejected[0].reason, accepted.rejected[0].position
            )));
        }
        Ok(accepted)
    }

    /// An OTLP/HTTP logs export (JSON or protobuf); refused records are reported in the
    /// answer as a partial success.
    pub async fn accept_otlp_logs(&self, body: LogBody<'_>) -> Result<OtlpAnswer, AppError> {
        use pharos_ingest::logs::otlp;
        let received = chrono::Utc::now();
        let raw = decode_body(&body)?;
        let protobuf = body.content_type.unwrap_or("").contains("protobuf");
        let decoded = if protobuf {
            otlp::decode_protobuf(&raw, received)
        } else {
            otlp::decode_json(&raw, received)
        }
        .map_err(|e| AppError::invalid(e.to_string()))?;
        let accepted = self.store_decoded("otlp", decoded).await?;
        let body = if protobuf {
            otlp::response_protobuf(&accepted.rejected)
        } else {
            serde_json::to_vec(&otlp::response_json(&accepted.rejected)).unwrap_or_default()
        };
        Ok(OtlpAnswer { protobuf, body })
    }

    /// Lines for one service as JSON lines, a JSON array or plain text.
    pub async fn accept_http_logs(
        &self,
        service: &str,
        body: LogBody<'_>,
    ) -> Result<Accepted, AppError> {
        let raw = decode_body(&body)?;
        let decoded = pharos_ingest::logs::http::decode(
            &raw,
            body.content_type,
            service.trim(),
            chrono::Utc::now(),
        );
        self.store_decoded("http", decoded).await
    }

    /// A page of matching lines, newest first.
    pub async fn search_logs(&self, req: SearchRequest) -> Result<SearchPage, AppError> {
        let store = self.logs()?.store.clone();
        on_store(move || store.search(&req)).await
    }

    /// Matching lines counted by a field's values, largest first.
    pub async fn count_logs_by(
        &self,
        query: LogQuery,
        range: TimeRange,
        field: String,
        limit: usize,
    ) -> Result<Vec<FieldCount>, AppError> {
        let store = self.logs()?.store.clone();
        on_store(move || store.count_by(&query, range, &field, limit)).await
    }

    /// Counts per time bucket, by level.
    pub async fn log_histogram(
        &self,
        query: LogQuery,
        range: TimeRange,
        buckets: usize,
    ) -> Result<Histogram, AppError> {
        let store = self.logs()?.store.clone();
        on_store(move || store.histogram(&query, range, buckets)).await
    }

    pub async fn log_entry(&self, id: String) -> Result<StoredLog, AppError> {
        let store = self.logs()?.store.clone();
        on_store(move || store.get(&id))
            .await?
            .ok_or_else(|| AppError::NotFound("no log entry with this id".into()))
    }

    pub fn log_stats(&self) -> Result<LogStoreStats, AppError> {
        Ok(self.logs()?.store.stats())
    }

    /// Each log rule with its state and recent matches.
    pub fn log_rule_status(
        &self,
    ) -> Result<Vec<pharos_evaluate::log_rules::LogRuleStatus>, AppError> {
        Ok(self
            .logs()?
            .rules
            .as_ref()
            .map(|r| r.status())
            .unwrap_or_default())
    }

    /// Every batch stored from now on, for a live tail.
    pub fn subscribe_logs(
        &self,
    ) -> Result<tokio::sync::broadcast::Receiver<Arc<Vec<pharos_model::LogEntry>>>, AppError> {
        Ok(self.logs()?.store.subscribe())
    }
}
