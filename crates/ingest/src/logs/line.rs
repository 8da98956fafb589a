//! The structure of one log line: a JSON record (python-json-logger, structlog and the
//! usual other spellings), logfmt, or a Python `logging` format line, read into a
//! [`LogEntry`]'s time, level, logger, message, trace id and fields. Also the raw-bytes
//! rules every line source shares: lossy UTF-8, the line length cap, `_pharos_warning`.
//!
//! One look at the first byte picks the one parser that can apply (`{` JSON, a digit an
//! `asctime`, `[` a bracketed prefix, a capital a level word, a lower-case letter logfmt),
//! so a line costs one parse, not one attempt per format. A line no parser recognises is
//! left exactly as it came.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use pharos_model::{LogEntry, LogLevel};
use serde_json::{Map, Number, Value};

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

/// `raw`: the line as written, the message when no key names one (else the record's JSON).
fn fill_from_record(entry: &mut LogEntry, mut record: Map<String, Value>, raw: Option<&str>) {
    let mut message = take_first(&mut record, &["message", "msg", "event", "@message"], |v| {
        Some(match v {
            Value::String(s) => s.clone(),
            Value::Null => return None,
            other => other.to_string(),
        })
    });
    if let Some(level) = take_first(
        &mut record,
        &[
            "levelname",
            "level",
            "severity",
            "lvl",
            "loglevel",
            "log.level",
            "levelno",
        ],
        level_of_value,
    ) {
        entry.level = Some(level);
    }
    if let Some(time) = take_first(
        &mut record,
        &[
            "timestamp",
            "@timestamp",
            "asctime",
            "time",
            "ts",
            "datetime",
            "created",
        ],
        time_of_value,
    ) {
        entry.time = time.settle(entry.time);
    }
    if let Some(logger) = take_first(
        &mut record,
        &["logger", "logger_name", "name", "log.logger"],
        |v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string),
    ) {
        entry.logger = Some(logger);
    }
    if let Some(trace) = take_first(
        &mut record,
        &[
            "trace_id",
            "traceId",
            "otelTraceID",
            "trace.id",
            "sentry_trace",
            "traceparent",
        ],
        |v| v.as_str().and_then(trace_id_of),
    ) {
        entry.trace_id = Some(trace);
    }
    let mut traceback = String::new();
    for key in [
        "exc_info",
        "exc_text",
        "exception",
        "stack_info",
        "stack_trace",
    ] {
        if let Some(Value::String(s)) = record.get(key) {
            let s = s.trim_end();
            // python-json-logger may write both exc_info and exc_text with the same text.
            if !s.is_empty() && !traceback.contains(s) {
                traceback.push('\n');
                traceback.push_str(s);
            }
            record.remove(key);
        }
    }
    if message.is_none() && traceback.is_empty() {
        // Nothing names the message: the record as written is the most useful text.
        message =
            Some(raw.map_or_else(|| Value::Object(record.clone()).to_string(), str::to_string));
    }
    let mut message = message.unwrap_or_default();
    if message.is_empty() && !traceback.is_empty() {
        traceback.remove(0);
    }
    message.push_str(&traceback);
    entry.message = message;
    for (k, v) in record {
        entry.fields.insert(k, v);
    }
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

fn parse_object(s: &str) -> Option<Map<String, Value>> {
    if !s.ends_with('}') {
        return None;
    }
    serde_json::from_str(s).ok()
}

/// Removes and converts the first of `keys` whose value `convert` accepts; keys it refuses
/// stay as fields.
fn take_first<T>(
    record: &mut Map<String, Value>,
    keys: &[&str],
    convert: impl Fn(&Value) -> Option<T>,
) -> Option<T> {
    for key in keys {
        if let Some(v) = record.get(*key)
            && let Some(out) = convert(v)
        {
            record.remove(*key);
            return Some(out);
        }
    }
    None
}

fn level_of_value(v: &Value) -> Option<LogLevel> {
    match v {
        Value::String(s) => LogLevel::parse(s),
        Value::Number(n) => LogLevel::from_python_number(u32::try_from(n.as_u64()?).ok()?),
        _ => None,
    }
}

