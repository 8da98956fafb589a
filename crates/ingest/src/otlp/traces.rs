//! OTLP/HTTP traces (`POST /v1/traces`, and Sentry's per-project
//! `/api/<project>/integration/otlp/v1/traces`): an `ExportTraceServiceRequest` as protobuf
//! or OTLP/JSON, read into the same [`Span`]s as the Sentry SDKs' so one span store,
//! waterfall and performance page serve both. Message types are declared by hand with
//! prost's derive, field numbers as in `opentelemetry/proto/trace/v1/trace.proto`.
//!
//! OpenTelemetry has no transactions; as Sentry does, a span whose parent is absent or in
//! another process (the `is_remote` span flag, or for exporters that do not send it a
//! server or consumer span) is a segment, which the performance pages list as a
//! transaction, and its descendants in the export are its spans. Sentry's names come from
//! the semantic conventions: `op` from the kind and the `http.*` / `db.*` / `rpc.*` /
//! `messaging.*` attributes, `status` from the status code and the HTTP or gRPC status,
//! environment from `deployment.environment(.name)`, release from `service.version`.
//!
//! A bad span (no ids, no timestamps) is refused alone with its position and reason; the
//! rest of the export is kept.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pharos_model::sentry::{Span, SpanBatch};
use serde_json::{Map, Value};

use super::{
    DecodeError, InstrumentationScope, KeyValue, Resource, json_id, json_key_values, json_u64,
    list, plain_value, str_field,
};
use crate::sentry::Scrubber;
use crate::sentry::event::truncate;
use crate::sentry::spans::{
    MAX_ATTRIBUTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, bounded, duration_ms, segment_transaction,
};

/// What a [`DecodeError`] calls this signal.
const SIGNAL: &str = "traces";

/// Spans one export may carry (the SDKs' batch processors send at most 512).
pub const MAX_SPANS_PER_EXPORT: usize = 10_000;

/// How far up its parents a span's segment is looked for.
const MAX_DEPTH: usize = 128;

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` and `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpans {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<OtlpSpan>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct OtlpSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    #[prost(fixed32, tag = "16")]
    pub flags: u32,
    /// Bytes, not string: a name of invalid UTF-8 is kept lossily instead of failing the
    /// whole export.
    #[prost(bytes = "vec", tag = "5")]
    pub name: Vec<u8>,
    #[prost(int32, tag = "6")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<SpanEvent>,
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SpanEvent {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(int32, tag = "3")]
    pub code: i32,
}

/// `Status.code`.
const STATUS_ERROR: i32 = 2;

/// `SpanKind`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    fn from_number(n: i32) -> Kind {
        match n {
            1 => Kind::Internal,
            2 => Kind::Server,
            3 => Kind::Client,
            4 => Kind::Producer,
            5 => Kind::Consumer,
            _ => Kind::Unspecified,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Unspecified => "unspecified",
            Kind::Internal => "internal",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        }
    }
}

/// The spans of one resource of an export: one service's.
#[derive(Debug, Default)]
pub struct ServiceSpans {
    /// The resource's `service.name`.
    pub service: Option<String>,
    pub batch: SpanBatch,
}

/// A span refused, with where it was in the export and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedSpan {
    pub position: String,
    pub reason: String,
}

/// What an export became: each resource's spans (a transaction per segment) and the
/// spans refused.
#[derive(Debug, Default)]
pub struct DecodedSpans {
    pub services: Vec<ServiceSpans>,
    pub refused: Vec<RefusedSpan>,
}

impl DecodedSpans {
    pub fn span_count(&self) -> usize {
        self.services.iter().map(|s| s.batch.spans.len()).sum()
    }

    /// The answer's `partialSuccess`, when spans were refused.
    pub fn partial_success(&self) -> Option<super::PartialSuccess> {
        super::partial_success(
            self.refused
                .iter()
                .map(|r| (r.position.as_str(), r.reason.as_str())),
        )
    }
}

