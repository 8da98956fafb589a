//! OTLP/HTTP logs (`POST /v1/logs`): an `ExportLogsServiceRequest` as protobuf or as
//! OTLP/JSON, read into [`LogEntry`] values (resource `service.name` → service, `host.name`
//! → host, the instrumentation scope → logger, as the Python SDK names a scope after its
//! `logging` logger), and the answer a sender expects, with `partialSuccess` when records
//! were refused. The message types are declared by hand with prost's derive, field numbers
//! as in `opentelemetry/proto/logs/v1/logs.proto`; what every signal shares is in
//! `crate::otlp`. Both encodings become the same prost structs, so one path turns records
//! into entries.

use chrono::{DateTime, Utc};
use pharos_model::{DecodedLogs, LogEntry, LogLevel, LogSource, RejectedLine};
use serde_json::{Map, Value};

use super::line;
pub use crate::otlp::{AnyValue, DecodeError, Resource};
use crate::otlp::{
    InstrumentationScope, KeyValue, any_value, json_any_value, json_id, json_key_values, json_u64,
    list, plain_value, str_field,
};

/// What a [`DecodeError`] calls this signal.
const SIGNAL: &str = "logs";

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    #[prost(string, tag = "3")]
    pub severity_text: String,
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed32, tag = "8")]
    pub flags: u32,
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "12")]
    pub event_name: String,
}

/// Decodes a protobuf `ExportLogsServiceRequest` (already decompressed).
pub fn decode_protobuf(body: &[u8], received: DateTime<Utc>) -> Result<DecodedLogs, DecodeError> {
    let req = <ExportLogsServiceRequest as prost::Message>::decode(body).map_err(|source| {
        DecodeError::Protobuf {
            signal: SIGNAL,
            source,
        }
    })?;
    let mut out = DecodedLogs::default();
    for (i, rl) in req.resource_logs.into_iter().enumerate() {
        let resource = rl.resource.map(|r| r.attributes).unwrap_or_default();
        for (j, sl) in rl.scope_logs.into_iter().enumerate() {
            for (k, record) in sl.log_records.into_iter().enumerate() {
                push(
                    &mut out,
                    format!("resourceLogs[{i}].scopeLogs[{j}].logRecords[{k}]"),
                    to_entry(&resource, sl.scope.as_ref(), record, received),
                );
            }
        }
    }
    Ok(out)
}

/// Decodes an OTLP/JSON request: proto3's JSON mapping with lowerCamelCase names, 64-bit
/// integers as strings or numbers, enums as numbers, trace and span ids as hex.
pub fn decode_json(body: &[u8], received: DateTime<Utc>) -> Result<DecodedLogs, DecodeError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| DecodeError::Json {
        signal: SIGNAL,
        reason: e.to_string(),
    })?;
    let Value::Object(mut root) = root else {
        return Err(DecodeError::Json {
            signal: SIGNAL,
            reason: "not a JSON object".into(),
        });
    };
    let resource_logs = match root.remove("resourceLogs") {
        Some(Value::Array(rls)) => rls,
        // An empty export is `{}` in proto3's JSON.
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(DecodeError::Json {
                signal: SIGNAL,
                reason: "\"resourceLogs\" is not a list".into(),
            });
        }
    };
    let mut out = DecodedLogs::default();
    for (i, rl) in resource_logs.iter().enumerate() {
        if !rl.is_object() {
            push(
                &mut out,
                format!("resourceLogs[{i}]"),
                Err("not an object".into()),
            );
            continue;
        }
        let resource = rl
            .get("resource")
            .and_then(|r| r.get("attributes"))
            .map(json_key_values)
            .unwrap_or_default();
        for (j, sl) in list(rl, "scopeLogs").iter().enumerate() {
            if !sl.is_object() {
                let position = format!("resourceLogs[{i}].scopeLogs[{j}]");
                push(&mut out, position, Err("not an object".into()));
                continue;
            }
            let scope = sl.get("scope").map(|s| InstrumentationScope {
                name: str_field(s, "name"),
                version: str_field(s, "version"),
            });
            for (k, record) in list(sl, "logRecords").iter().enumerate() {
                let entry = json_record(record)
                    .and_then(|r| to_entry(&resource, scope.as_ref(), r, received));
                push(
                    &mut out,
                    format!("resourceLogs[{i}].scopeLogs[{j}].logRecords[{k}]"),
                    entry,
                );
            }
        }
    }
    Ok(out)
}

