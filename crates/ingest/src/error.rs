//! What ingest refuses from a config or a sender before any record is made.

use crate::prometheus::relabel::Action;

/// A relabelling rule, Loki stream labels or a scrubbing pattern that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    // The relabelling messages are Prometheus's, so a rule refused there reads the same here.
    #[error(
        "relabel configuration for {} action requires 'target_label' value",
        .action.name()
    )]
    RelabelTargetLabel { action: Action },
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    RelabelModulus,
    #[error(
        "relabel configuration for {} action requires 'source_labels' value",
        .action.name()
    )]
    RelabelSourceLabels { action: Action },
    #[error(
        "{} action requires only 'source_labels' and `target_label`, and no other fields",
        .action.name()
    )]
    RelabelOnlyLabels { action: Action },
    #[error("{} action requires only 'regex', and no other fields", .action.name())]
    RelabelOnlyRegex { action: Action },
    /// Stream labels in Prometheus syntax that do not read; `labels` as sent.
    #[error("labels {labels:?}: {reason}")]
    Labels { labels: String, reason: String },
    /// An extra scrubbing pattern from the config that does not compile.
    #[error("pattern {pattern:?}: {source}")]
    ScrubPattern {
        pattern: String,
        source: regex::Error,
    },
}
