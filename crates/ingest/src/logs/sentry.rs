//! The `log` items of Sentry envelopes (`sentry_sdk.logger`, the SDK's `logging`
//! integration with `enable_logs`) as log entries, so they are searched with every other
//! line. The envelope has already been framed and scrubbed by the error store's
//! [`parse_logs`](crate::sentry::items::parse_logs); this only reshapes its records.

use chrono::{DateTime, Utc};
use pharos_model::{LogEntry, LogLevel, LogSource};
use serde_json::{Map, Value};

use super::line;
use crate::sentry::items::LogRecord;

/// Attributes that become the entry's logger and host rather than fields.
const LOGGER_ATTRIBUTE: &str = "logger.name";
/// What the SDK fills from `socket.gethostname()`: the machine, so the entry's host.
const HOST_ATTRIBUTE: &str = "server.address";
const RELEASE_ATTRIBUTE: &str = "sentry.release";
/// The field a record's `span_id` becomes, as OTLP records' and JSON lines' span ids do.
const SPAN_FIELD: &str = "span_id";

/// One entry per record. `project` is the Sentry project's name, the service when the
/// release does not name one (`myapp@1.2.3` names `myapp`; a bare commit hash does not).
pub fn to_entries(
    records: Vec<LogRecord>,
    project: &str,
    received: DateTime<Utc>,
) -> Vec<LogEntry> {
    records
        .into_iter()
        .map(|r| to_entry(r, project, received))
        .collect()
}

fn to_entry(record: LogRecord, project: &str, received: DateTime<Utc>) -> LogEntry {
    let mut fields = match record.payload {
        Value::Object(mut payload) => {
            let mut fields = match payload.remove("attributes") {
                Some(Value::Object(attributes)) => plain_attributes(attributes),
                _ => Map::new(),
            };
            // The span the line was logged in, which places it in the trace's waterfall.
            if let Some(Value::String(span)) = payload.remove("span_id")
                && span.len() == 16
                && span.bytes().all(|b| b.is_ascii_hexdigit())
            {
                fields.insert(SPAN_FIELD.into(), Value::String(span.to_ascii_lowercase()));
            }
            fields
        }
        _ => Map::new(),
    };
    let service = match fields.get(RELEASE_ATTRIBUTE).and_then(Value::as_str) {
        Some(release) => match release.split_once('@') {
            Some((name, _)) if !name.is_empty() => name.to_string(),
            _ => project.to_string(),
        },
        None => project.to_string(),
    };
    let (text, warning) = line::text_from_bytes(record.body.as_bytes());
    let mut entry = LogEntry::new(service, LogSource::Sentry, received, text);
    entry.time = record.timestamp;
    entry.level = LogLevel::parse(&record.level);
    entry.trace_id = record.trace_id.filter(|t| !t.is_empty());
    entry.logger = take_string(&mut fields, LOGGER_ATTRIBUTE);
    entry.host = take_string(&mut fields, HOST_ATTRIBUTE);
    entry.fields = fields;
    super::structure(&mut entry);
    if let Some(reason) = warning {
        line::note_warning(&mut entry, reason);
    }
    entry
}

/// `{"order": {"value": 1234, "type": "integer"}}` → `{"order": 1234}`; an attribute not
/// in that shape is kept as sent.
fn plain_attributes(attributes: Map<String, Value>) -> Map<String, Value> {
    attributes
        .into_iter()
        .map(|(k, v)| match v {
            Value::Object(mut typed) if typed.contains_key("value") => {
                let value = typed.remove("value").unwrap_or(Value::Null);
                (k, value)
            }
            other => (k, other),
        })
        .collect()
}

fn take_string(fields: &mut Map<String, Value>, key: &str) -> Option<String> {
    match fields.remove(key) {
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            fields.insert(key.to_string(), other);
            None
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::test_support::now;
    use crate::sentry::Envelope;
    use crate::sentry::items::parse_logs;
    use crate::sentry::scrub::Scrubber;

    fn records() -> Vec<LogRecord> {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/sentry/full-014-log.envelope",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let env = Envelope::parse(&body).unwrap();
        let item = env.items.iter().find(|i| i.ty == "log").unwrap();
        parse_logs(item.payload, &Scrubber::default(), now()).unwrap()
    }

    #[test]
    fn recorded_sentry_sdk_log_items() {
        let entries = to_entries(records(), "billing", now());
        assert_eq!(entries.len(), 3);
        let e = &entries[0];
        assert_eq!(e.source, LogSource::Sentry);
        assert_eq!(e.service, "myapp");
        assert_eq!(e.message, "payment failed for order 1234");
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(
            e.trace_id.as_deref(),
            Some("c616ea5e584142a89c0006c6b58514c4")
        );
        assert_eq!(e.logger.as_deref(), Some("myapp.worker"));
        assert_eq!(e.host.as_deref(), Some("bot-host-1"));
        assert_eq!(e.time.timestamp(), 1795333730);
        assert_eq!(e.received, now());
        assert_eq!(e.fields["order"], 1234);
        assert_eq!(e.fields["code.line.number"], 80);
        assert_eq!(e.fields["sentry.environment"], "production");
        assert_eq!(
            e.fields["sentry.message.template"],
            "payment failed for order %s"
        );
        assert!(!e.fields.contains_key("logger.name"));
        assert_eq!(entries[1].level, Some(LogLevel::Info));
        assert_eq!(entries[2].level, Some(LogLevel::Warning));
        assert_eq!(entries[2].fields["sentry.message.parameter.pct"], 91);
    }

    #[test]
    fn the_span_a_line_was_logged_in_is_kept() {
        let mut rs = records();
        rs[0].payload["span_id"] = "BEB60B8446F2CD5F".into();
        rs[1].payload["span_id"] = "not a span id".into();
        let entries = to_entries(rs, "billing", now());
        assert_eq!(entries[0].fields[SPAN_FIELD], "beb60b8446f2cd5f");
        assert!(!entries[1].fields.contains_key(SPAN_FIELD));
        assert!(!entries[2].fields.contains_key(SPAN_FIELD));
    }

    #[test]
    fn service_falls_back_to_the_project() {
        let mut rs = records();
        rs[0].payload["attributes"][RELEASE_ATTRIBUTE] =
            serde_json::json!({"value": "3f2c1ab", "type": "string"});
        rs[1].payload["attributes"]
            .as_object_mut()
            .unwrap()
            .remove(RELEASE_ATTRIBUTE);
        // Not the typed shape: kept as sent.
        rs[2].payload["attributes"]["odd"] = serde_json::json!([1, 2]);
        let entries = to_entries(rs, "billing", now());
        assert_eq!(entries[0].service, "billing");
        assert_eq!(entries[1].service, "billing");
        assert_eq!(entries[2].fields["odd"], serde_json::json!([1, 2]));
    }

    #[test]
    fn invalid_bodies_and_huge_bodies() {
        let mut rs = records();
        rs.truncate(1);
        rs[0].body = "x".repeat(1 << 20);
        rs[0].payload = Value::Null;
        rs[0].level = "banana".into();
        let e = &to_entries(rs, "billing", now())[0];
        assert!(e.message.len() <= line::MAX_LINE_BYTES);
        assert!(e.fields.contains_key(line::WARNING_FIELD));
        assert_eq!(e.level, None);
        assert_eq!(e.service, "billing");
    }
}
