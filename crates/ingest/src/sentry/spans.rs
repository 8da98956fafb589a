//! Spans: streamed `span` items (`application/vnd.sentry.items.span.v2+json`, the only
//! tracing mode of `sentry-sdk` 3.x) and the spans of a transaction event (SDK 2.x), both
//! turned into `pharos_model::sentry::Span`s, so the span store holds every span whatever
//! the SDK. A segment span (`is_segment: true`) also becomes a `Transaction`, so the
//! performance pages, series and alerts see streamed requests as they see transaction
//! events.
//!
//! A bad span (no trace or span id, no timestamps, a field of the wrong type) is refused
//! alone, with its reason; the item's other spans are kept.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::event::{EventError, parse_timestamp, truncate};
use super::scrub::Scrubber;

pub use pharos_model::sentry::{Span, SpanBatch};

/// Spans one item may carry: the Python SDK flushes at 1,000 spans per envelope.
pub const MAX_SPANS_PER_ITEM: usize = 1000;
/// Attributes kept per span; the rest are dropped (the SDK sends about 30).
pub const MAX_ATTRIBUTES: usize = 128;
/// Longest string attribute value and span name kept, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;
/// Longest attribute key kept, in bytes; longer keys are dropped with their value.
pub(crate) const MAX_KEY_BYTES: usize = 256;
/// Elements of an array attribute kept.
const MAX_ARRAY_ITEMS: usize = 64;
/// A transaction's name is cut as a transaction event's is.
const MAX_TRANSACTION_NAME: usize = 200;

/// What a `span` item became: the spans kept (with a transaction per segment) and the
/// reason each refused span was refused.
#[derive(Debug, Default)]
pub struct ParsedSpans {
    pub batch: SpanBatch,
    pub refused: Vec<String>,
}

/// The longest environment or release name taken from an envelope header.
const MAX_TRACE_CONTEXT_VALUE: usize = 200;

/// Spans whose attributes name no environment or release take the envelope header's
/// trace context (Sentry's dynamic sampling context, `{"trace": {"environment", "release",
/// ...}}`), which every SDK sends for the whole trace: without it such spans would be
/// counted under no environment and filtered by no release.
pub fn fill_from_trace_context(batch: &mut SpanBatch, trace: Option<&Value>) {
    let field = |key: &str| {
        trace
            .and_then(|t| t.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(MAX_TRACE_CONTEXT_VALUE).collect::<String>())
    };
    let (environment, release) = (field("environment"), field("release"));
    if environment.is_none() && release.is_none() {
        return;
    }
    let fill = |slot: &mut Option<String>, value: &Option<String>| {
        if slot.is_none() {
            slot.clone_from(value);
        }
    };
    for span in &mut batch.spans {
        fill(&mut span.environment, &environment);
        fill(&mut span.release, &release);
    }
    for segment in &mut batch.segments {
        fill(&mut segment.environment, &environment);
        fill(&mut segment.release, &release);
    }
}

/// Parses a `span` item. `Err` only when the item as a whole cannot be read (not JSON,
/// no `items` list); single spans are refused in [`ParsedSpans::refused`].
pub fn parse_span_item(bytes: &[u8], scrubber: &Scrubber) -> Result<ParsedSpans, EventError> {
    #[derive(Deserialize)]
    struct Item {
        items: Vec<WireSpan>,
    }
    let items = serde_json::from_slice::<Item>(bytes)
        .map_err(|e| EventError::Json(format!("span item: {e}")))?
        .items;
    let mut out = ParsedSpans::default();
    let over = items.len().saturating_sub(MAX_SPANS_PER_ITEM);
    for item in items.into_iter().take(MAX_SPANS_PER_ITEM) {
        match parse_span(item, scrubber) {
            Ok(span) => {
                if span.is_segment {
                    out.batch.segments.push(segment_transaction(&span));
                }
                out.batch.spans.push(span);
            }
            Err(reason) => out.refused.push(reason),
        }
    }
    out.refused.extend(std::iter::repeat_n(
        format!("more than {MAX_SPANS_PER_ITEM} spans in one item"),
        over,
    ));
    // A segment's child count as far as this item knows; the waterfall reads the store.
    for t in &mut out.batch.segments {
        t.span_count = out
            .batch
            .spans
            .iter()
            .filter(|s| !s.is_segment && s.segment_id == t.span_id)
            .count();
    }
    Ok(out)
}

