//! The Loki push API (`POST /loki/api/v1/push`) as python-logging-loki, Promtail, Vector
//! and Grafana Alloy send it: JSON (`{"streams":[{"stream":{…},"values":[[ns, line]]}]}`)
//! or a snappy-compressed (block format) `logproto.PushRequest`. Stream labels become the
//! entry's service, level, logger and host; the rest, with structured metadata, its fields.
//! The message types are declared by hand with prost's derive, field numbers as in Loki's
//! `pkg/push/push.proto`, so no `protoc` is needed.

use chrono::{DateTime, Utc};
use pharos_model::{DecodedLogs, LogEntry, LogLevel, LogSource, RejectedLine};
use serde_json::{Map, Value};

use super::line;
use crate::IngestError;

/// Largest decompressed protobuf request accepted; senders batch around 1 MiB.
pub const MAX_DECODED_BYTES: usize = 64 << 20;

/// Labels naming the service, most specific first (`application` is python-logging-loki's
/// tag, `job` Promtail's, `container` Docker's).
const SERVICE_LABELS: [&str; 6] = [
    "service_name",
    "service",
    "application",
    "app",
    "job",
    "container",
];
/// python-logging-loki sends `severity`; Loki itself adds `detected_level`.
const LEVEL_LABELS: [&str; 3] = ["level", "severity", "detected_level"];
const HOST_LABELS: [&str; 3] = ["host", "hostname", "instance"];
const LOGGER_LABELS: [&str; 1] = ["logger"];
/// Structured metadata Loki's own OTLP conversion writes the trace id under.
const TRACE_LABELS: [&str; 3] = ["trace_id", "traceID", "traceId"];

/// A request the decoder could not read at all; a bad stream or entry inside a readable
/// request is a [`RejectedLine`] instead.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not a Loki push request in JSON: {0}")]
    Json(String),
    #[error("body is not snappy-compressed (block format): {0}")]
    Snappy(String),
    #[error("decompressed body is {0} bytes, above the limit of {MAX_DECODED_BYTES}")]
    TooLarge(usize),
    #[error("body is not a Loki push request in protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// Prometheus label syntax: `{app="billing", level="error"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// Declared as bytes, not string, so that one line of invalid UTF-8 is kept (lossily)
    /// instead of failing the whole request as prost's string check would.
    #[prost(bytes = "vec", tag = "2")]
    pub line: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// Decodes a JSON push body. Also reads the older shape with a `labels` string and
/// `entries` of `{"ts": RFC 3339, "line": …}`, which Promtail 1.x sent.
pub fn decode_json(body: &[u8], received: DateTime<Utc>) -> Result<DecodedLogs, DecodeError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
    let streams = match root {
        Value::Object(mut o) => match o.remove("streams") {
            Some(Value::Array(streams)) => streams,
            Some(_) => return Err(DecodeError::Json("\"streams\" is not a list".into())),
            None => return Err(DecodeError::Json("no \"streams\" list".into())),
        },
        _ => return Err(DecodeError::Json("not a JSON object".into())),
    };
    let mut out = DecodedLogs::default();
    for (i, stream) in streams.into_iter().enumerate() {
        json_stream(i, stream, received, &mut out);
    }
    Ok(out)
}

