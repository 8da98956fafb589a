//! Line structure tests on the seed lines: JSON records, Python `logging` formats, logfmt,
//! text left alone, and the raw-bytes rules.

use chrono::{DateTime, Utc};
use pharos_model::LogSource;
use serde_json::json;

use super::*;

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
                .map(|i| {
                    format!(
                        "2025-10-06 12:00:00,123 - bot.handlers - INFO - User {i} balance checked"
                    )
                })
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
