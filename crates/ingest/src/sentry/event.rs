//! Error and message events (`event` items and the `/store/` endpoint), turned into what
//! the error store keeps: the scrubbed payload plus the fields issues are built from.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::grouping;
use super::scrub::Scrubber;
use super::user_agent;

pub use pharos_model::sentry::ErrorEvent;

/// Sentry's per-event limit, decompressed.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not valid JSON: {0}")]
    Json(String),
    #[error("event is not a JSON object")]
    NotObject,
    #[error("event is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
}

/// Parses, scrubs and groups one event. `fallback_id` is the envelope's `event_id`.
pub fn parse_event(
    bytes: &[u8],
    fallback_id: Option<&str>,
    scrubber: &Scrubber,
    received: DateTime<Utc>,
) -> Result<ErrorEvent, EventError> {
    let (mut payload, event_id) = read_payload(bytes, fallback_id)?;
    let obj = payload.as_object_mut().expect("read_payload checked");
    let timestamp = obj
        .get("timestamp")
        .and_then(parse_timestamp)
        .unwrap_or(received);
    obj.insert(
        "timestamp".into(),
        Value::String(timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    );
    // Scrub first: grouping, titles and tags are built from what is kept.
    scrubber.scrub(&mut payload);
    // Browser SDKs send a user agent, not a browser: derive it as Sentry does.
    let derived_tags = user_agent::derive_contexts(&mut payload);
    let obj = payload.as_object().expect("still an object");

    let exceptions = grouping::exception_values(&payload);
    let level = obj
        .get("level")
        .and_then(Value::as_str)
        .map(normalise_level)
        .unwrap_or("error")
        .to_string();
    let grouping = grouping::group(&payload);
    let (title, culprit) = title_and_culprit(&payload, &exceptions);
    let s = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let environment = s("environment");
    let release = s("release");
    let user = obj.get("user").and_then(user_identifier);
    let mut tags = vec![("level".to_string(), level.clone())];
    for key in [
        "environment",
        "release",
        "server_name",
        "transaction",
        "logger",
    ] {
        if let Some(v) = s(key) {
            tags.push((key.to_string(), v));
        }
    }
    if let Some(u) = &user {
        tags.push(("user".into(), u.clone()));
    }
    for (k, v) in event_tags(obj).into_iter().chain(derived_tags) {
        if !tags.iter().any(|(tk, _)| *tk == k) {
            tags.push((k, v));
        }
    }
    let trace_id = obj
        .get("contexts")
        .and_then(|c| c.get("trace"))
        .and_then(|t| t.get("trace_id"))
        .and_then(Value::as_str)
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase);
    Ok(ErrorEvent {
        event_id,
        timestamp,
        level,
        grouping,
        title,
        culprit,
        environment,
        release,
        user,
        tags,
        trace_id,
        payload,
    })
}

/// Recomputes what is derived from the frames (grouping, culprit) after they changed:
/// source maps turned minified frames into original ones, which group the issue.
pub fn refresh_from_frames(event: &mut ErrorEvent) {
    let exceptions = grouping::exception_values(&event.payload);
    let (_, culprit) = title_and_culprit(&event.payload, &exceptions);
    event.culprit = culprit;
    event.grouping = grouping::group(&event.payload);
}

/// An event-shaped item: size-checked, parsed as a JSON object, its `event_id` settled
/// (the event's, else the envelope's, else a new one) and written back into it.
pub(crate) fn read_payload(
    bytes: &[u8],
    fallback_id: Option<&str>,
) -> Result<(Value, String), EventError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge);
    }
    let mut payload: Value =
        serde_json::from_slice(bytes).map_err(|e| EventError::Json(e.to_string()))?;
    let Some(obj) = payload.as_object_mut() else {
        return Err(EventError::NotObject);
    };
    let event_id = event_id_of(obj.get("event_id"), fallback_id);
    obj.insert("event_id".into(), Value::String(event_id.clone()));
    Ok((payload, event_id))
}

/// A valid id from the event or the envelope, else a new one.
pub fn event_id_of(value: Option<&Value>, fallback: Option<&str>) -> String {
    let clean = |s: &str| -> Option<String> {
        let hex: String = s
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
    };
    value
        .and_then(Value::as_str)
        .and_then(clean)
        .or_else(|| fallback.and_then(clean))
        .unwrap_or_else(|| hex::encode(rand_bytes()))
}

fn rand_bytes() -> [u8; 16] {
    // Uniqueness, not secrecy: time plus a process-wide counter, hashed.
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let d = Sha256::new()
        .chain_update(t.to_le_bytes())
        .chain_update(n.to_le_bytes())
        .chain_update(std::process::id().to_le_bytes())
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// RFC 3339 strings or seconds since the epoch, as the SDKs send them.
pub fn parse_timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => {
            let secs = n.as_f64()?;
            DateTime::from_timestamp_micros((secs * 1e6) as i64)
        }
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                // Naive timestamps are UTC (older SDKs omit the zone).
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc())
            }),
        _ => None,
    }
}

fn normalise_level(l: &str) -> &'static str {
    match l.to_ascii_lowercase().as_str() {
        "fatal" | "critical" => "fatal",
        "warning" | "warn" => "warning",
        "info" | "log" => "info",
        "debug" => "debug",
        _ => "error",
    }
}

fn user_identifier(user: &Value) -> Option<String> {
    ["id", "email", "username", "ip_address"]
        .iter()
        .find_map(|k| match user.get(*k)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// `tags` as an object or as a list of pairs.
fn event_tags(obj: &Map<String, Value>) -> Vec<(String, String)> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match obj.get("tags") {
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), text(v)))
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|p| match p.as_array()?.as_slice() {
                [Value::String(k), v] if !v.is_null() => Some((k.clone(), text(v))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|(k, v)| (truncate(&k, 32), truncate(&v, 200)))
    .collect()
}