/// Decodes a protobuf `ExportTraceServiceRequest` (already decompressed).
pub fn decode_protobuf(body: &[u8], scrubber: &Scrubber) -> Result<DecodedSpans, DecodeError> {
    let req = <ExportTraceServiceRequest as prost::Message>::decode(body).map_err(|source| {
        DecodeError::Protobuf {
            signal: SIGNAL,
            source,
        }
    })?;
    let mut reader = Reader::new(scrubber);
    for (i, rs) in req.resource_spans.into_iter().enumerate() {
        let resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
        let service = reader.start_resource(&resource);
        for (j, ss) in rs.scope_spans.into_iter().enumerate() {
            for (k, span) in ss.spans.into_iter().enumerate() {
                let position = format!("resourceSpans[{i}].scopeSpans[{j}].spans[{k}]");
                reader.push(service, &resource, ss.scope.as_ref(), position, Ok(span));
            }
        }
    }
    Ok(reader.finish())
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
pub fn decode_json(body: &[u8], scrubber: &Scrubber) -> Result<DecodedSpans, DecodeError> {
    let json_error = |reason: String| DecodeError::Json {
        signal: SIGNAL,
        reason,
    };
    let root: Value = serde_json::from_slice(body).map_err(|e| json_error(e.to_string()))?;
    let Value::Object(mut root) = root else {
        return Err(json_error("not a JSON object".into()));
    };
    let resource_spans = match root.remove("resourceSpans") {
        Some(Value::Array(r)) => r,
        // An empty export is `{}` in proto3's JSON.
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(json_error("\"resourceSpans\" is not a list".into())),
    };
    let mut reader = Reader::new(scrubber);
    for (i, rs) in resource_spans.iter().enumerate() {
        if !rs.is_object() {
            reader.refuse(format!("resourceSpans[{i}]"), "not an object".into());
            continue;
        }
        let resource = rs
            .get("resource")
            .and_then(|r| r.get("attributes"))
            .map(json_key_values)
            .unwrap_or_default();
        let service = reader.start_resource(&resource);
        for (j, ss) in list(rs, "scopeSpans").iter().enumerate() {
            if !ss.is_object() {
                reader.refuse(
                    format!("resourceSpans[{i}].scopeSpans[{j}]"),
                    "not an object".into(),
                );
                continue;
            }
            let scope = ss.get("scope").map(|s| InstrumentationScope {
                name: str_field(s, "name"),
                version: str_field(s, "version"),
            });
            for (k, span) in list(ss, "spans").iter().enumerate() {
                let position = format!("resourceSpans[{i}].scopeSpans[{j}].spans[{k}]");
                reader.push(
                    service,
                    &resource,
                    scope.as_ref(),
                    position,
                    json_span(span),
                );
            }
        }
    }
    Ok(reader.finish())
}

fn json_span(v: &Value) -> Result<OtlpSpan, String> {
    if !v.is_object() {
        return Err("span is not an object".into());
    }
    let status = v.get("status").filter(|s| s.is_object());
    Ok(OtlpSpan {
        trace_id: json_id(v, "traceId", 16)?,
        span_id: json_id(v, "spanId", 8)?,
        parent_span_id: json_id(v, "parentSpanId", 8)?,
        flags: v
            .get("flags")
            .and_then(Value::as_u64)
            .and_then(|f| u32::try_from(f).ok())
            .unwrap_or(0),
        name: str_field(v, "name").into_bytes(),
        kind: json_enum(v.get("kind"), "SPAN_KIND_", &SPAN_KINDS),
        start_time_unix_nano: json_u64(v, "startTimeUnixNano")?,
        end_time_unix_nano: json_u64(v, "endTimeUnixNano")?,
        attributes: v.get("attributes").map(json_key_values).unwrap_or_default(),
        events: list(v, "events")
            .iter()
            .map(|e| SpanEvent {
                time_unix_nano: json_u64(e, "timeUnixNano").unwrap_or(0),
                name: str_field(e, "name"),
                attributes: e.get("attributes").map(json_key_values).unwrap_or_default(),
            })
            .collect(),
        status: status.map(|s| Status {
            message: str_field(s, "message"),
            code: json_enum(s.get("code"), "STATUS_CODE_", &STATUS_CODES),
        }),
    })
}

const SPAN_KINDS: [&str; 6] = [
    "UNSPECIFIED",
    "INTERNAL",
    "SERVER",
    "CLIENT",
    "PRODUCER",
    "CONSUMER",
];
const STATUS_CODES: [&str; 3] = ["UNSET", "OK", "ERROR"];

/// An enum of OTLP/JSON: a number as the spec asks, or its name as some encoders write it.
fn json_enum(v: Option<&Value>, prefix: &str, names: &[&str]) -> i32 {
    match v {
        Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(0),
        Some(Value::String(s)) => {
            let name = s.strip_prefix(prefix).unwrap_or(s);
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(name))
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// Reads an export's spans resource by resource, then links each span to its segment.
struct Reader<'a> {
    scrubber: &'a Scrubber,
    out: DecodedSpans,
    seen: usize,
}

impl<'a> Reader<'a> {
    fn new(scrubber: &'a Scrubber) -> Reader<'a> {
        Reader {
            scrubber,
            out: DecodedSpans::default(),
            seen: 0,
        }
    }

    /// Starts a resource's spans; returns its index in [`DecodedSpans::services`].
    fn start_resource(&mut self, resource: &[KeyValue]) -> usize {
        let service = resource
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(plain_value)
            .and_then(|v| v.as_str().map(|s| truncate(s.trim(), 200)))
            .filter(|s| !s.is_empty());
        self.out.services.push(ServiceSpans {
            service,
            batch: SpanBatch::default(),
        });
        self.out.services.len() - 1
    }

    fn refuse(&mut self, position: String, reason: String) {
        self.out.refused.push(RefusedSpan { position, reason });
    }

    fn push(
        &mut self,
        service: usize,
        resource: &[KeyValue],
        scope: Option<&InstrumentationScope>,
        position: String,
        span: Result<OtlpSpan, String>,
    ) {
        self.seen += 1;
        if self.seen > MAX_SPANS_PER_EXPORT {
            return self.refuse(
                position,
                format!("more than {MAX_SPANS_PER_EXPORT} spans in one export"),
            );
        }
        match span.and_then(|s| to_span(resource, scope, s, self.scrubber)) {
            Ok(s) => self.out.services[service].batch.spans.push(s),
            Err(reason) => self.refuse(position, reason),
        }
    }

    /// Links spans to their segments within the export and makes each segment's
    /// transaction.
    fn finish(mut self) -> DecodedSpans {
        for group in &mut self.out.services {
            let spans = &mut group.batch.spans;
            let index: HashMap<(String, String), usize> = spans
                .iter()
                .enumerate()
                .map(|(i, s)| ((s.trace_id.clone(), s.span_id.clone()), i))
                .collect();
            let segments: Vec<Option<String>> = (0..spans.len())
                .map(|i| segment_of(spans, &index, i))
                .collect();
            for (span, segment) in spans.iter_mut().zip(segments) {
                if span.segment_id.is_none() {
                    span.segment_id = segment;
                }
            }
            for s in spans.iter().filter(|s| s.is_segment) {
                let mut t = segment_transaction(s);
                t.span_count = spans
                    .iter()
                    .filter(|c| !c.is_segment && c.segment_id.as_ref() == Some(&s.span_id))
                    .count();
                group.batch.segments.push(t);
            }
        }
        self.out.services.retain(|s| !s.batch.spans.is_empty());
        self.out
    }
}

/// The span id of the nearest segment at or above `i` among the export's spans.
fn segment_of(
    spans: &[Span],
    index: &HashMap<(String, String), usize>,
    mut i: usize,
) -> Option<String> {
    for _ in 0..MAX_DEPTH {
        let s = &spans[i];
        if s.is_segment {
            return Some(s.span_id.clone());
        }
        let parent = s.parent_span_id.as_ref()?;
        i = *index.get(&(s.trace_id.clone(), parent.clone()))?;
    }
    None
}

/// One OTLP span as a [`Span`], or why it is refused.
fn to_span(
    resource: &[KeyValue],
    scope: Option<&InstrumentationScope>,
    s: OtlpSpan,
    scrubber: &Scrubber,
) -> Result<Span, String> {
    let id = |bytes: &[u8], len: usize| {
        (bytes.len() == len && bytes.iter().any(|b| *b != 0)).then(|| hex::encode(bytes))
    };
    let trace_id = id(&s.trace_id, 16).ok_or("span without a valid traceId")?;
    let span_id = id(&s.span_id, 8).ok_or("span without a valid spanId")?;
    let parent_span_id = match s.parent_span_id.len() {
        0 => None,
        _ => Some(id(&s.parent_span_id, 8).ok_or("span with an invalid parentSpanId")?),
    };
    let time = |nanos: u64, field: &str| -> Result<DateTime<Utc>, String> {
        match i64::try_from(nanos) {
            Ok(0) => Err(format!("span without a {field}")),
            Ok(n) => Ok(DateTime::from_timestamp_nanos(n)),
            Err(_) => Err(format!("span with {field} beyond the year 2262")),
        }
    };
    let start = time(s.start_time_unix_nano, "startTimeUnixNano")?;
    let end = time(s.end_time_unix_nano, "endTimeUnixNano")?;
    let kind = Kind::from_number(s.kind);

    // Resource attributes first, so the span's own win; then what OTLP says beside them.
    let mut attrs = Map::new();
    let mut put = |key: &str, value: Value| {
        if key.len() <= MAX_KEY_BYTES && (attrs.len() < MAX_ATTRIBUTES || attrs.contains_key(key)) {
            attrs.insert(key.to_string(), bounded(value));
        }
    };
    for kv in resource.iter().chain(&s.attributes) {
        if let Some(v) = kv.value.as_ref() {
            put(&kv.key, plain_value(v));
        }
    }
    put("otel.kind", Value::from(kind.as_str()));
    if let Some(scope) = scope.filter(|s| !s.name.is_empty()) {
        put("otel.scope.name", Value::from(scope.name.as_str()));
    }
    let status = s.status.unwrap_or_default();
    if !status.message.is_empty() {
        put(
            "otel.status_description",
            Value::from(status.message.as_str()),
        );
    }
    // The first exception recorded on the span (`span.record_exception`), as its
    // attributes would name it.
    if let Some(e) = s.events.iter().find(|e| e.name == "exception") {
        for kv in &e.attributes {
            if matches!(kv.key.as_str(), "exception.type" | "exception.message")
                && let Some(v) = kv.value.as_ref()
            {
                put(&kv.key, plain_value(v));
            }
        }
    }
    let mut attributes = Value::Object(attrs);
    scrubber.scrub(&mut attributes);

    let text = |key: &str| {
        attributes
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| truncate(s, 200))
    };
    let has = |key: &str| attributes.get(key).is_some_and(|v| !v.is_null());
    let op = text("sentry.op").or_else(|| infer_op(kind, &has).map(str::to_string));
    let http_status = ["http.response.status_code", "http.status_code"]
        .iter()
        .find_map(|k| attributes.get(*k).and_then(status_number));
    let grpc_status = attributes
        .get("rpc.grpc.status_code")
        .and_then(status_number);
    let status = if status.code == STATUS_ERROR {
        http_status
            .and_then(http_status_name)
            .or_else(|| grpc_status.and_then(grpc_status_name))
            .unwrap_or("unknown_error")
    } else {
        "ok"
    };
    let environment = text("sentry.environment")
        .or_else(|| text("deployment.environment.name"))
        .or_else(|| text("deployment.environment"));
    let release = text("sentry.release").or_else(|| text("service.version"));
    // A span is a segment when nothing of its trace in this process is above it.
    let remote_parent = if s.flags & HAS_IS_REMOTE != 0 {
        s.flags & IS_REMOTE != 0
    } else {
        matches!(kind, Kind::Server | Kind::Consumer)
    };
    let is_segment = parent_span_id.is_none() || remote_parent;
    let name = String::from_utf8_lossy(&s.name);
    let name = match name.trim() {
        "" => "<unlabeled span>".to_string(),
        n => scrubber.scrub_text(n).unwrap_or_else(|| n.to_string()),
    };
    Ok(Span {
        segment_id: is_segment.then(|| span_id.clone()),
        trace_id,
        span_id,
        parent_span_id,
        is_segment,
        name: truncate(&name, MAX_VALUE_BYTES),
        op,
        status: status.to_string(),
        start,
        duration_ms: duration_ms(start, end),
        environment,
        release,
        attributes,
    })
}

/// Sentry's operation for a span, from its kind and the semantic conventions.
fn infer_op(kind: Kind, has: &impl Fn(&str) -> bool) -> Option<&'static str> {
    if has("http.request.method") || has("http.method") {
        return Some(match kind {
            Kind::Server => "http.server",
            Kind::Client => "http.client",
            _ => "http",
        });
    }
    if has("db.system") || has("db.system.name") {
        return Some("db");
    }
    if has("rpc.system") {
        return Some(match kind {
            Kind::Server => "rpc.server",
            Kind::Client => "rpc.client",
            _ => "rpc",
        });
    }
    if has("messaging.system") {
        return Some(match kind {
            Kind::Producer => "queue.publish",
            Kind::Consumer => "queue.process",
            _ => "queue",
        });
    }
    None
}

fn status_number(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Sentry's span status for an HTTP status of a failed span.
fn http_status_name(code: u16) -> Option<&'static str> {
    Some(match code {
        401 => "unauthenticated",
        403 => "permission_denied",
        404 => "not_found",
        409 => "already_exists",
        412 => "failed_precondition",
        429 => "resource_exhausted",
        499 => "cancelled",
        501 => "unimplemented",
        503 => "unavailable",
        504 => "deadline_exceeded",
        // 400 and the other client errors.
        400..=499 => "invalid_argument",
        500..=599 => "internal_error",
        _ => return None,
    })
}

/// Sentry's span status for a gRPC status code of a failed span.
fn grpc_status_name(code: u16) -> Option<&'static str> {
    const NAMES: [&str; 17] = [
        "ok",
        "cancelled",
        "unknown_error",
        "invalid_argument",
        "deadline_exceeded",
        "not_found",
        "already_exists",
        "permission_denied",
        "resource_exhausted",
        "failed_precondition",
        "aborted",
        "out_of_range",
        "unimplemented",
        "internal_error",
        "unavailable",
        "data_loss",
        "unauthenticated",
    ];
    NAMES.get(usize::from(code)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/traces/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// The Python SDK's export: a request served under a remote parent with two child
    /// spans, and a failed request of its own trace.
    fn check_python_sdk_export(out: &DecodedSpans) {
        assert!(out.refused.is_empty(), "{:?}", out.refused);
        let [group] = &out.services[..] else {
            panic!("{out:?}")
        };
        assert_eq!(group.service.as_deref(), Some("gateway"));
        let spans = &group.batch.spans;
        assert_eq!(spans.len(), 4);
        let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
        let server = by_name("GET /orders/{id}");
        assert!(server.is_segment, "a remote parent makes a segment");
        assert_eq!(server.parent_span_id.as_deref(), Some("eee19b7ec3c1b174"));
        assert_eq!(server.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(server.op.as_deref(), Some("http.server"));
        assert_eq!(server.status, "ok");
        assert_eq!(server.environment.as_deref(), Some("production"));
        assert_eq!(server.release.as_deref(), Some("2.4.1"));
        assert_eq!(server.attributes["http.route"], "/orders/{id}");
        assert_eq!(server.attributes["service.name"], "gateway");
        assert_eq!(server.attributes["otel.kind"], "server");
        assert_eq!(server.attributes["otel.scope.name"], "gateway.handlers");
        let load = by_name("load order");
        assert!(!load.is_segment);
        assert_eq!(load.op, None);
        assert_eq!(load.segment_id.as_ref(), Some(&server.span_id));
        assert_eq!(load.attributes["exception.type"], "KeyError");
        let db = by_name("SELECT orders");
        assert_eq!(db.op.as_deref(), Some("db"));
        assert_eq!(
            db.segment_id.as_ref(),
            Some(&server.span_id),
            "a grandchild finds its segment"
        );
        assert!(
            db.duration_ms > 1.0 && db.duration_ms < 1000.0,
            "{}",
            db.duration_ms
        );
        let failed = by_name("POST /checkout");
        assert!(failed.is_segment && failed.parent_span_id.is_none());
        assert_eq!(failed.status, "unavailable", "HTTP 503 on an error span");
        assert_eq!(
            failed.attributes["otel.status_description"],
            "upstream unavailable"
        );

        let names: Vec<(&str, usize)> = group
            .batch
            .segments
            .iter()
            .map(|t| (t.name.as_str(), t.span_count))
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&("GET /orders/{id}", 2)), "{names:?}");
        assert!(names.contains(&("POST /checkout", 0)), "{names:?}");
        let t = &group
            .batch
            .segments
            .iter()
            .find(|t| t.span_count == 2)
            .unwrap();
        assert_eq!(t.op.as_deref(), Some("http.server"));
        assert_eq!(t.span_id.as_ref(), Some(&server.span_id));
        assert!(group.batch.segments.iter().any(|t| t.failed()));
    }

    #[test]
    fn reads_the_python_sdk_export_in_protobuf_and_json() {
        let scrubber = Scrubber::default();
        let pb = decode_protobuf(&fixture("otlp-python-sdk.pb"), &scrubber).unwrap();
        check_python_sdk_export(&pb);
        let json = decode_json(&fixture("otlp-python-sdk.json"), &scrubber).unwrap();
        check_python_sdk_export(&json);
        assert_eq!(pb.partial_success(), None);
    }

    #[test]
    fn a_bad_span_is_refused_alone() {
        let body = serde_json::json!({"resourceSpans": [
            {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
             "scopeSpans": [{"spans": [
                {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "1111111111111111",
                 "name": "ok", "kind": "SPAN_KIND_SERVER",
                 "startTimeUnixNano": 1796661074310000000u64, "endTimeUnixNano": "1796661074320000000",
                 "status": {"code": "STATUS_CODE_ERROR"}},
                {"spanId": "2222222222222222", "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
                {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "3333333333333333",
                 "endTimeUnixNano": "2"},
                {"traceId": "00000000000000000000000000000000", "spanId": "4444444444444444",
                 "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
                {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "55",
                 "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
                "nonsense"
             ]}, 7]},
            "not a resource"
        ]});
        let out = decode_json(body.to_string().as_bytes(), &Scrubber::default()).unwrap();
        assert_eq!(out.span_count(), 1);
        let s = &out.services[0].batch.spans[0];
        assert_eq!(s.duration_ms, 10.0);
        assert_eq!(
            s.status, "unknown_error",
            "an error span without an HTTP status"
        );
        assert_eq!(s.attributes["otel.kind"], "server");
        let positions: Vec<&str> = out.refused.iter().map(|r| r.position.as_str()).collect();
        assert_eq!(
            positions,
            [
                "resourceSpans[0].scopeSpans[0].spans[1]",
                "resourceSpans[0].scopeSpans[0].spans[2]",
                "resourceSpans[0].scopeSpans[0].spans[3]",
                "resourceSpans[0].scopeSpans[0].spans[4]",
                "resourceSpans[0].scopeSpans[0].spans[5]",
                "resourceSpans[0].scopeSpans[1]",
                "resourceSpans[1]",
            ]
        );
        assert_eq!(out.refused[0].reason, "span without a valid traceId");
        assert_eq!(out.refused[1].reason, "span without a startTimeUnixNano");
        assert!(
            out.refused[3].reason.contains("spanId \"55\""),
            "{:?}",
            out.refused[3]
        );
        let answer = super::super::response_json(out.partial_success(), "rejectedSpans");
        assert_eq!(answer["partialSuccess"]["rejectedSpans"], "7");
    }

    #[test]
    fn unreadable_exports_are_errors() {
        let scrubber = Scrubber::default();
        for body in [&b"not json"[..], b"[]", b"{\"resourceSpans\":{}}"] {
            let err = decode_json(body, &scrubber).unwrap_err();
            assert!(err.to_string().contains("OTLP traces request"), "{err}");
        }
        assert_eq!(decode_json(b"{}", &scrubber).unwrap().span_count(), 0);
        let mut cut = fixture("otlp-python-sdk.pb");
        cut.truncate(cut.len() - 7);
        assert!(decode_protobuf(&cut, &scrubber).is_err());
    }

    #[test]
    fn secrets_in_attributes_and_names_are_scrubbed() {
        let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "1111111111111111",
            "name": "GET /login", "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "attributes": [{"key": "password", "value": {"stringValue": "hunter2"}}]
        }]}]}]});
        let out = decode_json(body.to_string().as_bytes(), &Scrubber::default()).unwrap();
        let s = &out.services[0].batch.spans[0];
        assert_ne!(s.attributes["password"], "hunter2");
        assert_eq!(out.services[0].service, None);
    }

    #[test]
    fn attributes_are_bounded() {
        let attributes: Vec<Value> = (0..500)
            .map(|i| serde_json::json!({"key": format!("k{i}"), "value": {"stringValue": "x".repeat(10_000)}}))
            .collect();
        let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "1111111111111111",
            "name": "n".repeat(100_000), "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            "attributes": attributes
        }]}]}]});
        let out = decode_json(body.to_string().as_bytes(), &Scrubber::default()).unwrap();
        let s = &out.services[0].batch.spans[0];
        assert_eq!(s.attributes.as_object().unwrap().len(), MAX_ATTRIBUTES);
        // Cut at the limit, with an ellipsis.
        let cut = MAX_VALUE_BYTES + '…'.len_utf8();
        assert_eq!(s.attributes["k0"].as_str().unwrap().len(), cut);
        assert_eq!(s.name.len(), cut);
    }
}