/// One span of a `span` item, or the reason it is refused.
fn parse_span(item: WireSpan, scrubber: &Scrubber) -> Result<Span, String> {
    let WireSpan::Object {
        fields: o,
        attributes,
    } = item
    else {
        return Err("span is not a JSON object".into());
    };
    let trace_id = hex_id(o.get("trace_id"), 32).ok_or("span without a valid trace_id")?;
    let span_id = hex_id(o.get("span_id"), 16).ok_or("span without a valid span_id")?;
    let parent_span_id = match o.get("parent_span_id") {
        None | Some(Value::Null) => None,
        v => Some(hex_id(v, 16).ok_or("span with an invalid parent_span_id")?),
    };
    let start = timestamp(o.get("start_timestamp"), "start_timestamp")?;
    let end = timestamp(o.get("end_timestamp"), "end_timestamp")?;
    let is_segment = match o.get("is_segment") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("span with is_segment not a boolean".into()),
    };
    let name = optional_str(o.get("name"), "name")?.unwrap_or("<unlabeled span>");
    let name = scrubber
        .scrub_text(name)
        .unwrap_or_else(|| name.to_string());
    let status = optional_str(o.get("status"), "status")?
        .unwrap_or("ok")
        .to_string();
    let mut attrs = match attributes {
        None => Value::Object(Map::new()),
        Some(WireAttributes::Flat(a)) => Value::Object(bounded_attributes(a)),
        Some(WireAttributes::NotAnObject) => {
            return Err("span with attributes not an object".into());
        }
    };
    scrubber.scrub(&mut attrs);
    let attr = |k: &str| {
        attrs
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| truncate(s, 200))
    };
    let segment_id = if is_segment {
        Some(span_id.clone())
    } else {
        attr("sentry.segment.id")
            .map(|s| s.to_ascii_lowercase())
            .filter(|s| is_hex(s, 16))
    };
    Ok(Span {
        op: attr("sentry.op"),
        environment: attr("sentry.environment"),
        release: attr("sentry.release"),
        trace_id,
        span_id,
        parent_span_id,
        segment_id,
        is_segment,
        name: truncate(&name, MAX_VALUE_BYTES),
        status: truncate(&status, 64),
        start,
        duration_ms: duration_ms(start, end),
        attributes: attrs,
    })
}

/// The transaction a segment span stands for.
pub(crate) fn segment_transaction(span: &Span) -> pharos_model::sentry::Transaction {
    let name = span
        .attributes
        .get("sentry.segment.name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(&span.name);
    let mut payload = serde_json::json!({
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "name": span.name,
        "status": span.status,
        "is_segment": true,
        "start_timestamp": span.start.timestamp_micros() as f64 / 1e6,
        "end_timestamp": (span.start.timestamp_micros() as f64 + span.duration_ms * 1000.0) / 1e6,
    });
    payload["attributes"] = span.attributes.clone();
    pharos_model::sentry::Transaction {
        event_id: segment_event_id(&span.trace_id, &span.span_id),
        name: truncate(name, MAX_TRANSACTION_NAME),
        op: span.op.clone(),
        status: span.status.clone(),
        start: span.start,
        duration_ms: span.duration_ms,
        environment: span.environment.clone(),
        release: span.release.clone(),
        trace_id: Some(span.trace_id.clone()),
        span_id: Some(span.span_id.clone()),
        span_count: 0,
        payload,
        spans: Vec::new(),
    }
}

/// Transactions are unique per project by event id; a segment has none, so its trace and
/// span ids make one: 32 hex digits, the same for a resent segment. The trace id's high
/// half is XORed with the span id, which keeps ids of different segments apart (the
/// span ids of one trace differ; different traces differ somewhere in 128 bits).
fn segment_event_id(trace_id: &str, span_id: &str) -> String {
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0);
    format!(
        "{:016x}{}",
        hex(&trace_id[..16]) ^ hex(span_id),
        &trace_id[16..]
    )
}

