//! The evaluators' error: what can stop an evaluator from recording what it found.

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error(transparent)]
    Store(#[from] pharos_store::StoreError),
    #[error("evaluator task failed: {0}")]
    Task(String),
}
