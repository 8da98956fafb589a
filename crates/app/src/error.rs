//! The one error every operation returns. It says what went wrong in the caller's terms
//! (invalid input and which field, not found, a conflict, over a limit); the HTTP edge
//! decides the status from it in one place, a listener logs it.

use pharos_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input is wrong; `field` names the part at fault when there is one.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    /// The operation contradicts what is there (a config monitor changed through the API,
    /// a name already taken).
    #[error("{0}")]
    Conflict(String),
    /// No credential, or one that is not valid for this target.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid credential that does not allow this operation.
    #[error("{0}")]
    Forbidden(String),
    /// What the caller holds has expired (a signed link).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedEncoding(String),
    /// Over a quota; the caller may try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// A store is busy or could not take the write; trying again may work.
    #[error("{0}")]
    Unavailable(String),
    /// Switched off in the config (metrics, logs).
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: None,
            message: message.into(),
        }
    }

    /// An invalid `field`: the message is prefixed with the field's name, as config
    /// errors are.
    pub fn invalid_field(field: impl Into<String>, message: impl std::fmt::Display) -> AppError {
        let field = field.into();
        AppError::Invalid {
            message: format!("{field}: {message}"),
            field: Some(field),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(what),
            StoreError::Conflict(msg) => AppError::Conflict(msg),
            other => {
                tracing::error!(operation = "store", error_type = "store", error = %other, "store error");
                AppError::Internal(format!("storage error: {other}"))
            }
        }
    }
}
