//! The body of `POST /api/v1/logs` (also what `pharos ship` sends), for the service the
//! request names. JSON bodies (`application/x-ndjson`, `application/jsonl`,
//! `application/json`) are an array, one value, or one value per line, each an app's
//! JSON log record (an object) or one raw entry (a string, tracebacks included); any other
//! body is plain text, one entry per line with tracebacks kept together. A bad element is
//! rejected with its position and the rest kept.

use chrono::{DateTime, Utc};
use pharos_model::{DecodedLogs, LogEntry, LogSource, RejectedLine};
use serde_json::Value;

use super::line::{self, MAX_LINE_BYTES, WARNING_INVALID_UTF8, WARNING_TRUNCATED};
use super::multiline::{MAX_ENTRY_BYTES, MultilineGrouper};

/// Why an entry of many lines, or a record's message with its traceback, was cut.
pub const WARNING_ENTRY_TRUNCATED: &str = "entry longer than 1048576 bytes truncated";

/// Decodes one request body; `content_type` is the request's `Content-Type` header.
pub fn decode(
    body: &[u8],
    content_type: Option<&str>,
    service: &str,
    received: DateTime<Utc>,
) -> DecodedLogs {
    let decoder = Decoder {
        service,
        received,
        out: DecodedLogs::default(),
    };
    if is_json(content_type) {
        decoder.json(body)
    } else {
        decoder.text(body)
    }
}

fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json"
            | "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonl"
            | "application/jsonlines"
            | "application/x-jsonlines"
    ) || essence.ends_with("+json")
}

struct Decoder<'a> {
    service: &'a str,
    received: DateTime<Utc>,
    out: DecodedLogs,
}

impl Decoder<'_> {
    fn entry(&self, message: String) -> LogEntry {
        LogEntry::new(self.service, LogSource::Http, self.received, message)
    }

    fn reject(&mut self, position: String, reason: String) {
        self.out.rejected.push(RejectedLine { position, reason });
    }

    fn text(mut self, body: &[u8]) -> DecodedLogs {
        let mut grouper = MultilineGrouper::new();
        // Warnings of the lines in the entry being gathered.
        let mut warning: Option<&'static str> = None;
        for raw in body.split(|&b| b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let (text, line_warning) = line::text_from_bytes(raw);
            if let Some(done) = grouper.push(&text) {
                let done_warning = warning.take();
                self.push_text(done, done_warning);
            }
            if line_warning.is_some() {
                warning = line_warning;
            }
        }
        if let Some(done) = grouper.flush() {
            self.push_text(done, warning);
        }
        self.out
    }

    fn push_text(&mut self, text: String, warning: Option<&'static str>) {
        let mut entry = self.entry(text);
        line::structure(&mut entry);
        if let Some(w) = warning {
            line::note_warning(&mut entry, w);
        }
        self.out.entries.push(entry);
    }

    fn json(mut self, body: &[u8]) -> DecodedLogs {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let start = body.iter().position(|b| !b.is_ascii_whitespace());
        let Some(start) = start else { return self.out };
        // Positions count lines of the body as sent, blank lines skipped here included.
        let skipped_lines = count_lines(&body[..start]);
        let body = &body[start..];
        if body[0] == b'[' {
            match parse_lossy::<Vec<Value>>(body) {
                Ok((items, lossy)) => {
                    for (i, item) in items.into_iter().enumerate() {
                        self.element(item, format!("[{i}]"), lossy);
                    }
                }
                Err(e) => {
                    let line = skipped_lines + e.line();
                    self.reject(format!("line {line}"), format!("not a JSON array: {e}"));
                }
            }
            return self.out;
        }
        // One value (perhaps pretty-printed over many lines); an NDJSON body fails this
        // right after its first line, so trying costs one line.
        if let Ok((value, lossy)) = parse_lossy::<Value>(body) {
            self.element(value, "body".to_string(), lossy);
            return self.out;
        }
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let number = skipped_lines + i + 1;
            match parse_lossy::<Value>(raw) {
                Ok((value, lossy)) => self.element(value, format!("line {number}"), lossy),
                Err(e) => self.reject(format!("line {number}"), not_json(&e)),
            }
        }
        self.out
    }

    /// One element of a JSON body: a record, or a raw entry as a string.
    fn element(&mut self, value: Value, position: String, lossy: bool) {
        let mut entry = match value {
            Value::Object(record) => {
                let mut entry = self.entry(String::new());
                line::structure_record(&mut entry, record);
                if cap(&mut entry.message, MAX_ENTRY_BYTES) {
                    line::note_warning(&mut entry, WARNING_ENTRY_TRUNCATED);
                }
                entry
            }
            Value::String(mut text) => {
                let (limit, reason) = if text.contains('\n') {
                    (MAX_ENTRY_BYTES, WARNING_ENTRY_TRUNCATED)
                } else {
                    (MAX_LINE_BYTES, WARNING_TRUNCATED)
                };
                let truncated = cap(&mut text, limit);
                let mut entry = self.entry(text);
                line::structure(&mut entry);
                if truncated {
                    line::note_warning(&mut entry, reason);
                }
                entry
            }
            other => {
                let reason = format!(
                    "expected a JSON object (a log record) or a string (a log line), found {}",
                    kind(&other)
                );
                self.reject(position, reason);
                return;
            }
        };
        if lossy && entry_has_replacement(&entry) {
            line::note_warning(&mut entry, WARNING_INVALID_UTF8);
        }
        self.out.entries.push(entry);
    }
}