fn time_of_value(v: &Value) -> Option<Stamp> {
    let zoned = |time| Stamp { time, zoned: true };
    match v {
        Value::String(s) => {
            let s = s.trim();
            if let Some((t, used)) = parse_timestamp(s)
                && used == s.len()
            {
                return Some(t);
            }
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return epoch(s.parse().ok()?).map(zoned);
            }
            None
        }
        Value::Number(n) => epoch(n.as_f64()?).map(zoned),
        _ => None,
    }
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by size (a
/// seconds value this large would be after the year 5000).
fn epoch(n: f64) -> Option<DateTime<Utc>> {
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    // f64 cannot hold nanoseconds of a current epoch; loggers write at most microseconds,
    // so the fraction is rounded to those.
    let (whole, fraction, unit_nanos) = if n < 1e11 {
        (n.floor(), n.fract() * 1e6, 1_000_000_000i64)
    } else if n < 1e14 {
        (n.floor(), n.fract() * 1e3, 1_000_000)
    } else if n < 1e17 {
        (n.floor(), 0.0, 1_000)
    } else {
        (n, 0.0, 1)
    };
    let nanos = (whole as i64)
        .checked_mul(unit_nanos)?
        .checked_add(fraction.round() as i64 * 1_000)?;
    Some(Utc.timestamp_nanos(nanos))
}

/// 32 hex digits from a trace id, a `sentry-trace` (`<trace>-<span>-<sampled>`) or a
/// `traceparent` (`00-<trace>-<span>-<flags>`) value.
fn trace_id_of(s: &str) -> Option<String> {
    let s = s.trim();
    let from_traceparent = if s.len() == 55 {
        s.strip_prefix("00-")
    } else {
        None
    };
    let s = from_traceparent.unwrap_or(s);
    let (candidate, rest) = (s.get(..32)?, &s[32..]);
    let ok = candidate.bytes().all(|b| b.is_ascii_hexdigit())
        && (rest.is_empty() || rest.starts_with('-'))
        // W3C: all zeros is no trace.
        && candidate.bytes().any(|b| b != b'0');
    ok.then(|| candidate.to_ascii_lowercase())
}

/// An ISO 8601 / `asctime` timestamp at the start of `s`: `2025-10-06 12:00:00,123`,
/// `2025-10-06T12:00:00.000Z`, `…+0000`, `… +00:00`. No zone means UTC. Returns the time
/// and the bytes used.
fn parse_timestamp(s: &str) -> Option<(Stamp, usize)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let (h, m, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let mut scale = 100_000_000u32;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let naive = date.and_hms_nano_opt(h, m, sec.min(59), nanos)?;
    let mut offset_secs = 0i32;
    let mut zoned = false;
    match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            zoned = true;
        }
        Some(b'+' | b'-') => {
            if let Some((off, used)) = parse_offset(&b[i..]) {
                offset_secs = off;
                i += used;
                zoned = true;
            }
        }
        // gunicorn writes `12:00:00 +0000`; `12:00:00 - name` is a separator, not a zone.
        Some(b' ') if matches!(b.get(i + 1), Some(b'+' | b'-')) => {
            if let Some((off, used)) = parse_offset(&b[i + 1..]) {
                offset_secs = off;
                i += 1 + used;
                zoned = true;
            }
        }
        _ => {}
    }
    let time = Utc.from_utc_datetime(&naive) - chrono::Duration::seconds(i64::from(offset_secs));
    Some((Stamp { time, zoned }, i))
}

/// A time read from a line, and whether the line said its zone. Python's default
/// `asctime` (`2025-10-06 12:00:00,123`) does not: it is the app's local time.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    time: DateTime<Utc>,
    zoned: bool,
}

impl Stamp {
    /// The instant to store, given the time the source vouches for (`reference`: when it
    /// was read or received). A zone-less time is taken as UTC, except when that would put
    /// it in the future: then the app's clock is east of UTC, and the zone offset (in
    /// quarter hours, as every zone's is) is taken out. West of UTC it cannot be told from
    /// an old line, so it stays UTC.
    fn settle(self, reference: DateTime<Utc>) -> DateTime<Utc> {
        if self.zoned {
            self.time
        } else {
            settle_zoneless(self.time, reference)
        }
    }
}

/// See [`Stamp::settle`]; also used for RFC 3164 syslog times, which have no zone either.
pub(crate) fn settle_zoneless(time: DateTime<Utc>, reference: DateTime<Utc>) -> DateTime<Utc> {
    const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;
    const MAX_OFFSET_MS: i64 = 14 * 3600 * 1000;
    const CLOCK_SLACK_MS: i64 = 2 * 60 * 1000;
    let ahead_ms = (time - reference).num_milliseconds();
    if ahead_ms <= CLOCK_SLACK_MS || ahead_ms > MAX_OFFSET_MS + CLOCK_SLACK_MS {
        return time;
    }
    let offset_ms = ((ahead_ms + QUARTER_HOUR_MS / 2) / QUARTER_HOUR_MS) * QUARTER_HOUR_MS;
    time - chrono::Duration::milliseconds(offset_ms)
}

