//! The store's error type: failed I/O, named by what the store was doing when it failed,
//! and data on disk that does not decode.

#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("corrupt data in {path}: {message}")]
    Corrupt { path: String, message: String },
    #[error("the store is closed")]
    Closed,
}

/// Wraps an I/O error for `map_err` with the step that failed, since the bare OS error
/// does not say which file or operation it came from.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> TsdbError {
    let context = context.into();
    move |source| TsdbError::Io { context, source }
}