fn json_stream(i: usize, stream: Value, received: DateTime<Utc>, out: &mut DecodedLogs) {
    let reject = |out: &mut DecodedLogs, reason: String| {
        out.rejected.push(RejectedLine {
            position: format!("streams[{i}]"),
            reason,
        })
    };
    let Value::Object(mut stream) = stream else {
        return reject(out, "stream is not an object".into());
    };
    if let Some(Value::String(text)) = stream.get("labels") {
        let labels = match parse_labels(text) {
            Ok(labels) => labels,
            Err(e) => return reject(out, e.to_string()),
        };
        let entries = match stream.remove("entries") {
            Some(Value::Array(entries)) => entries,
            _ => return reject(out, "stream has no \"entries\" list".into()),
        };
        for (j, e) in entries.into_iter().enumerate() {
            match legacy_entry(e) {
                Ok((time, line)) => {
                    out.entries
                        .push(entry(&labels, &[], time, line.as_bytes(), received))
                }
                Err(reason) => out.rejected.push(RejectedLine {
                    position: format!("streams[{i}].entries[{j}]"),
                    reason,
                }),
            }
        }
        return;
    }
    let labels = match stream.remove("stream") {
        Some(Value::Object(labels)) => match string_pairs(labels) {
            Ok(labels) => labels,
            Err(e) => return reject(out, format!("stream labels: {e}")),
        },
        // Loki accepts a stream without labels; so does Pharos ("unknown" service).
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return reject(out, "\"stream\" is not an object of labels".into()),
    };
    let values = match stream.remove("values") {
        Some(Value::Array(values)) => values,
        _ => return reject(out, "stream has no \"values\" list".into()),
    };
    for (j, v) in values.into_iter().enumerate() {
        match json_value(v, received) {
            Ok((time, line, metadata)) => {
                out.entries
                    .push(entry(&labels, &metadata, time, line.as_bytes(), received))
            }
            Err(reason) => out.rejected.push(RejectedLine {
                position: format!("streams[{i}].values[{j}]"),
                reason,
            }),
        }
    }
}

type Pairs = Vec<(String, String)>;

/// One `["<unix ns>", "line"]` or `["<unix ns>", "line", {structured metadata}]`.
fn json_value(v: Value, received: DateTime<Utc>) -> Result<(DateTime<Utc>, String, Pairs), String> {
    let Value::Array(mut parts) = v else {
        return Err("entry is not a [timestamp, line] list".into());
    };
    if !(2..=3).contains(&parts.len()) {
        return Err(format!(
            "entry has {} elements, expected [timestamp, line] or [timestamp, line, metadata]",
            parts.len()
        ));
    }
    let metadata = match parts.get_mut(2).map(Value::take) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => {
            string_pairs(m).map_err(|e| format!("structured metadata: {e}"))?
        }
        Some(_) => return Err("structured metadata is not an object".into()),
    };
    let line = match parts[1].take() {
        Value::String(s) => s,
        other => return Err(format!("line is not a string: {other}")),
    };
    let nanos = match &parts[0] {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        // Loki wants a string; a number is what a hand-written client sends, and is meant
        // the same way.
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| format!("timestamp {} is not unix nanoseconds", parts[0]))?;
    Ok((time_from_nanos(nanos, received)?, line, metadata))
}

fn legacy_entry(e: Value) -> Result<(DateTime<Utc>, String), String> {
    let ts = e
        .get("ts")
        .or_else(|| e.get("timestamp"))
        .and_then(Value::as_str)
        .ok_or("entry has no \"ts\"")?;
    let time = DateTime::parse_from_rfc3339(ts)
        .map_err(|err| format!("timestamp {ts:?}: {err}"))?
        .with_timezone(&Utc);
    let line = e
        .get("line")
        .and_then(Value::as_str)
        .ok_or("entry has no \"line\" string")?;
    Ok((time, line.to_string()))
}

fn string_pairs(map: Map<String, Value>) -> Result<Pairs, String> {
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(format!("value of {k:?} is not a string: {other}")),
        })
        .collect()
}

/// Zero means "not set" (what a shipper without clocks sends); negative or beyond
/// chrono's range is refused.
fn time_from_nanos(nanos: i64, received: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if nanos == 0 {
        return Ok(received);
    }
    if nanos < 0 {
        return Err(format!("timestamp {nanos} is before 1970"));
    }
    Ok(DateTime::from_timestamp_nanos(nanos))
}

