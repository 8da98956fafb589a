//! The crate's errors: [`TemplateError`] places a parse or execution failure in the
//! template text, [`FuncError`] is why a template function failed. The messages follow
//! Go's and Prometheus's, so an annotation that fails reads as it would there.

use pharos_model::duration::DurationError;

/// A parse or execution error at a place in the template text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("template: {name}:{line}:{column}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Why a template function failed; the executor reports it as `error calling <name>: …`
/// at the call's position.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum FuncError {
    #[error("wrong number of args for {name}: want {want} got {got}")]
    Arity {
        name: String,
        want: usize,
        got: usize,
    },
    #[error("wrong number of args for {0}: want at least 1 got 0")]
    NoArgs(&'static str),
    #[error("wrong type for value; expected {expected}; got {got}")]
    WrongType {
        expected: &'static str,
        got: &'static str,
    },
    #[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
    ParseFloat(String),
    #[error("can't convert {0} to float")]
    NotNumber(&'static str),
    #[error("sample has no field {0}")]
    NoField(String),
    #[error("len of type {0}")]
    Len(&'static str),
    #[error("index out of range: {0}")]
    IndexOutOfRange(String),
    #[error("can't index item of type {item} with {key}")]
    CantIndex {
        item: &'static str,
        key: &'static str,
    },
    #[error("invalid slice index")]
    InvalidSliceIndex,
    #[error("can't slice item of type {0}")]
    CantSlice(&'static str),
    #[error("missing argument for comparison")]
    MissingComparand,
    #[error("invalid type for comparison")]
    InvalidComparison,
    #[error("incompatible types for comparison")]
    IncompatibleComparison,
    #[error("call is not supported in rule templates")]
    CallUnsupported,
    /// The host's query failed; its message is shown as it is.
    #[error("{0}")]
    Query(String),
    #[error("first() called on vector with no elements")]
    EmptyVector,
    #[error("sortByLabel needs a query result")]
    SortNeedsQueryResult,
    #[error("regexp: {0}")]
    Regexp(#[from] regex::Error),
    #[error("{0} is not a valid timestamp")]
    InvalidTimestamp(String),
    #[error("{0} cannot be represented as a nanoseconds timestamp since it overflows int64")]
    TimestampOverflow(String),
    #[error("timestamp out of range")]
    TimestampOutOfRange,
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error("function {0:?} not defined")]
    NotDefined(String),
}

/// An error at byte offset `at` of `src`, as `line:column` (the column counts characters).
pub(crate) fn error_at(name: &str, src: &str, at: usize, message: String) -> TemplateError {
    let at = at.min(src.len());
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TemplateError {
        name: name.to_string(),
        line,
        column,
        message,
    }
}
