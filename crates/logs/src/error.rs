//! What can go wrong in the log store, one enum for every public call.

use std::path::PathBuf;

use crate::query::QueryError;

#[derive(Debug, thiserror::Error)]
pub enum LogStoreError {
    #[error("log store i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("log index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("log index directory: {0}")]
    IndexDirectory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("bad search: {0}")]
    Query(#[from] QueryError),
    #[error("bad cursor {0:?}: pass back the next_cursor of a previous page")]
    BadCursor(String),
    #[error("bad log id {0:?}")]
    BadId(String),
    #[error("the time range ends before it starts")]
    BadRange,
    #[error("the log store is shut down")]
    Closed,
    #[error("log store: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Logql(#[from] crate::logql::LogqlError),
    /// A request the store refuses as asked (a step of zero, a range too fine).
    #[error("{0}")]
    BadRequest(String),
    /// A LogQL query over one of its bounds (lines read, series, candidates).
    #[error("{0}")]
    TooExpensive(String),
    #[error("the query took longer than {0:?}; narrow the selector or shorten the range")]
    Timeout(std::time::Duration),
}

impl LogStoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LogStoreError {
        LogStoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// Errors the caller caused (a 400), as opposed to the store failing (a 500).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            LogStoreError::Query(_)
                | LogStoreError::BadCursor(_)
                | LogStoreError::BadId(_)
                | LogStoreError::BadRange
                | LogStoreError::Logql(_)
                | LogStoreError::BadRequest(_)
                | LogStoreError::TooExpensive(_)
        )
    }
}
