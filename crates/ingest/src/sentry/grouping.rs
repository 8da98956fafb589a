//! Grouping: which issue an event belongs to, the way Sentry users expect.
//!
//! 1. A custom `fingerprint` wins; `{{ default }}` in it expands to the default grouping.
//! 2. Otherwise the exception chain: each exception's type plus its in-app frames (module
//!    and function, never line numbers, so an edit elsewhere in the file keeps the issue).
//!    Without in-app frames, all frames; without frames, the type and the normalised value.
//! 3. Otherwise the log message template (`logentry.message` without its params).
//! 4. Otherwise the message with numbers, hex and UUIDs normalised away.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use pharos_model::sentry::Grouping;

pub fn group(event: &Value) -> Grouping {
    let default = default_components(event);
    let components = match event.get("fingerprint").and_then(Value::as_array) {
        Some(fp) if !fp.is_empty() => {
            let mut out = Vec::new();
            for part in fp {
                let text = match part {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                if compact == "{{default}}" {
                    out.extend(default.iter().cloned());
                } else {
                    out.push(format!("fingerprint:{text}"));
                }
            }
            out
        }
        _ => default,
    };
    let mut h = Sha256::new();
    for c in &components {
        h.update(c.as_bytes());
        h.update(b"\n");
    }
    let hash = hex::encode(&h.finalize()[..16]);
    Grouping { components, hash }
}

fn default_components(event: &Value) -> Vec<String> {
    let exceptions = exception_values(event);
    if !exceptions.is_empty() {
        let any_in_app = exceptions
            .iter()
            .flat_map(|e| frames(e))
            .any(|f| f.get("in_app").and_then(Value::as_bool) == Some(true));
        let mut out = Vec::new();
        for e in &exceptions {
            let ty = e.get("type").and_then(Value::as_str).unwrap_or("Error");
            out.push(format!("type:{ty}"));
            let fs: Vec<&Value> = frames(e)
                .filter(|f| !any_in_app || f.get("in_app").and_then(Value::as_bool) == Some(true))
                .collect();
            if fs.is_empty() {
                let value = e.get("value").and_then(Value::as_str).unwrap_or("");
                out.push(format!("value:{}", normalise_message(value)));
            }
            for f in fs {
                out.push(format!("frame:{}:{}", frame_location(f), frame_function(f)));
            }
        }
        return out;
    }
    if let Some(template) = event
        .get("logentry")
        .and_then(|l| l.get("message"))
        .and_then(Value::as_str)
    {
        let has_params = event
            .get("logentry")
            .and_then(|l| l.get("params"))
            .is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty()) || p.is_object());
        return vec![format!(
            "message:{}",
            if has_params {
                template.to_string()
            } else {
                normalise_message(template)
            }
        )];
    }
    let message = message_text(event).unwrap_or_default();
    vec![format!("message:{}", normalise_message(&message))]
}

/// The exceptions of an event, oldest (the root cause) first, as the SDKs send them.
pub fn exception_values(event: &Value) -> Vec<&Value> {
    values_of(event.get("exception"))
}

/// A list interface in either of its shapes: `{"values": [...]}` or the older bare `[...]`
/// (exceptions, breadcrumbs, threads).
pub fn values_of(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Object(o)) => o
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    }
}

pub fn frames(exception: &Value) -> impl Iterator<Item = &Value> {
    exception
        .get("stacktrace")
        .and_then(|s| s.get("frames"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Module when the SDK sent one, else the file name without directories (paths differ
/// between hosts and deploys, module names do not).
pub fn frame_location(f: &Value) -> String {
    if let Some(m) = f
        .get("module")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        return m.to_string();
    }
    let file = f
        .get("filename")
        .or_else(|| f.get("abs_path"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    file.rsplit(['/', '\\']).next().unwrap_or(file).to_string()
}

pub fn frame_function(f: &Value) -> &str {
    f.get("function").and_then(Value::as_str).unwrap_or("?")
}

/// The human message of an event: `logentry.formatted`, `logentry.message`, or `message`
/// (a string, or an object in the older interface).
pub fn message_text(event: &Value) -> Option<String> {
    let from = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("formatted")
                .or_else(|| o.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        }
    };
    event
        .get("logentry")
        .and_then(from)
        .or_else(|| event.get("message").and_then(from))
        .filter(|s| !s.is_empty())
}

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b").unwrap()
});
static HEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:0x[0-9a-f]+|[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*|[0-9a-f]*[a-f][0-9a-f]*\d[0-9a-f]*)\b").unwrap()
});
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").unwrap());

