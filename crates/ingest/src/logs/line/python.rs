//! Python `logging` format lines and their kin: lines led by an `asctime`, a level word
//! or a bracketed prefix (logging's defaults, loguru, uvicorn, Django, gunicorn).

use pharos_model::LogLevel;
use serde_json::Value;

use super::time::parse_timestamp;
use super::{Parsed, TextLine};

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
pub(super) fn parse_time_led(s: &str) -> Option<Parsed<'_>> {
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
pub(super) fn parse_level_led(s: &str) -> Option<Parsed<'_>> {
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
pub(super) fn parse_bracket_led(s: &str) -> Option<Parsed<'_>> {
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
