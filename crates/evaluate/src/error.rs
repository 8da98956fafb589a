//! The evaluators' error: what can stop an evaluator from recording what it found, and
//! what their config refuses.

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error(transparent)]
    Store(#[from] pharos_store::StoreError),
    #[error("evaluator task failed: {0}")]
    Task(String),
    #[error("a rule file pattern must not be empty")]
    EmptyRuleFilePattern,
    #[error("invalid rule file pattern {pattern:?}: {source}")]
    RuleFilePattern {
        pattern: String,
        source: glob::PatternError,
    },
}