/// A transaction event's spans: the transaction itself as the segment span, then each of
/// its `spans`. Spans without ids or timestamps are skipped: the transaction row keeps
/// them in its payload.
pub fn transaction_spans(payload: &Value, name: &str, end: DateTime<Utc>) -> Vec<Span> {
    let trace = payload.get("contexts").and_then(|c| c.get("trace"));
    let Some(trace_id) = hex_id(trace.and_then(|t| t.get("trace_id")), 32) else {
        return Vec::new();
    };
    let Some(segment_id) = hex_id(trace.and_then(|t| t.get("span_id")), 16) else {
        return Vec::new();
    };
    let s = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| truncate(s, 200))
    };
    let environment = s(payload.get("environment"));
    let release = s(payload.get("release"));
    let start = payload
        .get("start_timestamp")
        .and_then(parse_timestamp)
        .unwrap_or(end);
    let mut out = vec![Span {
        trace_id: trace_id.clone(),
        span_id: segment_id.clone(),
        parent_span_id: hex_id(trace.and_then(|t| t.get("parent_span_id")), 16),
        segment_id: Some(segment_id.clone()),
        is_segment: true,
        name: name.to_string(),
        op: s(trace.and_then(|t| t.get("op"))),
        status: s(trace.and_then(|t| t.get("status"))).unwrap_or_else(|| "ok".into()),
        start,
        duration_ms: duration_ms(start, end),
        environment: environment.clone(),
        release: release.clone(),
        attributes: trace
            .and_then(|t| t.get("data"))
            .cloned()
            .unwrap_or(Value::Object(Map::new())),
    }];
    let children = payload.get("spans").and_then(Value::as_array);
    for c in children.into_iter().flatten().take(MAX_SPANS_PER_ITEM) {
        let (Some(span_id), Some(a)) = (
            hex_id(c.get("span_id"), 16),
            c.get("start_timestamp").and_then(parse_timestamp),
        ) else {
            continue;
        };
        let b = c.get("timestamp").and_then(parse_timestamp).unwrap_or(a);
        out.push(Span {
            trace_id: trace_id.clone(),
            span_id,
            parent_span_id: hex_id(c.get("parent_span_id"), 16),
            segment_id: Some(segment_id.clone()),
            is_segment: false,
            name: c
                .get("description")
                .and_then(Value::as_str)
                .map(|d| truncate(d, MAX_VALUE_BYTES))
                .unwrap_or_default(),
            op: s(c.get("op")),
            status: s(c.get("status")).unwrap_or_else(|| "ok".into()),
            start: a,
            duration_ms: duration_ms(a, b),
            environment: environment.clone(),
            release: release.clone(),
            attributes: c.get("data").cloned().unwrap_or(Value::Object(Map::new())),
        });
    }
    out
}

/// Attributes within the size limits (already unwrapped from their typed form).
fn bounded_attributes(attrs: Map<String, Value>) -> Map<String, Value> {
    attrs
        .into_iter()
        .filter(|(k, _)| k.len() <= MAX_KEY_BYTES)
        .take(MAX_ATTRIBUTES)
        .map(|(k, v)| (k, bounded(v)))
        .collect()
}

/// One element of a span item's `items` as read off the wire: an object's fields (but its
/// attributes) as JSON values for [`parse_span`] to check, and its attributes unwrapped
/// from `{"key": {"value": v, "type": "string"}}` to `{"key": v}` while they are read, so
/// no map is built per attribute (the JSON parse is most of a span item's cost).
enum WireSpan {
    Object {
        fields: Map<String, Value>,
        attributes: Option<WireAttributes>,
    },
    NotAnObject,
}

enum WireAttributes {
    Flat(Map<String, Value>),
    NotAnObject,
}

/// An attribute's value: the `value` of the typed form, or the value as sent when it is
/// not in that form.
struct WireAttribute(Value);