/// `order 1234 (id 5b16fd0b…) failed after 1.5s` → `order <int> (id <hex>) failed after <int>s`.
pub fn normalise_message(message: &str) -> String {
    let s = UUID.replace_all(message, "<uuid>");
    let s = HEX.replace_all(&s, |c: &regex::Captures| {
        let m = &c[0];
        // Short mixed tokens such as "v2" or "3d" are words, not ids.
        if m.len() >= 8 || m.starts_with("0x") {
            "<hex>".to_string()
        } else {
            m.to_string()
        }
    });
    NUMBER.replace_all(&s, "<int>").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exc(ty: &str, value: &str, frames: Value) -> Value {
        json!({"exception": {"values": [{"type": ty, "value": value, "stacktrace": {"frames": frames}}]}})
    }

    #[test]
    fn exceptions_group_by_type_and_in_app_frames_not_lines() {
        let a = exc(
            "KeyError",
            "'a'",
            json!([
                {"module": "django.core", "function": "handle", "lineno": 10, "in_app": false},
                {"module": "app.views", "function": "checkout", "lineno": 42, "in_app": true},
            ]),
        );
        let b = exc(
            "KeyError",
            "'b'",
            json!([
                {"module": "django.core", "function": "handle", "lineno": 99, "in_app": false},
                {"module": "app.views", "function": "checkout", "lineno": 50, "in_app": true},
            ]),
        );
        let c = exc(
            "KeyError",
            "'a'",
            json!([
                {"module": "app.views", "function": "refund", "lineno": 42, "in_app": true},
            ]),
        );
        assert_eq!(group(&a).hash, group(&b).hash);
        assert_ne!(group(&a).hash, group(&c).hash);
        assert_eq!(
            group(&a).components,
            vec!["type:KeyError", "frame:app.views:checkout"]
        );
    }

    #[test]
    fn custom_fingerprint_and_default_expansion() {
        let mut e = exc(
            "ValueError",
            "x",
            json!([{"module": "m", "function": "f", "in_app": true}]),
        );
        e["fingerprint"] = json!(["payment-gateway"]);
        assert_eq!(group(&e).components, vec!["fingerprint:payment-gateway"]);
        e["fingerprint"] = json!(["{{ default }}", "tenant-7"]);
        assert_eq!(
            group(&e).components,
            vec!["type:ValueError", "frame:m:f", "fingerprint:tenant-7"]
        );
    }

    #[test]
    fn messages_group_by_template_or_normalised_text() {
        let a = json!({"logentry": {"message": "payment failed for order %s", "params": [1234]}});
        let b = json!({"logentry": {"message": "payment failed for order %s", "params": [99]}});
        assert_eq!(group(&a).hash, group(&b).hash);
        let c = json!({"message": "user 42 timed out after 1.5s (req 5b16fd0b-4b94-4d4a-bc07-deb75942731d, 0xdeadbeef)"});
        let d = json!({"message": "user 7 timed out after 30s (req 00000000-0000-0000-0000-000000000000, 0x1)"});
        assert_eq!(group(&c).hash, group(&d).hash);
        assert_eq!(
            normalise_message(
                "user 42 timed out after 1.5s (req 5b16fd0b4b944d4abc07deb75942731d)"
            ),
            "user <int> timed out after <int>s (req <uuid>)"
        );
        assert_ne!(group(&c).hash, group(&json!({"message": "disk full"})).hash);
    }
}
