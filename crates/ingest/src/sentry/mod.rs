//! The Sentry ingest protocol as `sentry-sdk` 2.x and 3.x and other SDKs speak it: envelopes and
//! the older `/store/` body, auth, body encodings, scrubbing and grouping. Everything here
//! is pure: bytes in, typed records out; storing them is the error store's job. The
//! records themselves are `pharos_model::sentry`'s, so the store needs no parser; they are
//! re-exported here and from `event`, `items` and `grouping` under their usual names.

pub mod auth;
pub mod body;
pub mod envelope;
pub mod event;
pub mod feedback;
pub mod grouping;
pub mod items;
pub mod scrub;
pub mod source_maps;
pub mod spans;
pub mod user_agent;

use chrono::{DateTime, Utc};

pub use envelope::{Envelope, FramingError, Item};
pub use event::{ErrorEvent, EventError, MAX_EVENT_BYTES, parse_event};
pub use items::{
    Attachment, CheckIn, CheckInConfig, CheckInSchedule, CheckInStatus, Discarded, LogRecord,
    SessionCounts, Transaction,
};
pub use pharos_model::sentry::{Record, Span, SpanBatch};
pub use scrub::{ScrubConfig, Scrubber};

/// Data categories (as in `X-Sentry-Rate-Limits`) that Pharos does not keep. Saying so in
/// every answer makes SDKs stop sending them instead of wasting their bandwidth and ours.
pub const NOT_KEPT_CATEGORIES: &[&str] = &[
    "profile",
    "profile_chunk",
    "replay",
    "trace_metric",
    "metric_bucket",
];

#[derive(Debug, Default)]
pub struct Processed {
    pub records: Vec<Record>,
    /// Item types this Pharos does not keep (`profile`, `replay`, future types).
    pub skipped: Vec<String>,
    /// Items (or single spans of a `span` item) that could not be read, with the reason;
    /// the other items are still kept.
    pub invalid: Vec<(String, String)>,
    /// An event or transaction over [`MAX_EVENT_BYTES`]: the SDK expects 413.
    pub too_large: bool,
    pub framing: Option<FramingError>,
}

/// Limits an envelope's items must respect.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_attachment_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attachment_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Turns every item of an envelope into a record, skipping what is not kept and setting
/// aside what cannot be read, so that one bad item never costs the others.
pub fn process_envelope(
    envelope: &Envelope<'_>,
    scrubber: &Scrubber,
    limits: Limits,
    received: DateTime<Utc>,
) -> Processed {
    let mut out = Processed {
        framing: envelope.error.clone(),
        ..Processed::default()
    };
    let fallback_id = envelope.event_id();
    for item in &envelope.items {
        let result = match item.ty.as_str() {
            "event" | "error" | "security" | "default" => {
                parse_event(item.payload, fallback_id, scrubber, received)
                    .map(|e| Some(Record::Event(Box::new(e))))
            }
            "transaction" => {
                items::parse_transaction(item.payload, fallback_id, scrubber, received)
                    .map(|t| Some(Record::Transaction(Box::new(t))))
            }
            "session" => items::parse_session(item.payload, received)
                .map(|s| s.map(|s| Record::Sessions(vec![s]))),
            "sessions" => items::parse_sessions(item.payload).map(|s| Some(Record::Sessions(s))),
            "check_in" => items::parse_check_in(item.payload).map(|c| Some(Record::CheckIn(c))),
            "client_report" => {
                items::parse_client_report(item.payload).map(|d| Some(Record::ClientReport(d)))
            }
            "span" => match spans::parse_span_item(item.payload, scrubber) {
                Ok(mut parsed) => {
                    spans::fill_from_trace_context(&mut parsed.batch, envelope.header.get("trace"));
                    out.invalid
                        .extend(parsed.refused.into_iter().map(|r| (item.ty.clone(), r)));
                    Ok((!parsed.batch.spans.is_empty())
                        .then(|| Record::Spans(Box::new(parsed.batch))))
                }
                Err(e) => Err(e),
            },
            "feedback" | "user_report" => {
                let parsed = if item.ty == "feedback" {
                    feedback::parse_feedback(item.payload, fallback_id, scrubber, received)
                } else {
                    feedback::parse_user_report(item.payload, scrubber, received)
                };
                match parsed {
                    Ok(f) => out.records.push(Record::Feedback(f)),
                    Err(feedback::FeedbackError::Event(EventError::TooLarge)) => {
                        out.too_large = true
                    }
                    Err(e) => out.invalid.push((item.ty.clone(), e.to_string())),
                }
                continue;
            }
            "log" => {
                items::parse_logs(item.payload, scrubber, received).map(|l| Some(Record::Logs(l)))
            }
            "attachment" => {
                if item.payload.len() > limits.max_attachment_bytes {
                    out.invalid.push((
                        item.ty.clone(),
                        format!(
                            "attachment larger than {} bytes",
                            limits.max_attachment_bytes
                        ),
                    ));
                    continue;
                }
                match fallback_id {
                    Some(id) => Ok(Some(Record::Attachment(Attachment {
                        event_id: event::event_id_of(None, Some(id)),
                        filename: item
                            .header_str("filename")
                            .unwrap_or("attachment")
                            .to_string(),
                        content_type: item.header_str("content_type").map(str::to_owned),
                        data: item.payload.to_vec(),
                    }))),
                    None => Err(EventError::Json(
                        "attachment without an event_id in the envelope header".into(),
                    )),
                }
            }
            other => {
                out.skipped.push(other.to_string());
                continue;
            }
        };
        match result {
            Ok(Some(r)) => out.records.push(r),
            Ok(None) => {}
            Err(EventError::TooLarge) => out.too_large = true,
            Err(e) => out.invalid.push((item.ty.clone(), e.to_string())),
        }
    }
    out
}

