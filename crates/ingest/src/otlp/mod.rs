//! What the OTLP/HTTP signals share (`common/v1/common.proto` and the export answers):
//! resources, instrumentation scopes, attributes (`KeyValue` / `AnyValue`) as prost
//! messages declared by hand, their OTLP/JSON reading (proto3's JSON mapping with
//! lowerCamelCase names, 64-bit integers as strings or numbers, ids as hex), and the
//! `partialSuccess` answer. Logs (`crate::logs::otlp`) and traces ([`traces`]) read their
//! own envelopes around these.

pub mod traces;

use serde_json::{Map, Value};

/// A request the decoder could not read at all; a bad record inside a readable request is
/// refused alone, with its position and reason.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not an OTLP {signal} request in JSON: {reason}")]
    Json {
        signal: &'static str,
        reason: String,
    },
    #[error("body is not an OTLP {signal} request in protobuf: {source}")]
    Protobuf {
        signal: &'static str,
        source: prost::DecodeError,
    },
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

pub mod any_value {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Declared as bytes, not string, so that one record of invalid UTF-8 is kept
        /// (lossily) instead of failing the whole request as prost's string check would.
        #[prost(bytes = "vec", tag = "1")]
        StringValue(Vec<u8>),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

pub(crate) fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub(crate) fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn json_key_values(v: &Value) -> Vec<KeyValue> {
    v.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|kv| {
            Some(KeyValue {
                key: kv.get("key")?.as_str()?.to_string(),
                value: kv.get("value").map(json_any_value),
            })
        })
        .collect()
}

/// A value of an unexpected shape is kept as its JSON text rather than dropped.
pub(crate) fn json_any_value(v: &Value) -> AnyValue {
    use any_value::Value as V;
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return AnyValue { value: None };
    };
    let value = match (kind.as_str(), inner) {
        ("stringValue", Value::String(s)) => V::StringValue(s.clone().into_bytes()),
        ("boolValue", Value::Bool(b)) => V::BoolValue(*b),
        ("intValue", Value::String(s)) if s.parse::<i64>().is_ok() => {
            V::IntValue(s.parse().unwrap_or_default())
        }
        ("intValue", Value::Number(n)) if n.is_i64() => V::IntValue(n.as_i64().unwrap_or_default()),
        ("doubleValue", Value::Number(n)) => V::DoubleValue(n.as_f64().unwrap_or_default()),
        ("arrayValue", a) => V::ArrayValue(ArrayValue {
            values: list(a, "values").iter().map(json_any_value).collect(),
        }),
        ("kvlistValue", kv) => V::KvlistValue(KeyValueList {
            values: kv.get("values").map(json_key_values).unwrap_or_default(),
        }),
        // Bytes are base64 in proto3's JSON; kept as that text.
        (_, other) => V::StringValue(match other {
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }),
    };
    AnyValue { value: Some(value) }
}

/// An attribute's value as plain JSON: a kvlist becomes an object, bytes become hex.
pub(crate) fn plain_value(v: &AnyValue) -> Value {
    use any_value::Value as V;
    match &v.value {
        None => Value::Null,
        Some(V::StringValue(b)) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(f)) => Value::from(*f),
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(plain_value).collect()),
        Some(V::KvlistValue(kvs)) => Value::Object(
            kvs.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().map_or(Value::Null, plain_value);
                    (kv.key.clone(), v)
                })
                .collect(),
        ),
        Some(V::BytesValue(b)) => Value::String(hex::encode(b)),
    }
}

/// A `u64` field of an OTLP/JSON object (nanoseconds): a string or a number, 0 when absent.
pub(crate) fn json_u64(v: &Value, key: &str) -> Result<u64, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("{key} {s:?} is not a number of nanoseconds")),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("{key} {n} is not a number of nanoseconds")),
        Some(other) => Err(format!("{key} {other} is not a number of nanoseconds")),
    }
}

/// A trace or span id of an OTLP/JSON object (hex, `len` bytes), empty when absent.
pub(crate) fn json_id(v: &Value, key: &str, len: usize) -> Result<Vec<u8>, String> {
    match v.get(key).and_then(Value::as_str) {
        None | Some("") => Ok(Vec::new()),
        Some(s) => hex::decode(s)
            .ok()
            .filter(|b| b.len() == len)
            .ok_or_else(|| format!("{key} {s:?} is not {} hex digits", len * 2)),
    }
}

/// The part of the export answers common to every signal: `ExportLogsPartialSuccess` and
/// `ExportTracePartialSuccess` have the same fields under different JSON names.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PartialSuccess {
    /// `rejected_log_records` or `rejected_spans`.
    #[prost(int64, tag = "1")]
    pub rejected: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `ExportLogsServiceResponse` and `ExportTraceServiceResponse` alike.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<PartialSuccess>,
}

/// How many refusals the answer's `errorMessage` spells out.
const REASONS_IN_ANSWER: usize = 5;

/// The answer's partial success from each refusal's `(position, reason)`, or `None` when
/// every record was taken (the spec asks that the field then be left unset). A resource or
/// scope group that was not an object counts as one refused record: how many records it
/// held cannot be known.
pub fn partial_success<'a>(
    rejected: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Option<PartialSuccess> {
    let count = rejected.len();
    if count == 0 {
        return None;
    }
    let mut message: Vec<String> = rejected
        .take(REASONS_IN_ANSWER)
        .map(|(position, reason)| format!("{position}: {reason}"))
        .collect();
    if count > REASONS_IN_ANSWER {
        message.push(format!("and {} more", count - REASONS_IN_ANSWER));
    }
    Some(PartialSuccess {
        rejected: count as i64,
        error_message: message.join("; "),
    })
}

/// The JSON body of a successful export: `{}`, or
/// `{"partialSuccess":{"<count_field>":"N","errorMessage":"…"}}` (int64 as a string, as
/// proto3's JSON writes it).
pub fn response_json(partial: Option<PartialSuccess>, count_field: &str) -> Value {
    match partial {
        None => Value::Object(Map::new()),
        Some(p) => {
            let mut inner = Map::new();
            inner.insert(count_field.into(), Value::String(p.rejected.to_string()));
            inner.insert("errorMessage".into(), Value::String(p.error_message));
            let mut root = Map::new();
            root.insert("partialSuccess".into(), Value::Object(inner));
            Value::Object(root)
        }
    }
}

/// The protobuf body of a successful export.
pub fn response_protobuf(partial: Option<PartialSuccess>) -> Vec<u8> {
    prost::Message::encode_to_vec(&ExportResponse {
        partial_success: partial,
    })
}