/// Decodes a snappy-compressed (block format) protobuf push body.
pub fn decode_protobuf(body: &[u8], received: DateTime<Utc>) -> Result<DecodedLogs, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if len > MAX_DECODED_BYTES {
        return Err(DecodeError::TooLarge(len));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    let req = <PushRequest as prost::Message>::decode(raw.as_slice())?;
    let mut out = DecodedLogs::default();
    for (i, stream) in req.streams.into_iter().enumerate() {
        let labels = match parse_labels(&stream.labels) {
            Ok(labels) => labels,
            Err(e) => {
                out.rejected.push(RejectedLine {
                    position: format!("streams[{i}]"),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        for (j, e) in stream.entries.into_iter().enumerate() {
            let time = match proto_time(e.timestamp, received) {
                Ok(t) => t,
                Err(reason) => {
                    out.rejected.push(RejectedLine {
                        position: format!("streams[{i}].entries[{j}]"),
                        reason,
                    });
                    continue;
                }
            };
            let metadata: Pairs = e
                .structured_metadata
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect();
            out.entries
                .push(entry(&labels, &metadata, time, &e.line, received));
        }
    }
    Ok(out)
}

fn proto_time(ts: Option<Timestamp>, received: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let Some(ts) = ts else { return Ok(received) };
    if ts.seconds == 0 && ts.nanos == 0 {
        return Ok(received);
    }
    let nanos = u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| format!("timestamp nanos {} out of range", ts.nanos))?;
    if ts.seconds < 0 {
        return Err(format!("timestamp {} s is before 1970", ts.seconds));
    }
    DateTime::from_timestamp(ts.seconds, nanos)
        .ok_or_else(|| format!("timestamp {} s is out of range", ts.seconds))
}

/// Encodes a request as Promtail does (tests use it).
pub fn encode_protobuf(req: &PushRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input")
}

/// Reads Prometheus label syntax, `{a="b", c="d"}`, with Go's string escapes in values.
pub fn parse_labels(text: &str) -> Result<Pairs, IngestError> {
    let bad = |why: &str| IngestError::Labels {
        labels: text.to_string(),
        reason: why.to_string(),
    };
    let s = text.trim();
    let inner = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| bad("not enclosed in { }"))?;
    let mut pairs = Vec::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad("expected a label name"));
        }
        rest = rest[name_len..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| bad(&format!("expected = after {name}")))?
            .trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| bad(&format!("value of {name} is not quoted")))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(bad(&format!("value of {name} is not terminated"))),
                Some((at, '"')) => break at,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, c @ ('"' | '\\'))) => value.push(c),
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(bad(&format!("value of {name} is not terminated"))),
                },
                Some((_, c)) => value.push(c),
            }
        };
        pairs.push((name.to_string(), value));
        rest = rest[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(bad("expected , between labels"));
        }
    }
    Ok(pairs)
}

/// One entry of a stream: labels, then structured metadata, read into the entry's parts;
/// what names nothing the entry has a place for is kept in its fields.
fn entry(
    labels: &[(String, String)],
    metadata: &[(String, String)],
    time: DateTime<Utc>,
    line: &[u8],
    received: DateTime<Utc>,
) -> LogEntry {
    let (text, warning) = line::text_from_bytes(line);
    let all: Vec<(&str, &str)> = labels
        .iter()
        .chain(metadata)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let service = pick(&all, &SERVICE_LABELS, |_| true);
    let level = pick(&all, &LEVEL_LABELS, |v| LogLevel::parse(v).is_some());
    let logger = pick(&all, &LOGGER_LABELS, |_| true);
    let host = pick(&all, &HOST_LABELS, |_| true);
    let trace = pick(&all, &TRACE_LABELS, |_| true);
    let used = [service, level, logger, host, trace].map(|p| p.map(|(k, _)| k));

    let mut entry = LogEntry::new(
        service.map_or("unknown", |(_, v)| v),
        LogSource::Loki,
        received,
        text,
    );
    entry.time = time;
    entry.level = level.and_then(|(_, v)| LogLevel::parse(v));
    entry.logger = logger.map(|(_, v)| v.to_string());
    entry.host = host.map(|(_, v)| v.to_string());
    entry.trace_id = trace.map(|(_, v)| v.to_string());
    for (k, v) in all {
        if !used.contains(&Some(k)) {
            entry
                .fields
                .entry(k)
                .or_insert_with(|| Value::String(v.to_string()));
        }
    }
    super::structure(&mut entry);
    if let Some(reason) = warning {
        line::note_warning(&mut entry, reason);
    }
    entry
}