/// `+HH:MM`, `+HHMM` or `+HH`; the offset in seconds east and the bytes used.
fn parse_offset(b: &[u8]) -> Option<(i32, usize)> {
    let sign = if b[0] == b'-' { -1 } else { 1 };
    let digit = |i: usize| {
        b.get(i)
            .filter(|d| d.is_ascii_digit())
            .map(|d| i32::from(d - b'0'))
    };
    let hours = digit(1)? * 10 + digit(2)?;
    let (minutes, used) = if b.get(3) == Some(&b':') {
        (digit(4)? * 10 + digit(5)?, 6)
    } else if let (Some(a), Some(c)) = (digit(3), digit(4)) {
        (a * 10 + c, 5)
    } else {
        (0, 3)
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60), used))
}

/// A level word as Python's `logging` and the usual servers print it. Single letters and
/// other spellings `LogLevel::parse` takes are left out: in free text they are words.
fn level_word(word: &str) -> Option<LogLevel> {
    let level = match word.to_ascii_uppercase().as_str() {
        "TRACE" => LogLevel::Trace,
        "DEBUG" => LogLevel::Debug,
        "INFO" => LogLevel::Info,
        "NOTICE" => LogLevel::Notice,
        "WARN" | "WARNING" => LogLevel::Warning,
        "ERROR" | "ERR" => LogLevel::Error,
        "CRITICAL" | "FATAL" | "CRIT" => LogLevel::Critical,
        _ => return None,
    };
    Some(level)
}

/// A level word as it leads a line: in capitals, as `%(levelname)s` writes it.
fn upper_level_word(word: &str) -> Option<LogLevel> {
    if word.len() > 8 || !word.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    level_word(word)
}

/// A logger name: `app.routes.leads`, `root`, `uvicorn.error`, `__main__`.
fn is_logger_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

/// `name: message` (seed 002's `app.monitoring: Slow request …`), else the whole text.
fn split_logger_colon(s: &str) -> (Option<&str>, &str) {
    if let Some((name, msg)) = s.split_once(": ")
        && is_logger_name(name)
    {
        return (Some(name), msg);
    }
    (None, s)
}

/// Lines that start with `asctime`: `%(asctime)s - %(name)s - %(levelname)s - %(message)s`
/// (seed 004, and seed 000's `- [%(filename)s:%(lineno)d] -` variant), `… [LEVEL]
/// name: message` (seed 002), `… LEVEL name: message`, loguru's `… | LEVEL | name:func:line
/// - message`, or a time and free text.
fn parse_time_led(s: &str) -> Option<Parsed<'_>> {
    let (time, used) = parse_timestamp(s)?;
    let rest = &s[used..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    let rest = rest.trim_start();
    let mut line = TextLine {
        time: Some(time),
        message: rest,
        ..TextLine::default()
    };
    if let Some(after) = rest.strip_prefix("- ") {
        parse_dash_separated(after, &mut line);
    } else if let Some(after) = rest.strip_prefix("| ") {
        parse_loguru(after, &mut line);
    } else if let Some(after) = rest.strip_prefix('[') {
        if let Some((word, msg)) = after.split_once(']')
            && let Some(level) = level_word(word.trim())
        {
            line.level = Some(level);
            (line.logger, line.message) = split_logger_colon(msg.trim_start());
        }
    } else if let Some((word, msg)) = rest.split_once(' ')
        && let Some(level) = upper_level_word(word)
    {
        line.level = Some(level);
        (line.logger, line.message) = split_logger_colon(msg.trim_start());
    } else if let Some(level) = upper_level_word(rest) {
        line.level = Some(level);
        line.message = "";
    }
    Some(Parsed::Text(line))
}

/// `name - LEVEL - [file.py:12] - message` or `LEVEL - message` after the time.
fn parse_dash_separated<'a>(s: &'a str, line: &mut TextLine<'a>) {
    let (first, rest) = s.split_once(" - ").unwrap_or((s, ""));
    if let Some(level) = upper_level_word(first) {
        line.level = Some(level);
        line.message = rest;
        return;
    }
    let (second, rest) = rest.split_once(" - ").unwrap_or((rest, ""));
    let Some(level) = upper_level_word(second) else {
        return;
    };
    if !is_logger_name(first) {
        return;
    }
    line.logger = Some(first);
    line.level = Some(level);
    line.message = rest;
    if let Some(loc) = rest.strip_prefix('[')
        && let Some((loc, msg)) = loc.split_once(']')
        && let Some((file, lineno)) = loc.rsplit_once(':')
        && let Ok(lineno) = lineno.parse::<u64>()
    {
        line.fields
            .push(("filename", Value::String(file.to_string())));
        line.fields.push(("lineno", Value::Number(lineno.into())));
        line.message = msg.strip_prefix(" - ").unwrap_or(msg.trim_start());
    }
}