fn title_and_culprit(event: &Value, exceptions: &[&Value]) -> (String, String) {
    let explicit_culprit = event
        .get("culprit")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let transaction = event
        .get("transaction")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    // The last exception is the one that was raised; earlier ones are its causes.
    if let Some(main) = exceptions.last() {
        let ty = main.get("type").and_then(Value::as_str).unwrap_or("Error");
        let value = main.get("value").and_then(Value::as_str).unwrap_or("");
        let first_line = value.lines().next().unwrap_or("");
        let title = if first_line.is_empty() {
            ty.to_string()
        } else {
            format!("{ty}: {first_line}")
        };
        let frames: Vec<&Value> = grouping::frames(main).collect();
        let top = frames
            .iter()
            .rev()
            .find(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
            .or(frames.last());
        let culprit = explicit_culprit
            .or_else(|| {
                top.map(|f| {
                    format!(
                        "{} in {}",
                        grouping::frame_location(f),
                        grouping::frame_function(f)
                    )
                })
            })
            .or(transaction)
            .unwrap_or_default();
        return (truncate(&title, 200), truncate(&culprit, 200));
    }
    let title = grouping::message_text(event)
        .map(|m| m.lines().next().unwrap_or("").to_string())
        .unwrap_or_else(|| "<unlabeled event>".into());
    let culprit = explicit_culprit
        .or(transaction)
        .or_else(|| {
            event
                .get("logger")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (truncate(&title, 200), truncate(&culprit, 200))
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_item(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/sentry/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(&path).unwrap();
        let env = super::super::Envelope::parse(&body).unwrap();
        env.items
            .iter()
            .find(|i| i.ty == "event")
            .unwrap()
            .payload
            .to_vec()
    }

    #[test]
    fn exception_event_from_the_real_sdk() {
        let ev = parse_event(
            &fixture_item("full-001-event.envelope"),
            None,
            &Scrubber::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(ev.event_id, "5b16fd0b4b944d4abc07deb75942731d");
        assert_eq!(ev.title, "ZeroDivisionError: division by zero");
        assert_eq!(ev.culprit, "__main__ in inner");
        assert_eq!(ev.level, "error");
        assert_eq!(ev.environment.as_deref(), Some("production"));
        assert_eq!(ev.release.as_deref(), Some("myapp@1.2.3"));
        assert_eq!(ev.user.as_deref(), Some("u-1"));
        assert!(ev.tags.contains(&("component".into(), "billing".into())));
        assert!(
            ev.tags
                .contains(&("server_name".into(), "bot-host-1".into()))
        );
    }

    #[test]
    fn secret_local_variable_is_scrubbed() {
        let ev = parse_event(
            &fixture_item("secret-001-event.envelope"),
            None,
            &Scrubber::default(),
            Utc::now(),
        )
        .unwrap();
        let s = ev.payload.to_string();
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("\"secret_token\":\"[Filtered]\""));
    }

    #[test]
    fn log_message_event() {
        let ev = parse_event(
            &fixture_item("full-003-event.envelope"),
            None,
            &Scrubber::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(ev.title, "payment failed for order 1234");
        assert_eq!(ev.culprit, "myapp.worker");
        assert_eq!(
            ev.grouping.components,
            vec!["message:payment failed for order %s"]
        );
    }

    #[test]
    fn a_browser_event_gets_browser_and_os_from_its_user_agent() {
        // As @sentry/browser 11 sends it: a request with the user agent, no browser context.
        let ev = parse_event(
            br#"{"exception":{"values":[{"type":"Error","value":"boom"}]},"platform":"javascript",
                 "request":{"url":"http://localhost:8000/","headers":{"User-Agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}},
                 "contexts":{"trace":{"trace_id":"36129df0e58047ffb94d7a39062f2633","span_id":"a5dd10c485fc92d4"}}}"#,
            None,
            &Scrubber::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(ev.payload["contexts"]["browser"]["name"], "Chrome");
        assert_eq!(ev.payload["contexts"]["browser"]["version"], "131.0.0.0");
        assert_eq!(ev.payload["contexts"]["os"]["name"], "Linux");
        assert_eq!(
            ev.trace_id.as_deref(),
            Some("36129df0e58047ffb94d7a39062f2633")
        );
        for tag in [
            ("browser", "Chrome 131.0.0.0"),
            ("browser.name", "Chrome"),
            ("os.name", "Linux"),
        ] {
            assert!(
                ev.tags.contains(&(tag.0.into(), tag.1.into())),
                "{tag:?} in {:?}",
                ev.tags
            );
        }
    }

    #[test]
    fn ids_timestamps_and_bad_input() {
        let now = Utc::now();
        let ev = parse_event(
            br#"{"message":"x","timestamp":1795333730.5}"#,
            Some("AC8AEC64-7128-431C-AB81-249778218C47"),
            &Scrubber::default(),
            now,
        )
        .unwrap();
        assert_eq!(ev.event_id, "ac8aec647128431cab81249778218c47");
        assert_eq!(ev.timestamp.timestamp(), 1795333730);
        let ev2 = parse_event(br#"{"message":"x"}"#, None, &Scrubber::default(), now).unwrap();
        assert_eq!(ev2.event_id.len(), 32);
        assert_eq!(ev2.timestamp, now);
        assert!(matches!(
            parse_event(b"{bad", None, &Scrubber::default(), now),
            Err(EventError::Json(_))
        ));
        assert!(matches!(
            parse_event(b"[1]", None, &Scrubber::default(), now),
            Err(EventError::NotObject)
        ));
    }
}