fn push(out: &mut DecodedLogs, position: String, entry: Result<LogEntry, String>) {
    match entry {
        Ok(e) => out.entries.push(e),
        Err(reason) => out.rejected.push(RejectedLine { position, reason }),
    }
}

fn json_record(v: &Value) -> Result<LogRecord, String> {
    if !v.is_object() {
        return Err("log record is not an object".into());
    }
    Ok(LogRecord {
        time_unix_nano: json_u64(v, "timeUnixNano")?,
        observed_time_unix_nano: json_u64(v, "observedTimeUnixNano")?,
        severity_number: v
            .get("severityNumber")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0),
        severity_text: str_field(v, "severityText"),
        body: v.get("body").map(json_any_value),
        attributes: v.get("attributes").map(json_key_values).unwrap_or_default(),
        flags: 0,
        trace_id: json_id(v, "traceId", 16)?,
        span_id: json_id(v, "spanId", 8)?,
        event_name: str_field(v, "eventName"),
    })
}

/// One record with its resource's and scope's context.
fn to_entry(
    resource: &[KeyValue],
    scope: Option<&InstrumentationScope>,
    record: LogRecord,
    received: DateTime<Utc>,
) -> Result<LogEntry, String> {
    let time = match (record.time_unix_nano, record.observed_time_unix_nano) {
        (0, 0) => received,
        (0, t) | (t, _) => {
            let nanos = i64::try_from(t)
                .map_err(|_| format!("timestamp {t} ns is beyond the year 2262"))?;
            DateTime::from_timestamp_nanos(nanos)
        }
    };
    let mut service = None;
    let mut host = None;
    let mut fields = Map::new();
    for kv in resource {
        match (kv.key.as_str(), kv.value.as_ref().map(plain_value)) {
            ("service.name", Some(Value::String(s))) => service = Some(s),
            ("host.name", Some(Value::String(s))) => host = Some(s),
            (_, Some(v)) => {
                fields.insert(kv.key.clone(), v);
            }
            (_, None) => {}
        }
    }
    // A record's own attribute wins over its resource's of the same name.
    for kv in record.attributes {
        if let Some(v) = kv.value.as_ref().map(plain_value) {
            fields.insert(kv.key, v);
        }
    }
    let mut warning = None;
    let message = match record.body.and_then(|b| b.value) {
        None => String::new(),
        Some(any_value::Value::StringValue(bytes)) => {
            let (text, why) = line::text_from_bytes(&bytes);
            warning = why;
            text
        }
        Some(any_value::Value::KvlistValue(kvs)) => {
            let mut body = Map::new();
            for kv in kvs.values {
                if let Some(v) = kv.value.as_ref().map(plain_value) {
                    body.insert(kv.key, v);
                }
            }
            let message = ["message", "msg"].iter().find_map(|k| match body.get(*k) {
                Some(Value::String(s)) => Some((*k, s.clone())),
                _ => None,
            });
            match message {
                Some((k, text)) => {
                    body.remove(k);
                    fields.extend(body);
                    text
                }
                None => {
                    let text = Value::Object(body.clone()).to_string();
                    fields.extend(body);
                    text
                }
            }
        }
        Some(other) => plain_value(&AnyValue { value: Some(other) }).to_string(),
    };
    if !record.span_id.is_empty() && record.span_id.iter().any(|b| *b != 0) {
        fields.insert(
            "span_id".into(),
            Value::String(hex::encode(&record.span_id)),
        );
    }
    if !record.event_name.is_empty() {
        fields.insert("event.name".into(), Value::String(record.event_name));
    }
    let mut entry = LogEntry::new(
        service.unwrap_or_else(|| "unknown".into()),
        LogSource::Otlp,
        received,
        message,
    );
    entry.time = time;
    entry.host = host;
    entry.level = LogLevel::from_otlp_severity(record.severity_number)
        .or_else(|| LogLevel::parse(&record.severity_text));
    entry.logger = scope.map(|s| s.name.clone()).filter(|n| !n.is_empty());
    // All zeroes is OTLP's "no trace".
    if record.trace_id.iter().any(|b| *b != 0) {
        entry.trace_id = Some(hex::encode(&record.trace_id));
    }
    entry.fields = fields;
    super::structure(&mut entry);
    if let Some(reason) = warning {
        line::note_warning(&mut entry, reason);
    }
    Ok(entry)
}