/// loguru's default: `LEVEL    | module:function:42 - message`.
fn parse_loguru<'a>(s: &'a str, line: &mut TextLine<'a>) {
    let Some((word, rest)) = s.split_once('|') else {
        return;
    };
    let Some(level) = level_word(word.trim()) else {
        return;
    };
    line.level = Some(level);
    let rest = rest.trim_start();
    line.message = rest;
    if let Some((location, msg)) = rest.split_once(" - ") {
        let mut parts = location.rsplitn(3, ':');
        if let (Some(lineno), Some(function), Some(name)) =
            (parts.next(), parts.next(), parts.next())
            && let Ok(lineno) = lineno.parse::<u64>()
            && is_logger_name(name)
        {
            line.logger = Some(name);
            line.fields
                .push(("function", Value::String(function.to_string())));
            line.fields.push(("lineno", Value::Number(lineno.into())));
            line.message = msg;
        }
    }
}

/// Lines that start with a level word: logging's default `WARNING:root:message`,
/// uvicorn's `INFO:     127.0.0.1:5000 - "GET / HTTP/1.1" 200`, Django's `{levelname}
/// {asctime} {module} {message}`, a bare `ERROR something`.
fn parse_level_led(s: &str) -> Option<Parsed<'_>> {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_uppercase())
        .unwrap_or(s.len());
    let level = upper_level_word(&s[..end])?;
    let rest = &s[end..];
    let mut line = TextLine {
        level: Some(level),
        ..TextLine::default()
    };
    if let Some(after) = rest.strip_prefix(':') {
        if after.starts_with(' ') || after.is_empty() {
            line.message = after.trim_start();
            parse_access_log(line.message, &mut line.fields);
        } else if let Some((name, msg)) = after.split_once(':')
            && is_logger_name(name)
        {
            line.logger = Some(name);
            line.message = msg;
        } else {
            return None;
        }
    } else if let Some(after) = rest.strip_prefix(' ') {
        let after = after.trim_start();
        line.message = after;
        if after.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && let Some((time, used)) = parse_timestamp(after)
        {
            // Django's verbose format: the module follows the time.
            line.time = Some(time);
            let rest = after[used..].trim_start();
            line.message = rest;
            if let Some((module, msg)) = rest.split_once(' ')
                && is_logger_name(module)
            {
                line.fields
                    .push(("module", Value::String(module.to_string())));
                line.message = msg;
            }
        } else if let Some(after) = after.strip_prefix('[')
            && let Some((name, msg)) = after.split_once("] ")
            && is_logger_name(name)
        {
            line.logger = Some(name);
            line.message = msg;
        }
    } else if !rest.is_empty() {
        return None;
    }
    Some(Parsed::Text(line))
}

/// The request in uvicorn's access line `127.0.0.1:5000 - "GET /x HTTP/1.1" 200 OK`.
fn parse_access_log(s: &str, fields: &mut Vec<(&'static str, Value)>) {
    let Some((client, rest)) = s.split_once(" - \"") else {
        return;
    };
    let Some((request, rest)) = rest.split_once("\" ") else {
        return;
    };
    let mut parts = request.split(' ');
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return;
    };
    let status = rest.split(' ').next().and_then(|s| s.parse::<u16>().ok());
    let Some(status) = status else { return };
    if client.contains(' ') || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return;
    }
    fields.push(("client_addr", Value::String(client.to_string())));
    fields.push(("method", Value::String(method.to_string())));
    fields.push(("path", Value::String(path.to_string())));
    fields.push(("status_code", Value::Number(status.into())));
}

/// gunicorn's `[2025-10-06 12:00:00 +0000] [1234] [INFO] Starting gunicorn`, and any
/// `[LEVEL] message` / `[time] LEVEL message`.
fn parse_bracket_led(s: &str) -> Option<Parsed<'_>> {
    let mut line = TextLine::default();
    let mut rest = s;
    let mut any = false;
    while let Some(after) = rest.strip_prefix('[') {
        let Some((inner, next)) = after.split_once(']') else {
            break;
        };
        let inner = inner.trim();
        if line.time.is_none()
            && let Some((time, used)) = parse_timestamp(inner)
            && used == inner.len()
        {
            line.time = Some(time);
        } else if line.level.is_none()
            && let Some(level) = level_word(inner)
        {
            line.level = Some(level);
        } else if !inner.is_empty()
            && inner.len() <= 10
            && inner.bytes().all(|b| b.is_ascii_digit())
        {
            line.fields
                .push(("pid", Value::Number(inner.parse::<u64>().ok()?.into())));
        } else {
            break;
        }
        any = true;
        rest = next.trim_start();
    }
    if !any {
        return None;
    }
    if line.level.is_none()
        && let Some((word, msg)) = rest.split_once(' ')
        && let Some(level) = upper_level_word(word)
    {
        line.level = Some(level);
        rest = msg.trim_start();
    }
    line.message = rest;
    Some(Parsed::Text(line))
}

