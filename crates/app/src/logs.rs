//! Accepting a batch of log lines, the one path every log source ends in (Loki push,
//! OTLP, `POST /api/v1/logs`, the syslog listeners, Sentry SDK log items): redaction with
//! the error store's rules, the durable append, and the counters.

use std::sync::Arc;

use pharos_ingest::logs::redact;
use pharos_logs::LogStore;
use pharos_model::{DecodedLogs, RejectedLine};
use prometheus::{IntCounterVec, Opts, Registry};

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
