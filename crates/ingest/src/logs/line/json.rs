//! JSON log records (python-json-logger, structlog and the usual other spellings): the
//! keys that name the time, level, logger, message and trace id, and the fields that
//! remain.

use chrono::{DateTime, TimeZone, Utc};
use pharos_model::{LogEntry, LogLevel};
use serde_json::{Map, Value};

use super::time::{Stamp, parse_timestamp};

/// `raw`: the line as written, the message when no key names one (else the record's JSON).
pub(super) fn fill_from_record(
    entry: &mut LogEntry,
    mut record: Map<String, Value>,
    raw: Option<&str>,
) {
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

pub(super) fn parse_object(s: &str) -> Option<Map<String, Value>> {
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
