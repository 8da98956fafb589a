//! The structure of one log line: a JSON record (python-json-logger, structlog and the
//! usual other spellings), logfmt, or a Python `logging` format line, read into a
//! [`LogEntry`]'s time, level, logger, message, trace id and fields. Also the raw-bytes
//! rules every line source shares: lossy UTF-8, the line length cap, `_pharos_warning`.
//!
//! One look at the first byte picks the one parser that can apply (`{` JSON, a digit an
//! `asctime`, `[` a bracketed prefix, a capital a level word, a lower-case letter logfmt),
//! so a line costs one parse, not one attempt per format. A line no parser recognises is
//! left exactly as it came.

mod json;
mod logfmt;
mod python;
#[cfg(test)]
mod tests;
mod time;

use pharos_model::{LogEntry, LogLevel};
use serde_json::{Map, Value};

use json::{fill_from_record, parse_object};
use logfmt::parse_logfmt;
use python::{parse_bracket_led, parse_level_led, parse_time_led};
use time::Stamp;
pub(crate) use time::settle_zoneless;

/// Longest line kept whole; longer ones are cut at a character boundary.
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// Field that says what was done to a line on the way in (lossy UTF-8, truncation).
pub const WARNING_FIELD: &str = "_pharos_warning";

pub const WARNING_INVALID_UTF8: &str = "invalid UTF-8 replaced with U+FFFD";
pub const WARNING_TRUNCATED: &str = "line longer than 262144 bytes truncated";
pub const WARNING_INVALID_UTF8_TRUNCATED: &str =
    "invalid UTF-8 replaced with U+FFFD; line longer than 262144 bytes truncated";

/// Reads the structure of `entry.message` into the entry (see the module doc). Only the
/// first line is read as a format; the lines after it (a traceback) stay appended to the
/// message.
pub fn structure(entry: &mut LogEntry) {
    // Parsers borrow the text while they fill the entry; it goes back if none applied.
    let text = std::mem::take(&mut entry.message);
    if !structure_text(entry, &text) {
        entry.message = text;
    }
}

/// `true` when a parser applied and set the entry's message.
fn structure_text(entry: &mut LogEntry, text: &str) -> bool {
    let first_len = text.find('\n').unwrap_or(text.len());
    let first = text[..first_len].trim_end_matches('\r');
    let lead = first.trim_start();
    let Some(&b) = lead.as_bytes().first() else {
        return false;
    };
    let parsed = match b {
        b'{' => {
            // A pretty-printed record spans lines: try the whole text before the first line.
            let whole = text.trim();
            if let Some(record) = parse_object(whole) {
                fill_from_record(entry, record, Some(whole));
                return true;
            }
            if whole.len() == lead.len() {
                return false;
            }
            parse_object(lead).map(Parsed::Record)
        }
        b'0'..=b'9' => parse_time_led(lead),
        b'[' => parse_bracket_led(lead),
        b'A'..=b'Z' => parse_level_led(lead).or_else(|| parse_logfmt(lead)),
        b'a'..=b'z' | b'_' | b'@' => parse_logfmt(lead),
        _ => None,
    };
    let Some(parsed) = parsed else { return false };
    let rest = &text[first_len..];
    match parsed {
        Parsed::Record(record) => {
            fill_from_record(entry, record, Some(lead));
            entry.message.push_str(rest);
        }
        Parsed::Text(line) => {
            let message = format!("{}{rest}", line.message);
            apply_text(entry, line, message);
        }
    }
    true
}

/// Fills the entry from a JSON log record (an app's JSON line, or an object posted to
/// `/api/v1/logs`): the known keys become the entry's time, level, logger, message and
/// trace id, a traceback key is appended to the message, every other key is a field.
/// A record without a message key keeps its JSON text as the message.
pub fn structure_record(entry: &mut LogEntry, record: Map<String, Value>) {
    fill_from_record(entry, record, None)
}

/// The text of a raw line: invalid UTF-8 replaced, cut to [`MAX_LINE_BYTES`] at a character
/// boundary; the second value says why when either happened (for [`note_warning`]).
pub fn text_from_bytes(bytes: &[u8]) -> (String, Option<&'static str>) {
    let (mut text, lossy) = match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    };
    let truncated = truncate_to_limit(&mut text);
    let reason = match (lossy, truncated) {
        (false, false) => None,
        (true, false) => Some(WARNING_INVALID_UTF8),
        (false, true) => Some(WARNING_TRUNCATED),
        (true, true) => Some(WARNING_INVALID_UTF8_TRUNCATED),
    };
    (text, reason)
}

/// Cuts `text` to [`MAX_LINE_BYTES`] at a character boundary; `true` when it was longer.
pub fn truncate_to_limit(text: &mut String) -> bool {
    if text.len() <= MAX_LINE_BYTES {
        return false;
    }
    let cut = text.floor_char_boundary(MAX_LINE_BYTES);
    text.truncate(cut);
    true
}

/// Records `reason` in the entry's `_pharos_warning` field, after any earlier one.
pub fn note_warning(entry: &mut LogEntry, reason: &str) {
    let value = match entry.fields.get(WARNING_FIELD) {
        Some(Value::String(old)) if old.contains(reason) => return,
        Some(Value::String(old)) => format!("{old}; {reason}"),
        _ => reason.to_string(),
    };
    entry
        .fields
        .insert(WARNING_FIELD.to_string(), Value::String(value));
}

enum Parsed<'a> {
    Record(Map<String, Value>),
    Text(TextLine<'a>),
}

/// What a text format said; `None` parts were not in the line.
#[derive(Default)]
struct TextLine<'a> {
    time: Option<Stamp>,
    level: Option<LogLevel>,
    logger: Option<&'a str>,
    message: &'a str,
    fields: Vec<(&'static str, Value)>,
}

fn apply_text(entry: &mut LogEntry, line: TextLine<'_>, message: String) {
    if let Some(time) = line.time {
        entry.time = time.settle(entry.time);
    }
    if let Some(level) = line.level {
        entry.level = Some(level);
    }
    if let Some(logger) = line.logger {
        entry.logger = Some(logger.to_string());
    }
    for (k, v) in line.fields {
        entry.fields.insert(k.to_string(), v);
    }
    entry.message = message;
}