fn partial_success(rejected: &[RejectedLine]) -> Option<crate::otlp::PartialSuccess> {
    crate::otlp::partial_success(
        rejected
            .iter()
            .map(|r| (r.position.as_str(), r.reason.as_str())),
    )
}

/// The JSON body of a successful export: `{}`, or
/// `{"partialSuccess":{"rejectedLogRecords":"N","errorMessage":"…"}}`.
pub fn response_json(rejected: &[RejectedLine]) -> Value {
    crate::otlp::response_json(partial_success(rejected), "rejectedLogRecords")
}

/// The protobuf body of a successful export (`ExportLogsServiceResponse`).
pub fn response_protobuf(rejected: &[RejectedLine]) -> Vec<u8> {
    crate::otlp::response_protobuf(partial_success(rejected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::test_support::{fixture, now};

    fn check_python_sdk_error(out: &DecodedLogs) {
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let [e] = &out.entries[..] else {
            panic!("{out:?}")
        };
        assert_eq!(e.service, "billing");
        assert_eq!(e.host.as_deref(), Some("web-1"));
        assert_eq!(e.logger.as_deref(), Some("billing.worker"));
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.message, "payment failed for order 1234");
        assert_eq!(e.source, LogSource::Otlp);
        assert_eq!(e.time.timestamp_nanos_opt(), Some(1796081805961120256));
        assert_eq!(e.trace_id.as_ref().map(String::len), Some(32));
        assert_eq!(e.fields["span_id"].as_str().map(str::len), Some(16));
        assert_eq!(e.fields["order_id"], 1234);
        assert_eq!(e.fields["request_id"], "r-77");
        assert_eq!(e.fields["deployment.environment"], "production");
        assert_eq!(e.fields["code.function.name"], "<module>");
        assert!(!e.fields.contains_key("service.name"));
        assert!(!e.fields.contains_key("host.name"));
    }

    #[test]
    fn python_sdk_protobuf_export() {
        let out = decode_protobuf(&fixture("otlp-python-sdk-error.pb"), now()).unwrap();
        check_python_sdk_error(&out);
        let out = decode_protobuf(&fixture("otlp-python-sdk-warning.pb"), now()).unwrap();
        assert_eq!(out.entries[0].level, Some(LogLevel::Warning));
        assert_eq!(out.entries[0].trace_id, None);
    }

    #[test]
    fn python_sdk_export_as_json_reads_the_same() {
        let json = decode_json(&fixture("otlp-python-sdk-error.json"), now()).unwrap();
        check_python_sdk_error(&json);
        let pb = decode_protobuf(&fixture("otlp-python-sdk-error.pb"), now()).unwrap();
        assert_eq!(json, pb);
    }

    #[test]
    fn kvlist_body_becomes_fields_and_bad_records_are_rejected_by_position() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[
              {"key":"service.name","value":{"stringValue":"worker"}}]},
            "scopeLogs":[{"logRecords":[
              {"observedTimeUnixNano":1700000000000000000,"severityText":"warn",
               "body":{"kvlistValue":{"values":[
                 {"key":"msg","value":{"stringValue":"slow job"}},
                 {"key":"duration_ms","value":{"intValue":"1500"}},
                 {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"boolValue":true}]}}}]}}},
              {"timeUnixNano":"soon","body":{"stringValue":"x"}},
              {"traceId":"xyz","body":{"stringValue":"y"}},
              {"body":{"intValue":42},"traceId":"00000000000000000000000000000000"},
              7
            ]}, "nonsense"]}, 3]}"#;
        let out = decode_json(body, now()).unwrap();
        assert_eq!(out.entries.len(), 2, "{out:?}");
        let e = &out.entries[0];
        assert_eq!(e.service, "worker");
        assert_eq!(e.message, "slow job");
        assert_eq!(e.level, Some(LogLevel::Warning));
        assert_eq!(e.fields["duration_ms"], 1500);
        assert_eq!(e.fields["tags"], serde_json::json!(["a", true]));
        assert_eq!(e.time.timestamp(), 1_700_000_000);
        assert_eq!(out.entries[1].message, "42");
        assert_eq!(out.entries[1].trace_id, None);
        assert_eq!(out.entries[1].time, now());
        let positions: Vec<_> = out.rejected.iter().map(|r| r.position.as_str()).collect();
        assert_eq!(
            positions,
            [
                "resourceLogs[0].scopeLogs[0].logRecords[1]",
                "resourceLogs[0].scopeLogs[0].logRecords[2]",
                "resourceLogs[0].scopeLogs[0].logRecords[4]",
                "resourceLogs[0].scopeLogs[1]",
                "resourceLogs[1]"
            ]
        );
        let answer = response_json(&out.rejected);
        assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "5");
        assert!(
            answer["partialSuccess"]["errorMessage"]
                .as_str()
                .unwrap()
                .contains("logRecords[1]: timeUnixNano \"soon\"")
        );
        let pb = response_protobuf(&out.rejected);
        let decoded = <crate::otlp::ExportResponse as prost::Message>::decode(&pb[..]).unwrap();
        assert_eq!(decoded.partial_success.unwrap().rejected, 5);
        assert_eq!(response_json(&[]), serde_json::json!({}));
        assert!(response_protobuf(&[]).is_empty());
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [&b"not json"[..], b"[]", b"{\"resourceLogs\":{}}"] {
            let err = decode_json(body, now()).unwrap_err();
            assert!(err.to_string().contains("OTLP logs request"), "{err}");
        }
        assert_eq!(decode_json(b"{}", now()).unwrap(), DecodedLogs::default());
        let mut cut = fixture("otlp-python-sdk-error.pb");
        cut.truncate(cut.len() - 7);
        assert!(decode_protobuf(&cut, now()).is_err());
        assert!(decode_protobuf(b"\x0a\xff\xff\xff\xff\x0f", now()).is_err());
        // A JSON body sent as protobuf does not pass for an empty request.
        assert!(decode_protobuf(&fixture("otlp-python-sdk-error.json"), now()).is_err());
    }

    fn one_record(body: AnyValue) -> Vec<u8> {
        prost::Message::encode_to_vec(&ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: None,
                scope_logs: vec![ScopeLogs {
                    scope: None,
                    log_records: vec![LogRecord {
                        body: Some(body),
                        ..Default::default()
                    }],
                }],
            }],
        })
    }

    #[test]
    fn invalid_utf8_and_huge_bodies_are_kept_with_a_warning() {
        let bad = one_record(AnyValue {
            value: Some(any_value::Value::StringValue(b"caf\xe9".to_vec())),
        });
        let out = decode_protobuf(&bad, now()).unwrap();
        assert_eq!(out.entries[0].message, "caf\u{fffd}");
        assert_eq!(out.entries[0].service, "unknown");
        assert!(out.entries[0].fields.contains_key(line::WARNING_FIELD));

        let huge = one_record(AnyValue {
            value: Some(any_value::Value::StringValue(vec![b'y'; 1 << 20])),
        });
        let out = decode_protobuf(&huge, now()).unwrap();
        assert!(out.entries[0].message.len() <= line::MAX_LINE_BYTES);
        assert!(out.entries[0].fields.contains_key(line::WARNING_FIELD));
    }
}