/// Parses JSON; invalid UTF-8 is replaced (and `true` returned) rather than refused, so a
/// stray byte costs a character, not the line.
fn parse_lossy<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, bool), serde_json::Error> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok((v, false)),
        Err(e) => match std::str::from_utf8(bytes) {
            Ok(_) => Err(e),
            Err(_) => {
                let text = String::from_utf8_lossy(bytes);
                serde_json::from_str(&text).map(|v| (v, true))
            }
        },
    }
}

fn not_json(e: &serde_json::Error) -> String {
    // Each NDJSON line is parsed alone, so serde's "line 1" would mislead.
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    format!("not JSON: {what} at column {}", e.column())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Cuts `text` to `limit` bytes at a character boundary; `true` when it was longer.
fn cap(text: &mut String, limit: usize) -> bool {
    if text.len() <= limit {
        return false;
    }
    let cut = text.floor_char_boundary(limit);
    text.truncate(cut);
    true
}

fn entry_has_replacement(entry: &LogEntry) -> bool {
    entry.message.contains('\u{fffd}')
        || entry
            .logger
            .as_deref()
            .is_some_and(|l| l.contains('\u{fffd}'))
        || entry
            .fields
            .values()
            .any(|v| v.to_string().contains('\u{fffd}'))
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::line::WARNING_FIELD;
    use pharos_model::LogLevel;

    fn received() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn run(body: &str, ct: Option<&str>) -> DecodedLogs {
        decode(body.as_bytes(), ct, "bot", received())
    }

    const TRACEBACK: &str = "Traceback (most recent call last):
  File \"/app/bot.py\", line 42, in handle
    balance = await get_balance(user_id)
decimal.InvalidOperation: [<class 'decimal.ConversionSyntax'>]";

    #[test]
    fn plain_text_groups_tracebacks_and_structures_each_entry() {
        let body = format!(
            "2025-10-06 12:00:00,123 - bot.handlers - INFO - User balance checked\n\
             2025-10-06 12:00:01,000 - bot.handlers - ERROR - Error handling request\n{TRACEBACK}\n\
             \n\
             WARNING:root:Duplicate update_id\n"
        );
        for ct in [None, Some("text/plain; charset=utf-8")] {
            let out = run(&body, ct);
            assert!(out.rejected.is_empty());
            assert_eq!(out.entries.len(), 3);
            let e = &out.entries[1];
            assert_eq!(e.source, LogSource::Http);
            assert_eq!(e.service, "bot");
            assert_eq!(e.level, Some(LogLevel::Error));
            assert_eq!(e.logger.as_deref(), Some("bot.handlers"));
            assert_eq!(e.message, format!("Error handling request\n{TRACEBACK}"));
            assert_eq!(
                e.time,
                "2025-10-06T12:00:01Z".parse::<DateTime<Utc>>().unwrap()
            );
            assert_eq!(e.received, received());
            assert_eq!(out.entries[2].message, "Duplicate update_id");
        }
    }

    #[test]
    fn ndjson_objects_and_strings_with_bad_lines_rejected_by_position() {
        let body = concat!(
            r#"{"timestamp": "2025-01-12T10:30:00.123Z", "level": "INFO", "message": "Order created", "request_id": "req_abc123"}"#,
            "\n",
            r#""2025-10-06 12:00:00 [WARNING] app.monitoring: Slow request detected: /api/leads/statistics took 1.45s""#,
            "\n",
            "not json\n",
            "\n",
            "42\n",
            r#""ERROR:app:boom\nTraceback (most recent call last):\n  File \"a.py\", line 1, in f\nValueError: x""#,
            "\r\n",
        );
        for ct in [
            "application/x-ndjson",
            "application/jsonl",
            "application/json",
        ] {
            let out = run(body, Some(ct));
            assert_eq!(out.entries.len(), 3, "{ct}");
            assert_eq!(out.entries[0].request_id(), Some("req_abc123"));
            assert_eq!(out.entries[1].logger.as_deref(), Some("app.monitoring"));
            assert_eq!(out.entries[1].level, Some(LogLevel::Warning));
            assert_eq!(
                out.entries[2].message,
                "boom\nTraceback (most recent call last):\n  File \"a.py\", line 1, in f\nValueError: x"
            );
            assert_eq!(out.rejected.len(), 2);
            assert_eq!(out.rejected[0].position, "line 3");
            assert!(
                out.rejected[0].reason.starts_with("not JSON: "),
                "{}",
                out.rejected[0].reason
            );
            assert_eq!(out.rejected[1].position, "line 5");
            assert!(out.rejected[1].reason.contains("found a number"));
        }
    }

    #[test]
    fn json_arrays_and_single_values() {
        let out = run(
            r#"[{"msg": "a", "lvl": "warn"}, "INFO:root:b", null, ["x"]]"#,
            Some("application/json"),
        );
        assert_eq!(out.entries.len(), 2);
        assert_eq!(out.entries[0].level, Some(LogLevel::Warning));
        assert_eq!(out.entries[1].message, "b");
        let positions: Vec<_> = out.rejected.iter().map(|r| r.position.as_str()).collect();
        assert_eq!(positions, ["[2]", "[3]"]);

        let pretty = "{\n  \"message\": \"one\",\n  \"level\": \"ERROR\"\n}\n";
        let out = run(pretty, Some("application/json"));
        assert_eq!((out.entries.len(), out.rejected.len()), (1, 0));
        assert_eq!(out.entries[0].message, "one");

        let out = run("\n[{\"message\": 1,}]", Some("application/json"));
        assert_eq!(out.entries.len(), 0);
        assert_eq!(out.rejected[0].position, "line 2");
        assert!(run("  \n", Some("application/json")) == DecodedLogs::default());
    }

    #[test]
    fn invalid_utf8_and_long_lines_are_kept_with_a_warning() {
        let mut body = b"ok line\nbad \xff byte\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        body.extend_from_slice(b"\nlast\n");
        let out = decode(&body, Some("text/plain"), "bot", received());
        assert_eq!(out.entries.len(), 4);
        assert!(!out.entries[0].fields.contains_key(WARNING_FIELD));
        assert_eq!(out.entries[1].message, "bad \u{fffd} byte");
        assert_eq!(out.entries[1].fields[WARNING_FIELD], WARNING_INVALID_UTF8);
        assert_eq!(out.entries[2].message.len(), MAX_LINE_BYTES);
        assert_eq!(out.entries[2].fields[WARNING_FIELD], WARNING_TRUNCATED);
        assert!(!out.entries[3].fields.contains_key(WARNING_FIELD));

        let body = b"{\"message\": \"caf\xe9\"}\n{\"message\": \"fine\"}\n";
        let out = decode(body, Some("application/x-ndjson"), "bot", received());
        assert_eq!(out.entries.len(), 2);
        assert_eq!(out.entries[0].message, "caf\u{fffd}");
        assert_eq!(out.entries[0].fields[WARNING_FIELD], WARNING_INVALID_UTF8);
        assert!(out.entries[1].fields.is_empty());

        let long = format!("[\"{}\"]", "y".repeat(MAX_LINE_BYTES + 1));
        let out = run(&long, Some("application/json"));
        assert_eq!(out.entries[0].message.len(), MAX_LINE_BYTES);
        assert_eq!(out.entries[0].fields[WARNING_FIELD], WARNING_TRUNCATED);
    }
}