/// logfmt: `time=… level=info msg="…" user_id=123 duration_ms=45`. Every token must be a
/// `key=value` pair, so prose with an `=` in it is not taken apart. Unquoted numbers
/// become numbers.
fn parse_logfmt(s: &str) -> Option<Parsed<'_>> {
    let b = s.as_bytes();
    let mut map = Map::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' && b[i] != b'"' {
            i += 1;
        }
        if i == key_start || i == b.len() || b[i] != b'=' {
            return None;
        }
        let key = &s[key_start..i];
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            let (text, used) = logfmt_quoted(&s[i..])?;
            i += used;
            Value::String(text)
        } else {
            let start = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            logfmt_bare(&s[start..i])
        };
        map.insert(key.to_string(), value);
    }
    if map.is_empty() {
        return None;
    }
    // logfmt shares the JSON record's key names, so one mapping serves both.
    Some(Parsed::Record(map))
}

/// A quoted logfmt value from its opening quote; the text and the bytes used.
fn logfmt_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn logfmt_bare(v: &str) -> Value {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let numeric = digits.bytes().next().is_some_and(|b| b.is_ascii_digit())
        // Leading zeros (ids, zip codes) are text, as the writer meant them.
        && !(digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0."));
    if numeric {
        if let Ok(n) = v.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Some(n) = v.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::LogSource;
    use serde_json::json;

    fn received() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn entry(message: &str) -> LogEntry {
        let mut e = LogEntry::new("bot", LogSource::Http, received(), message);
        structure(&mut e);
        e
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_zoneless_asctime_ahead_of_its_arrival_is_local_time_east_of_utc() {
        // TZ=Europe/Moscow (+03:00): the app writes 03:22 local at 00:22 UTC.
        let received = at("2026-12-01T00:22:51Z");
        let mut e = LogEntry::new(
            "bot",
            LogSource::Http,
            received,
            "2026-12-01 03:22:50,123 - bot - INFO - hi",
        );
        structure(&mut e);
        assert_eq!(e.time, at("2026-12-01T00:22:50.123Z"));
        // With its zone it is taken as written, even far ahead.
        let mut e = LogEntry::new(
            "bot",
            LogSource::Http,
            received,
            r#"{"asctime": "2026-12-01T03:22:50+00:00", "message": "x"}"#,
        );
        structure(&mut e);
        assert_eq!(e.time, at("2026-12-01T03:22:50Z"));
        // An old zone-less line stays UTC.
        let mut e = LogEntry::new(
            "bot",
            LogSource::Http,
            received,
            "2026-11-30 20:00:00,000 - bot - INFO - old",
        );
        structure(&mut e);
        assert_eq!(e.time, at("2026-11-30T20:00:00Z"));
    }

    #[test]
    fn python_json_logger_shapes_from_the_seeds() {
        // Seed 003: fmt="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt with %z.
        let e = entry(
            r#"{"asctime": "2025-10-06T12:00:00+0200", "name": "app.orders", "levelname": "INFO", "message": "Order status update", "order_id": 42, "tenant_id": "t1", "old_status": "new", "new_status": "paid", "event": "order_status_change"}"#,
        );
        assert_eq!(e.time, at("2025-10-06T10:00:00Z"));
        assert_eq!(e.received, received());
        assert_eq!(e.logger.as_deref(), Some("app.orders"));
        assert_eq!(e.level, Some(LogLevel::Info));
        assert_eq!(e.message, "Order status update");
        // `event` is structlog's message only when nothing else names one.
        assert_eq!(e.fields["event"], "order_status_change");
        assert_eq!(e.fields["order_id"], 42);
        assert!(!e.fields.contains_key("asctime") && !e.fields.contains_key("levelname"));

        // Seed 001's JSON output, extras kept with their types.
        let e = entry(
            r#"{"timestamp": "2025-01-12T10:30:00.123Z", "level": "INFO", "message": "Order created", "tenant_id": "123e4567-e89b-12d3-a456-426614174000", "total": 99.99, "currency": "USD", "request_id": "req_abc123"}"#,
        );
        assert_eq!(e.time, at("2025-01-12T10:30:00.123Z"));
        assert_eq!(e.fields["total"], 99.99);
        assert_eq!(e.request_id(), Some("req_abc123"));
        assert_eq!(e.fields.len(), 4);

        // Seed 002's production JSON: a nested object stays nested.
        let e = entry(
            r#"{"timestamp": "2025-10-06T12:00:00.000Z", "level": "INFO", "logger": "app.routes.leads", "message": "Lead created successfully", "module": "leads", "function": "create_lead", "line": 45, "request": {"method": "POST", "path": "/api/leads", "remote_addr": "192.168.1.1", "user_agent": "Mozilla/5.0..."}}"#,
        );
        assert_eq!(e.logger.as_deref(), Some("app.routes.leads"));
        assert_eq!(e.fields["request"]["path"], "/api/leads");
        assert_eq!(e.fields["line"], 45);
        assert_eq!(e.fields["module"], "leads");

        // Seed 000: '%(timestamp)s %(level)s %(name)s %(message)s'.
        let e = entry(
            r#"{"timestamp": "2025-10-06 12:00:00,123", "level": "ERROR", "name": "bot.invoices", "message": "Failed to send invoice"}"#,
        );
        assert_eq!(e.time, at("2025-10-06T12:00:00.123Z"));
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.logger.as_deref(), Some("bot.invoices"));
        assert!(e.fields.is_empty());
    }

    #[test]
    fn json_tracebacks_trace_ids_and_other_spellings() {
        let e = entry(
            r#"{"asctime": "2025-10-06 12:00:00,123", "levelname": "ERROR", "name": "app", "message": "Failed to send message: boom", "exc_info": "Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in f\n    g()\nValueError: boom", "trace_id": "0AF7651916CD43DD8448EB211C80319C"}"#,
        );
        assert_eq!(
            e.message,
            "Failed to send message: boom\nTraceback (most recent call last):\n  File \"/app/x.py\", line 3, in f\n    g()\nValueError: boom"
        );
        assert_eq!(
            e.trace_id.as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert!(e.fields.is_empty());

        // structlog
        let e = entry(
            r#"{"event": "user logged in", "level": "warning", "timestamp": "2025-10-06T12:00:00.5Z", "user_id": 7, "sentry_trace": "771a43a4192642f0b136d5159a501700-b25e6b0c5de1f2a8-1"}"#,
        );
        assert_eq!(e.message, "user logged in");
        assert_eq!(e.level, Some(LogLevel::Warning));
        assert_eq!(
            e.trace_id.as_deref(),
            Some("771a43a4192642f0b136d5159a501700")
        );
        assert_eq!(e.fields["user_id"], 7);

        // msg / ts in epoch seconds and milliseconds / severity / lvl / logger_name.
        let e = entry(r#"{"msg":"m","ts":1759752000.25,"severity":"ERROR","logger_name":"a"}"#);
        assert_eq!(e.time, at("2025-10-06T12:00:00.25Z"));
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.logger.as_deref(), Some("a"));
        let e = entry(r#"{"msg":"m","ts":1759752000250,"lvl":"debug","@timestamp":"bad"}"#);
        assert_eq!(e.time, at("2025-10-06T12:00:00.25Z"));
        assert_eq!(e.level, Some(LogLevel::Debug));
        // A value that is no time stays a field rather than being lost.
        assert_eq!(e.fields["@timestamp"], "bad");
        let e = entry(r#"{"@timestamp":"2025-10-06T12:00:00+00:00","message":"x","levelno":40}"#);
        assert_eq!(e.level, Some(LogLevel::Error));
        // An invalid trace id is kept as a field.
        let e = entry(r#"{"message":"x","trace_id":"abc"}"#);
        assert_eq!(e.trace_id, None);
        assert_eq!(e.fields["trace_id"], "abc");
    }

    #[test]
    fn source_level_stays_unless_the_line_states_one() {
        let mut e = LogEntry::new("bot", LogSource::Syslog, received(), "plain words");
        e.level = Some(LogLevel::Error);
        structure(&mut e);
        assert_eq!(e.level, Some(LogLevel::Error));
        let mut e = LogEntry::new("bot", LogSource::Syslog, received(), "INFO:root:fine");
        e.level = Some(LogLevel::Error);
        structure(&mut e);
        assert_eq!(e.level, Some(LogLevel::Info));
        assert_eq!(e.message, "fine");
    }

    #[test]
    fn python_logging_formats_from_the_seeds() {
        // Seed 004: "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
        let e = entry("2025-10-06 12:00:00,123 - bot.handlers - WARNING - Insufficient balance");
        assert_eq!(e.time, at("2025-10-06T12:00:00.123Z"));
        assert_eq!(e.logger.as_deref(), Some("bot.handlers"));
        assert_eq!(e.level, Some(LogLevel::Warning));
        assert_eq!(e.message, "Insufficient balance");
        assert!(e.fields.is_empty());
        // Seed 000: with [%(filename)s:%(lineno)d].
        let e = entry(
            "2025-10-06 12:00:00,123 - __main__ - ERROR - [bot.py:87] - Webhook timeout - retrying",
        );
        assert_eq!(e.logger.as_deref(), Some("__main__"));
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.message, "Webhook timeout - retrying");
        assert_eq!(e.fields["filename"], "bot.py");
        assert_eq!(e.fields["lineno"], 87);
        // Seed 002, development console and slow requests.
        let e = entry(
            "2025-10-06 12:00:00 [INFO] app.routes.leads: Lead created successfully | POST /api/leads",
        );
        assert_eq!(e.time, at("2025-10-06T12:00:00Z"));
        assert_eq!(e.level, Some(LogLevel::Info));
        assert_eq!(e.logger.as_deref(), Some("app.routes.leads"));
        assert_eq!(e.message, "Lead created successfully | POST /api/leads");
        let e = entry(
            "2025-10-06 12:00:00 [WARNING] app.monitoring: Slow request detected: /api/leads/statistics took 1.45s",
        );
        assert_eq!(e.level, Some(LogLevel::Warning));
        assert_eq!(e.logger.as_deref(), Some("app.monitoring"));
        assert_eq!(
            e.message,
            "Slow request detected: /api/leads/statistics took 1.45s"
        );
        // Seed 001's Django verbose format.
        let e = entry("WARNING 2025-10-06 12:00:00,123 views Rate limit approaching for tenant 5");
        assert_eq!(e.level, Some(LogLevel::Warning));
        assert_eq!(e.time, at("2025-10-06T12:00:00.123Z"));
        assert_eq!(e.fields["module"], "views");
        assert_eq!(e.message, "Rate limit approaching for tenant 5");
        // logging's default format.
        let e = entry("WARNING:root:Database connection lost");
        assert_eq!(
            (e.level, e.logger.as_deref()),
            (Some(LogLevel::Warning), Some("root"))
        );
        assert_eq!(e.message, "Database connection lost");
        // uvicorn
        let e = entry(r#"INFO:     127.0.0.1:5000 - "GET / HTTP/1.1" 200"#);
        assert_eq!(e.level, Some(LogLevel::Info));
        assert_eq!(e.message, r#"127.0.0.1:5000 - "GET / HTTP/1.1" 200"#);
        assert_eq!(e.fields["status_code"], 200);
        assert_eq!(e.fields["path"], "/");
        let e = entry("INFO:     Application startup complete.");
        assert_eq!(e.message, "Application startup complete.");
        assert!(e.fields.is_empty());
        // A bare level prefix.
        let e = entry("ERROR something broke");
        assert_eq!(
            (e.level, e.message.as_str()),
            (Some(LogLevel::Error), "something broke")
        );
        // gunicorn
        let e = entry("[2025-10-06 12:00:00 +0200] [1234] [INFO] Starting gunicorn 21.2.0");
        assert_eq!(e.time, at("2025-10-06T10:00:00Z"));
        assert_eq!(e.level, Some(LogLevel::Info));
        assert_eq!(e.fields["pid"], 1234);
        assert_eq!(e.message, "Starting gunicorn 21.2.0");
        // loguru
        let e = entry("2025-10-06 12:00:00.123 | ERROR    | app.jobs:run:42 - Queue full");
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.logger.as_deref(), Some("app.jobs"));
        assert_eq!(e.message, "Queue full");
        // ISO time with a zone, then free text.
        let e = entry("2025-10-06T12:00:00.5-03:00 worker started");
        assert_eq!(e.time, at("2025-10-06T15:00:00.5Z"));
        assert_eq!(e.message, "worker started");
    }

    #[test]
    fn a_traceback_after_the_first_line_stays_in_the_message() {
        let text = "2025-10-06 12:00:00,123 - app - ERROR - Failed\nTraceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nZeroDivisionError: division by zero";
        let e = entry(text);
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(
            e.message,
            "Failed\nTraceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nZeroDivisionError: division by zero"
        );
    }

    #[test]
    fn logfmt() {
        let e = entry(
            r#"time=2025-10-06T12:00:00Z level=info msg="user \"x\" logged in" user_id=123 duration_ms=45.5 zip=01234"#,
        );
        assert_eq!(e.time, at("2025-10-06T12:00:00Z"));
        assert_eq!(e.level, Some(LogLevel::Info));
        assert_eq!(e.message, "user \"x\" logged in");
        assert_eq!(e.fields["user_id"], 123);
        assert_eq!(e.fields["duration_ms"], 45.5);
        assert_eq!(e.fields["zip"], "01234");
        // No message key: the line stays the message, the pairs are fields.
        let e = entry("at=info method=GET path=/ status=200");
        assert_eq!(e.message, "at=info method=GET path=/ status=200");
        assert_eq!(e.fields["status"], 200);
    }

    #[test]
    fn unknown_text_is_kept_exactly() {
        for text in [
            "Retrying in 5s with x=1",
            "I went home",
            "  indented text ",
            "{not json}",
            "[not a time] hello",
            "Error connecting to db",
            "INFORMATIVE: x",
            "2025-10-06 is a date",
            "{\"a\": 1",
            "",
            "привет мир",
        ] {
            let e = entry(text);
            assert_eq!(e.message, text);
            assert!(e.fields.is_empty(), "{text}: {:?}", e.fields);
            assert_eq!((e.level, e.time), (None, received()), "{text}");
        }
        // A JSON object without a message key keeps its text.
        let e = entry(r#"{"a": 1, "level": "info"}"#);
        assert_eq!(e.message, r#"{"a": 1, "level": "info"}"#);
        assert_eq!(e.fields["a"], 1);
    }

    #[test]
    fn raw_bytes_and_warnings() {
        assert_eq!(text_from_bytes(b"ok"), ("ok".to_string(), None));
        let (t, w) = text_from_bytes(b"bad \xff byte");
        assert_eq!(t, "bad \u{fffd} byte");
        assert_eq!(w, Some(WARNING_INVALID_UTF8));
        let mut long = "a".repeat(MAX_LINE_BYTES - 1).into_bytes();
        long.extend_from_slice("é tail".as_bytes());
        let (t, w) = text_from_bytes(&long);
        assert_eq!(t.len(), MAX_LINE_BYTES - 1);
        assert_eq!(w, Some(WARNING_TRUNCATED));
        long.push(0xff);
        assert_eq!(
            text_from_bytes(&long).1,
            Some(WARNING_INVALID_UTF8_TRUNCATED)
        );
        let mut e = LogEntry::new("s", LogSource::Http, received(), "m");
        note_warning(&mut e, WARNING_INVALID_UTF8);
        note_warning(&mut e, WARNING_INVALID_UTF8);
        note_warning(&mut e, "other");
        assert_eq!(
            e.fields[WARNING_FIELD],
            json!(format!("{WARNING_INVALID_UTF8}; other"))
        );
    }

    /// `cargo test --release -p pharos-ingest logs::line -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark: prints lines/s"]
    fn structure_throughput() {
        let lines: Vec<String> = (0..100_000)
            .map(|i| {
                format!(
                    r#"{{"asctime": "2025-10-06 12:00:{:02},{:03}", "name": "app.routes.leads", "levelname": "INFO", "message": "Lead created successfully for customer {i}", "lead_id": {i}, "request_id": "req_{i:08x}", "duration_ms": {}.5, "request": {{"method": "POST", "path": "/api/leads"}}}}"#,
                    i % 60,
                    i % 1000,
                    i % 300
                )
            })
            .collect();
        let json_lines = lines.clone();
        for (name, lines) in [
            ("json", lines),
            (
                "asctime text",
                (0..100_000)
                    .map(|i| format!("2025-10-06 12:00:00,123 - bot.handlers - INFO - User {i} balance checked"))
                    .collect(),
            ),
        ] {
            let start = std::time::Instant::now();
            let mut levels = 0;
            for line in &lines {
                let mut e = LogEntry::new("bot", LogSource::Http, received(), line.as_str());
                structure(&mut e);
                levels += usize::from(e.level.is_some());
            }
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(levels, lines.len());
            println!("{name}: {:.0} lines/s", lines.len() as f64 / secs);
        }
        // What every source pays per line: structure, then redaction.
        let scrubber = crate::sentry::scrub::Scrubber::default();
        let start = std::time::Instant::now();
        for line in &json_lines {
            let mut e = LogEntry::new("bot", LogSource::Http, received(), line.as_str());
            structure(&mut e);
            crate::logs::redact::redact(&mut e, &scrubber);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "json + redact: {:.0} lines/s",
            json_lines.len() as f64 / secs
        );
    }
}