/// The body of the older `POST /api/<id>/store/`: one event (or transaction) as JSON.
pub fn process_store_body(
    body: &[u8],
    scrubber: &Scrubber,
    received: DateTime<Utc>,
) -> Result<Record, EventError> {
    let is_transaction = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("type")
                .and_then(|t| t.as_str())
                .map(|t| t == "transaction")
        })
        .unwrap_or(false);
    if is_transaction {
        items::parse_transaction(body, None, scrubber, received)
            .map(|t| Record::Transaction(Box::new(t)))
    } else {
        parse_event(body, None, scrubber, received).map(|e| Record::Event(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/sentry/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn process(body: &[u8]) -> Processed {
        let env = Envelope::parse(body).unwrap();
        process_envelope(&env, &Scrubber::default(), Limits::default(), Utc::now())
    }

    #[test]
    fn every_recorded_envelope_is_accepted() {
        let dir = format!("{}/tests/fixtures/sentry", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".envelope"))
            .collect();
        names.sort();
        assert!(names.len() >= 20);
        for name in names {
            let p = process(&fixture(&name));
            assert!(
                p.framing.is_none() && p.invalid.is_empty() && !p.too_large,
                "{name}: {p:?}"
            );
            assert!(!p.records.is_empty() || !p.skipped.is_empty(), "{name}");
        }
    }

    #[test]
    fn unknown_items_are_skipped_and_the_rest_kept() {
        let p = process(&fixture("profile-001-profile-transaction.envelope"));
        assert_eq!(p.skipped, vec!["profile"]);
        assert!(matches!(p.records[0], Record::Transaction(_)));
        let p = process(&fixture("stream-001-span.envelope"));
        assert!(p.skipped.is_empty());
        assert!(
            matches!(&p.records[0], Record::Spans(b) if b.spans.len() == 2 && b.segments.len() == 1)
        );
        let p = process(&fixture("full-004-event-attachment.envelope"));
        assert_eq!(p.records.len(), 2);
        assert!(matches!(&p.records[1], Record::Attachment(a) if a.filename == "note.txt"));
    }

    #[test]
    fn a_span_item_with_bad_spans_keeps_its_good_spans_and_the_other_items() {
        let body = b"{}\n{\"type\":\"span\",\"content_type\":\"application/vnd.sentry.items.span.v2+json\"}\n{\"version\":2,\"items\":[{\"span_id\":\"8e93f489e294be30\"},{\"trace_id\":\"be5c3d573f004f258edd10155d5c12b0\",\"span_id\":\"8e93f489e294be30\",\"start_timestamp\":1,\"end_timestamp\":2,\"is_segment\":true}]}\n{\"type\":\"event\"}\n{\"message\":\"kept\",\"event_id\":\"0123456789abcdef0123456789abcdef\"}\n";
        let p = process(body);
        assert_eq!(
            p.invalid,
            vec![(
                "span".to_string(),
                "span without a valid trace_id".to_string()
            )]
        );
        assert_eq!(p.records.len(), 2);
        assert!(
            matches!(&p.records[0], Record::Spans(b) if b.spans.len() == 1 && b.segments.len() == 1)
        );
        assert!(matches!(&p.records[1], Record::Event(_)));
        // A span item that cannot be read at all is one invalid item.
        let body = b"{}\n{\"type\":\"span\"}\n{\"version\":2}\n";
        assert_eq!(process(body).invalid.len(), 1);
    }

    #[test]
    fn one_bad_item_does_not_cost_the_others() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"event\"}\n{not json\n{\"type\":\"event\"}\n{\"message\":\"ok\",\"event_id\":\"0123456789abcdef0123456789abcdef\"}\n";
        let p = process(body);
        assert_eq!(p.invalid.len(), 1);
        assert_eq!(p.records.len(), 1);
        let big = format!(
            "{{}}\n{{\"type\":\"event\"}}\n{{\"message\":\"{}\"}}\n",
            "x".repeat(MAX_EVENT_BYTES)
        );
        assert!(process(big.as_bytes()).too_large);
    }
}