/// Implements the non-map `visit_*` methods of a visitor with `$make` turning the JSON value
/// read into the visitor's output.
macro_rules! other_json_values {
    ($make:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok($make(Value::Bool(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($make(Value::from(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($make(Value::from(v)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok($make(Value::from(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok($make(Value::String(v.to_string())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok($make(Value::String(v)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($make(Value::Null))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($make(Value::Null))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let v = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            Ok($make(v))
        }
    };
}

impl<'de> Deserialize<'de> for WireSpan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireSpan;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a span")
            }
            other_json_values!(|_| WireSpan::NotAnObject);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireSpan, A::Error> {
                let mut fields = Map::new();
                let mut attributes = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "attributes" {
                        attributes = Some(map.next_value::<WireAttributes>()?);
                    } else {
                        fields.insert(key, map.next_value::<Value>()?);
                    }
                }
                Ok(WireSpan::Object { fields, attributes })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for WireAttributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireAttributes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("span attributes")
            }
            other_json_values!(|v| match v {
                Value::Null => WireAttributes::Flat(Map::new()),
                _ => WireAttributes::NotAnObject,
            });
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireAttributes, A::Error> {
                let mut out = Map::new();
                while let Some((k, WireAttribute(v))) = map.next_entry::<String, WireAttribute>()? {
                    out.insert(k, v);
                }
                Ok(WireAttributes::Flat(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for WireAttribute {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireAttribute;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an attribute")
            }
            other_json_values!(WireAttribute);
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireAttribute, A::Error> {
                // The typed form: keep `value`, skip `type` (the JSON value says it).
                // Another object is kept as sent.
                let mut value = None;
                let mut other = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "value" => value = Some(map.next_value::<Value>()?),
                        "type" if other.is_empty() => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                        _ => {
                            other.insert(key, map.next_value::<Value>()?);
                        }
                    }
                }
                Ok(WireAttribute(match value {
                    Some(v) if other.is_empty() => v,
                    Some(v) => {
                        other.insert("value".into(), v);
                        Value::Object(other)
                    }
                    None => Value::Object(other),
                }))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn bounded(v: Value) -> Value {
    match v {
        Value::String(s) if s.len() > MAX_VALUE_BYTES => {
            Value::String(truncate(&s, MAX_VALUE_BYTES))
        }
        Value::Array(a) => Value::Array(
            a.into_iter()
                .take(MAX_ARRAY_ITEMS)
                .map(|v| match v {
                    // No nesting below an array: attribute arrays hold scalars.
                    Value::Array(_) | Value::Object(_) => {
                        Value::String(truncate(&v.to_string(), 256))
                    }
                    v => bounded(v),
                })
                .collect(),
        ),
        Value::Object(o) => Value::String(truncate(&Value::Object(o).to_string(), MAX_VALUE_BYTES)),
        v => v,
    }
}

fn hex_id(v: Option<&Value>, len: usize) -> Option<String> {
    let s = v?.as_str()?;
    is_hex(s, len).then(|| s.to_ascii_lowercase())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn timestamp(v: Option<&Value>, field: &str) -> Result<DateTime<Utc>, String> {
    match v {
        None | Some(Value::Null) => Err(format!("span without a {field}")),
        Some(v) => parse_timestamp(v).ok_or_else(|| format!("span with an invalid {field}")),
    }
}

fn optional_str<'a>(v: Option<&'a Value>, field: &str) -> Result<Option<&'a str>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.is_empty())),
        Some(_) => Err(format!("span with {field} not a string")),
    }
}

pub(crate) fn duration_ms(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    (end - start).num_microseconds().unwrap_or(0).max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentry::Envelope;

    fn fixture_item(name: &str) -> Vec<u8> {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/sentry/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let env = Envelope::parse(&body).unwrap();
        env.items[0].payload.to_vec()
    }

    #[test]
    fn spans_without_environment_or_release_take_the_envelopes_trace_context() {
        let body = concat!(
            r#"{"trace":{"trace_id":"be5c3d573f004f258edd10155d5c12b0","environment":"staging","release":"shop@2.0"}}"#,
            "\n",
            r#"{"type":"span","content_type":"application/vnd.sentry.items.span.v2+json"}"#,
            "\n",
            r#"{"version":2,"items":[{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"b4bdfd7154d39b05","name":"GET /cart","status":"ok","is_segment":true,"start_timestamp":1795333783.0,"end_timestamp":1795333783.5,"attributes":{"sentry.op":{"value":"http.server","type":"string"}}},"#,
            r#"{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be30","parent_span_id":"b4bdfd7154d39b05","name":"SELECT 1","status":"ok","is_segment":false,"start_timestamp":1795333783.1,"end_timestamp":1795333783.2,"attributes":{"sentry.environment":{"value":"production","type":"string"}}}]}"#,
            "\n"
        );
        let env = Envelope::parse(body.as_bytes()).unwrap();
        let p = crate::sentry::process_envelope(
            &env,
            &Scrubber::default(),
            Default::default(),
            Utc::now(),
        );
        assert!(p.invalid.is_empty(), "{:?}", p.invalid);
        let Some(pharos_model::sentry::Record::Spans(batch)) = p.records.first() else {
            panic!("{:?}", p.records);
        };
        let segment = &batch.segments[0];
        assert_eq!(segment.environment.as_deref(), Some("staging"));
        assert_eq!(segment.release.as_deref(), Some("shop@2.0"));
        // A span's own attribute wins over the trace's.
        assert_eq!(batch.spans[1].environment.as_deref(), Some("production"));
        assert_eq!(batch.spans[1].release.as_deref(), Some("shop@2.0"));
    }

    #[test]
    fn a_streamed_segment_and_its_child() {
        let p = parse_span_item(
            &fixture_item("stream-001-span.envelope"),
            &Scrubber::default(),
        )
        .unwrap();
        assert!(p.refused.is_empty(), "{:?}", p.refused);
        assert_eq!(p.batch.spans.len(), 2);
        let child = &p.batch.spans[0];
        assert_eq!(child.name, "SELECT 2");
        assert_eq!(child.op.as_deref(), Some("db.query"));
        assert_eq!(child.parent_span_id.as_deref(), Some("b4bdfd7154d39b05"));
        assert_eq!(child.segment_id.as_deref(), Some("b4bdfd7154d39b05"));
        assert!(!child.is_segment);
        assert!(
            (child.duration_ms - 20.206).abs() < 0.01,
            "{}",
            child.duration_ms
        );
        assert_eq!(child.attributes["thread.name"], "MainThread");
        assert_eq!(p.batch.segments.len(), 1);
        let t = &p.batch.segments[0];
        assert_eq!(t.name, "streamed-job");
        assert_eq!(t.op.as_deref(), Some("task"));
        assert_eq!(t.environment.as_deref(), Some("production"));
        assert_eq!(t.release.as_deref(), Some("myapp@1.2.3"));
        assert_eq!(
            t.trace_id.as_deref(),
            Some("be5c3d573f004f258edd10155d5c12b0")
        );
        assert_eq!(t.span_id.as_deref(), Some("b4bdfd7154d39b05"));
        assert_eq!(t.event_id, "0ae1c0266bd3d4208edd10155d5c12b0");
        // Segments of one trace, and of traces that share their high half, stay apart.
        let trace = "be5c3d573f004f258edd10155d5c12b0";
        assert_ne!(
            segment_event_id(trace, "0000000000000001"),
            segment_event_id(trace, "0000000000000002")
        );
        assert_ne!(
            segment_event_id(trace, "0000000000000001"),
            segment_event_id("be5c3d573f004f258edd10155d5c12b1", "0000000000000001")
        );
        assert_eq!(t.span_count, 1);
        assert!((t.duration_ms - 24.849).abs() < 0.01, "{}", t.duration_ms);
        assert!(!t.failed());
        assert_eq!(
            t.payload["attributes"]["process.command_args"][0],
            "client_extra.py"
        );
    }

    #[test]
    fn bad_spans_are_refused_one_by_one_and_the_rest_kept() {
        let good = r#"{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be30","name":"ok","start_timestamp":1.5,"end_timestamp":2.0}"#;
        let body = format!(
            r#"{{"version":2,"items":[{good},
            {{"span_id":"8e93f489e294be31","start_timestamp":1,"end_timestamp":2}},
            {{"trace_id":"be5c3d573f004f258edd10155d5c12b0","start_timestamp":1,"end_timestamp":2}},
            {{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be32","end_timestamp":2}},
            {{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be33","start_timestamp":1,"end_timestamp":"soon"}},
            {{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be34","start_timestamp":1,"end_timestamp":2,"is_segment":"yes"}},
            {{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be35","start_timestamp":1,"end_timestamp":2,"name":7}},
            {{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be36","start_timestamp":1,"end_timestamp":2,"attributes":[]}},
            "not a span"]}}"#
        );
        let p = parse_span_item(body.as_bytes(), &Scrubber::default()).unwrap();
        assert_eq!(p.batch.spans.len(), 1);
        assert_eq!(p.batch.spans[0].duration_ms, 500.0);
        assert_eq!(
            p.refused,
            vec![
                "span without a valid trace_id",
                "span without a valid span_id",
                "span without a start_timestamp",
                "span with an invalid end_timestamp",
                "span with is_segment not a boolean",
                "span with name not a string",
                "span with attributes not an object",
                "span is not a JSON object",
            ]
        );
        assert!(parse_span_item(b"{\"version\":2}", &Scrubber::default()).is_err());
        assert!(parse_span_item(b"[1]", &Scrubber::default()).is_err());
    }

    #[test]
    fn attributes_are_scrubbed_and_bounded() {
        let body = format!(
            r#"{{"version":2,"items":[{{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be30","name":"GET /pay?token=abc123","start_timestamp":1,"end_timestamp":2,
            "attributes":{{"http.request.header.authorization":{{"value":"Bearer sk_live_abcdefghijkl","type":"string"}},
                          "db.password":{{"value":"hunter2","type":"string"}},
                          "long":{{"value":"{}","type":"string"}},
                          "n":{{"value":3,"type":"integer"}}}}}}]}}"#,
            "x".repeat(10_000)
        );
        let p = parse_span_item(body.as_bytes(), &Scrubber::default()).unwrap();
        let s = &p.batch.spans[0];
        let raw = s.attributes.to_string();
        assert!(
            !raw.contains("sk_live") && !raw.contains("hunter2"),
            "{raw}"
        );
        assert!(!s.name.contains("abc123"), "{}", s.name);
        assert!(s.attributes["long"].as_str().unwrap().len() <= MAX_VALUE_BYTES + 3);
        assert_eq!(s.attributes["n"], 3);
    }

    #[test]
    fn too_many_spans_in_one_item_are_refused_beyond_the_limit() {
        let one = r#"{"trace_id":"be5c3d573f004f258edd10155d5c12b0","span_id":"8e93f489e294be30","start_timestamp":1,"end_timestamp":2}"#;
        let body = format!(
            r#"{{"version":2,"items":[{}]}}"#,
            vec![one; MAX_SPANS_PER_ITEM + 3].join(",")
        );
        let p = parse_span_item(body.as_bytes(), &Scrubber::default()).unwrap();
        assert_eq!(p.batch.spans.len(), MAX_SPANS_PER_ITEM);
        assert_eq!(p.refused.len(), 3);
    }
}

#[cfg(test)]
mod cost {
    use super::*;
    use crate::sentry::Envelope;
    use std::time::Instant;

    /// `SPAN_ENVELOPE=/tmp/span-bench.envelope cargo test --release -p pharos-ingest -- --ignored --nocapture span_item_cost`
    /// (bench/spans.py's span envelope with a real trace id).
    #[test]
    #[ignore]
    fn span_item_cost() {
        let body = std::fs::read(std::env::var("SPAN_ENVELOPE").unwrap()).unwrap();
        let env = Envelope::parse(&body).unwrap();
        let payload = env.items[0].payload;
        let n = 5_000;
        let time = |label: &str, f: &dyn Fn()| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            println!(
                "{label:28} {:.1} us",
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            );
        };
        let on = Scrubber::default();
        let off = Scrubber::new(&crate::sentry::ScrubConfig {
            enabled: false,
            ..Default::default()
        })
        .unwrap();
        time("json parse into a Value", &|| {
            std::hint::black_box(serde_json::from_slice::<Value>(payload).unwrap());
        });
        time("parse_span_item, no scrub", &|| {
            std::hint::black_box(parse_span_item(payload, &off).unwrap());
        });
        time("parse_span_item", &|| {
            std::hint::black_box(parse_span_item(payload, &on).unwrap());
        });
        let p = parse_span_item(payload, &on).unwrap();
        time("attributes to_string", &|| {
            for s in &p.batch.spans {
                std::hint::black_box(s.attributes.to_string());
            }
        });
    }
}