/// The first of `names` (in that order of preference) present with an acceptable value.
fn pick<'a>(
    pairs: &[(&'a str, &'a str)],
    names: &[&str],
    accept: impl Fn(&str) -> bool,
) -> Option<(&'a str, &'a str)> {
    names
        .iter()
        .find_map(|n| pairs.iter().find(|(k, v)| k == n && accept(v)).copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::test_support::{fixture, now};

    #[test]
    fn python_logging_loki_body_names_service_level_and_logger() {
        let out = decode_json(&fixture("loki-python-logging-loki-error.json"), now()).unwrap();
        assert!(out.rejected.is_empty());
        let [e] = &out.entries[..] else {
            panic!("{out:?}")
        };
        assert_eq!(e.service, "billing");
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.logger.as_deref(), Some("billing.worker"));
        assert_eq!(e.message, "payment failed for order 1234");
        assert_eq!(e.source, LogSource::Loki);
        assert_eq!(e.time.timestamp_nanos_opt(), Some(1796081805767260416));
        assert_eq!(e.fields["env"], "production");
        assert_eq!(e.fields["order_kind"], "subscription");
        for used in ["application", "severity", "logger"] {
            assert!(!e.fields.contains_key(used), "{used} left in fields");
        }
        let out = decode_json(&fixture("loki-python-logging-loki-warning.json"), now()).unwrap();
        assert_eq!(out.entries[0].level, Some(LogLevel::Warning));
    }

    #[test]
    fn a_json_line_inside_a_stream_is_structured() {
        let out = decode_json(&fixture("loki-python-logging-loki-json-line.json"), now()).unwrap();
        let e = &out.entries[0];
        assert_eq!(e.service, "billing");
        assert_eq!(e.level, Some(LogLevel::Info));
        assert_eq!(e.fields["env"], "production");
        assert_eq!(e.logger.as_deref(), Some("billing.worker"));
        assert_eq!(e.message, "charged");
        assert_eq!(e.request_id(), Some("r-77"));
        assert_eq!(e.fields["amount"], 12.5);
    }

    #[test]
    fn bad_entries_and_streams_are_rejected_with_their_position_and_the_rest_kept() {
        let body = br#"{"streams":[
            {"stream":{"app":"a"},"values":[
                ["1700000000000000000","one"],
                ["yesterday","two"],
                ["1700000000000000002","three",{"trace_id":"abc","user":"u1"}],
                ["-5","four"],
                ["1700000000000000004"],
                ["1700000000000000005", 7]
            ]},
            {"stream":{"app":1},"values":[["1","x"]]},
            {"values":[["1700000000000000006","no labels"]]},
            "nonsense"
        ]}"#;
        let out = decode_json(body, now()).unwrap();
        let messages: Vec<_> = out.entries.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["one", "three", "no labels"]);
        assert_eq!(out.entries[1].trace_id.as_deref(), Some("abc"));
        assert_eq!(out.entries[1].fields["user"], "u1");
        assert_eq!(out.entries[2].service, "unknown");
        let positions: Vec<_> = out.rejected.iter().map(|r| r.position.as_str()).collect();
        assert_eq!(
            positions,
            [
                "streams[0].values[1]",
                "streams[0].values[3]",
                "streams[0].values[4]",
                "streams[0].values[5]",
                "streams[1]",
                "streams[3]"
            ]
        );
        assert!(
            out.rejected[0].reason.contains("yesterday"),
            "{:?}",
            out.rejected
        );
    }

    #[test]
    fn a_body_that_is_no_push_request_is_an_error() {
        for body in [&b"hello"[..], b"[1,2]", b"{\"streams\":3}", b"{}", b""] {
            let err = decode_json(body, now()).unwrap_err();
            assert!(err.to_string().contains("Loki push request"), "{err}");
        }
        let err = decode_protobuf(b"{\"streams\":[]}", now()).unwrap_err();
        assert!(
            matches!(err, DecodeError::Snappy(_) | DecodeError::Protobuf(_)),
            "{err}"
        );
        // Valid snappy around bytes that are not a PushRequest.
        let junk = snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2])
            .unwrap();
        let err = decode_protobuf(&junk, now()).unwrap_err();
        assert!(matches!(err, DecodeError::Protobuf(_)), "{err}");
        // A truncated body: the snappy length prefix promises more than there is.
        let mut cut = fixture("loki-push-python-protobuf.snappy");
        cut.truncate(cut.len() / 2);
        assert!(decode_protobuf(&cut, now()).is_err());
    }

    #[test]
    fn legacy_labels_and_entries_shape_is_read() {
        let body = br#"{"streams":[{"labels":"{job=\"cron\", level=\"warn\"}",
            "entries":[{"ts":"2026-11-30T10:00:00.5Z","line":"late"},{"ts":"soon","line":"x"}]}]}"#;
        let out = decode_json(body, now()).unwrap();
        assert_eq!(out.entries.len(), 1);
        assert_eq!(out.entries[0].service, "cron");
        assert_eq!(out.entries[0].level, Some(LogLevel::Warning));
        assert_eq!(out.rejected[0].position, "streams[0].entries[1]");
    }

    #[test]
    fn protobuf_built_by_googles_runtime_decodes() {
        let out = decode_protobuf(&fixture("loki-push-python-protobuf.snappy"), now()).unwrap();
        assert_eq!(out.entries.len(), 3, "{out:?}");
        let e = &out.entries[0];
        assert_eq!(e.service, "billing");
        assert_eq!(e.host.as_deref(), Some("web-1"));
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(
            e.trace_id.as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(e.fields["filename"], "/var/log/billing.log");
        assert_eq!(e.time.timestamp_nanos_opt(), Some(1796081805767260416));
        let api = &out.entries[2];
        assert_eq!(api.service, "api");
        assert_eq!(api.fields["container"], "api-1");
        assert_eq!(api.fields["msg"], "say \"hi\"");
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.rejected[0].position, "streams[2]");
    }

    #[test]
    fn protobuf_round_trip_keeps_invalid_utf8_and_rejects_bad_timestamps() {
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{app="x"}"#.into(),
                entries: vec![
                    EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: 1_700_000_000,
                            nanos: 5,
                        }),
                        line: b"caf\xe9 ok".to_vec(),
                        structured_metadata: vec![],
                    },
                    EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: 1,
                            nanos: -3,
                        }),
                        line: b"bad".to_vec(),
                        structured_metadata: vec![],
                    },
                    EntryAdapter {
                        timestamp: None,
                        line: b"no time".to_vec(),
                        structured_metadata: vec![],
                    },
                ],
                hash: 0,
            }],
        };
        let out = decode_protobuf(&encode_protobuf(&req), now()).unwrap();
        assert_eq!(out.entries.len(), 2);
        assert_eq!(out.entries[0].message, "caf\u{fffd} ok");
        assert!(
            out.entries[0].fields.contains_key(line::WARNING_FIELD),
            "{:?}",
            out.entries[0]
        );
        assert_eq!(out.entries[1].time, now());
        assert_eq!(out.rejected[0].position, "streams[0].entries[1]");
    }

    #[test]
    fn a_one_megabyte_line_is_kept_and_cut() {
        let line = "x".repeat(1 << 20);
        let body = serde_json::json!({"streams":[{"stream":{"app":"big"},"values":[["1",line]]}]});
        let out = decode_json(body.to_string().as_bytes(), now()).unwrap();
        let e = &out.entries[0];
        assert!(
            e.message.len() <= line::MAX_LINE_BYTES,
            "{}",
            e.message.len()
        );
        assert!(e.fields.contains_key(line::WARNING_FIELD));
    }

    #[test]
    fn label_syntax() {
        assert_eq!(
            parse_labels(r#"{a="b", c_d = "e\"f\\g" ,}"#).unwrap(),
            [("a".into(), "b".into()), ("c_d".into(), "e\"f\\g".into())]
        );
        assert_eq!(parse_labels("{}").unwrap(), []);
        for bad in [
            r#"a="b""#,
            r#"{a=b}"#,
            r#"{a="b}"#,
            r#"{="b"}"#,
            r#"{a="b" c="d"}"#,
        ] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_labels(r#"{a="b" c="d"}"#).unwrap_err().to_string(),
            r#"labels "{a=\"b\" c=\"d\"}": expected , between labels"#
        );
    }
}