#[cfg(test)]
mod cost {
    use super::*;
    use std::time::Instant;

    /// `cargo test --release -p pharos-ingest -- --ignored --nocapture per_event_cost`
    #[test]
    #[ignore]
    fn per_event_cost() {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/sentry/full-001-event.envelope",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let env = Envelope::parse(&body).unwrap();
        let mut ev: serde_json::Value = serde_json::from_slice(env.items[0].payload).unwrap();
        let frames = ev["exception"]["values"][0]["stacktrace"]["frames"]
            .as_array()
            .unwrap()
            .clone();
        let mut many = Vec::new();
        for i in 0..30 {
            let mut f = frames[i % frames.len()].clone();
            f["function"] = serde_json::json!(format!("handler_{i}"));
            many.push(f);
        }
        ev["exception"]["values"][0]["stacktrace"]["frames"] = serde_json::Value::Array(many);
        let bytes = serde_json::to_vec(&ev).unwrap();
        println!("event bytes {}", bytes.len());
        let mut c = (0, 0, 0, 0);
        scrub::census(&Scrubber::default(), &ev, &mut c);
        println!(
            "keys {} strings {} candidates {} string bytes {}",
            c.0, c.1, c.2, c.3
        );
        let sc = Scrubber::default();
        let t = Instant::now();
        for _ in 0..20_000 {
            let mut c = (0, 0, 0, 0);
            scrub::census(&sc, &ev, &mut c);
            std::hint::black_box(c);
        }
        println!(
            "census walk  {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / 20_000.0
        );
        let s = Scrubber::default();
        let n = 20_000;
        let now = Utc::now();
        let t = Instant::now();
        for _ in 0..n {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            std::hint::black_box(v);
        }
        println!(
            "parse only   {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let t = Instant::now();
        for _ in 0..n {
            let mut v2 = v.clone();
            s.scrub(&mut v2);
            std::hint::black_box(v2);
        }
        println!(
            "clone+scrub  {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(v.clone());
        }
        println!(
            "clone only   {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(parse_event(&bytes, None, &s, now).unwrap());
        }
        println!(
            "parse_event  {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(serde_json::to_vec(&v).unwrap());
        }
        println!(
            "serialize    {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
}
