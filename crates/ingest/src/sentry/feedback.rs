//! User feedback as the SDKs send it: the `feedback` item (an event whose
//! `contexts.feedback` holds the message, contact and the event it is about; what the
//! JavaScript feedback widget and `captureFeedback` send) and the older user report
//! (`{event_id, name, email, comments}`, as a `user_report` item or the body of
//! `POST /api/0/projects/{org}/{project}/user-feedback/`). Every text is cut to a bound and
//! the message scrubbed of secret-shaped values; the contact details are kept as given,
//! since answering the person is what they are for.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::event::{EventError, event_id_of, parse_timestamp, read_payload, truncate};
use super::scrub::Scrubber;
pub use pharos_model::sentry::{Feedback, FeedbackSource};

/// The longest message kept, in bytes (Sentry's own limit for feedback messages).
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// The longest name or email kept, in bytes.
pub const MAX_CONTACT_BYTES: usize = 256;
/// The longest page URL kept, in bytes.
pub const MAX_URL_BYTES: usize = 1024;
/// The largest user report body read: three short strings and an id.
pub const MAX_USER_REPORT_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("user report larger than {MAX_USER_REPORT_BYTES} bytes")]
    TooLarge,
    #[error("feedback has no message")]
    NoMessage,
    #[error("user report has no valid event_id")]
    NoEventId,
}

fn text(v: Option<&Value>, max: usize) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| truncate(s, max))
}

fn scrubbed(message: String, scrubber: &Scrubber) -> String {
    scrubber.scrub_text(&message).unwrap_or(message)
}

/// A hex event id, or `None` when the value is not one (a feedback is kept without the
/// link rather than linked to a made-up event).
fn valid_event_id(v: Option<&Value>) -> Option<String> {
    let s = v.and_then(Value::as_str)?;
    let hex: String = s
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// A `feedback` item: an event with `contexts.feedback`.
pub fn parse_feedback(
    bytes: &[u8],
    fallback_id: Option<&str>,
    scrubber: &Scrubber,
    received: DateTime<Utc>,
) -> Result<Feedback, FeedbackError> {
    let (payload, feedback_id) = read_payload(bytes, fallback_id)?;
    let context = payload.get("contexts").and_then(|c| c.get("feedback"));
    let message = text(context.and_then(|c| c.get("message")), MAX_MESSAGE_BYTES)
        .ok_or(FeedbackError::NoMessage)?;
    let user = payload.get("user");
    Ok(Feedback {
        feedback_id,
        associated_event_id: valid_event_id(context.and_then(|c| c.get("associated_event_id"))),
        message: scrubbed(message, scrubber),
        // The widget's fields first; an SDK's user context fills in what the form left out.
        name: text(context.and_then(|c| c.get("name")), MAX_CONTACT_BYTES)
            .or_else(|| text(user.and_then(|u| u.get("username")), MAX_CONTACT_BYTES)),
        email: text(
            context.and_then(|c| c.get("contact_email")),
            MAX_CONTACT_BYTES,
        )
        .or_else(|| text(user.and_then(|u| u.get("email")), MAX_CONTACT_BYTES)),
        url: text(context.and_then(|c| c.get("url")), MAX_URL_BYTES),
        environment: text(payload.get("environment"), 64),
        release: text(payload.get("release"), 200),
        timestamp: payload
            .get("timestamp")
            .and_then(parse_timestamp)
            .unwrap_or(received),
        source: FeedbackSource::Feedback,
    })
}

#[derive(Deserialize)]
struct UserReport {
    event_id: Option<Value>,
    name: Option<Value>,
    email: Option<Value>,
    comments: Option<Value>,
}

/// A user report (`user_report` item or the user-feedback endpoint's body). The report is
/// about its `event_id`, which also serves as its own id, so a repeated report replaces
/// nothing and is stored once.
pub fn parse_user_report(
    bytes: &[u8],
    scrubber: &Scrubber,
    received: DateTime<Utc>,
) -> Result<Feedback, FeedbackError> {
    if bytes.len() > MAX_USER_REPORT_BYTES {
        return Err(FeedbackError::TooLarge);
    }
    let r: UserReport = serde_json::from_slice(bytes)
        .map_err(|e| FeedbackError::Event(EventError::Json(e.to_string())))?;
    let event_id = valid_event_id(r.event_id.as_ref()).ok_or(FeedbackError::NoEventId)?;
    let message = text(r.comments.as_ref(), MAX_MESSAGE_BYTES).ok_or(FeedbackError::NoMessage)?;
    Ok(Feedback {
        feedback_id: event_id_of(None, Some(&event_id)),
        associated_event_id: Some(event_id),
        message: scrubbed(message, scrubber),
        name: text(r.name.as_ref(), MAX_CONTACT_BYTES),
        email: text(r.email.as_ref(), MAX_CONTACT_BYTES),
        url: None,
        environment: None,
        release: None,
        timestamp: received,
        source: FeedbackSource::UserReport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_widget_feedback_keeps_message_contact_and_link() {
        // The shape @sentry/browser's feedback widget sends (`sendFeedback`).
        let body = br#"{"event_id":"4c5e0b3c1b9a4f8e9d8a7b6c5d4e3f2a","timestamp":1733580000.5,
            "type":"feedback","level":"info","environment":"staging","release":"web@1.2.0",
            "platform":"javascript","user":{"email":"fallback@example.com"},
            "contexts":{"feedback":{"message":"The save button does nothing",
              "contact_email":"ana@example.com","name":"Ana","source":"widget",
              "url":"https://app.example.com/settings",
              "associated_event_id":"0123456789abcdef0123456789ABCDEF"}}}"#;
        let f = parse_feedback(body, None, &Scrubber::default(), Utc::now()).unwrap();
        assert_eq!(f.feedback_id, "4c5e0b3c1b9a4f8e9d8a7b6c5d4e3f2a");
        assert_eq!(
            f.associated_event_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(f.message, "The save button does nothing");
        assert_eq!(f.email.as_deref(), Some("ana@example.com"));
        assert_eq!(f.name.as_deref(), Some("Ana"));
        assert_eq!(f.environment.as_deref(), Some("staging"));
        assert_eq!(f.source, FeedbackSource::Feedback);
    }

    #[test]
    fn the_node_sdks_capture_feedback_envelope_is_read() {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/sentry/feedback-001-node-captureFeedback.envelope",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let env = crate::sentry::Envelope::parse(&body).unwrap();
        let p = crate::sentry::process_envelope(
            &env,
            &Scrubber::default(),
            crate::sentry::Limits::default(),
            Utc::now(),
        );
        let [pharos_model::sentry::Record::Feedback(f)] = &p.records[..] else {
            panic!("{p:?}");
        };
        assert_eq!(f.message, "The basket forgets what I add");
        assert_eq!(f.email.as_deref(), Some("dana@example.com"));
        assert_eq!(f.name.as_deref(), Some("Dana"));
        assert_eq!(f.url.as_deref(), Some("https://shop.example.com/basket"));
        assert_eq!(
            f.associated_event_id.as_deref(),
            Some("5195989760c9411db44f70b1fbb2ca2e")
        );
        assert_eq!(f.environment.as_deref(), Some("staging"));
        assert_eq!(f.release.as_deref(), Some("shop@3.1.0"));
    }

    #[test]
    fn feedback_without_a_message_is_refused_and_overlong_text_cut() {
        let none = br#"{"contexts":{"feedback":{"name":"x"}}}"#;
        assert!(matches!(
            parse_feedback(none, None, &Scrubber::default(), Utc::now()),
            Err(FeedbackError::NoMessage)
        ));
        let long = format!(
            r#"{{"contexts":{{"feedback":{{"message":"{}","name":"{}","associated_event_id":"nope"}}}}}}"#,
            "m".repeat(10_000),
            "n".repeat(1000)
        );
        let f = parse_feedback(long.as_bytes(), None, &Scrubber::default(), Utc::now()).unwrap();
        assert!(f.message.len() <= MAX_MESSAGE_BYTES + 3);
        assert!(f.name.unwrap().len() <= MAX_CONTACT_BYTES + 3);
        assert_eq!(f.associated_event_id, None);
    }

    #[test]
    fn a_user_report_is_about_its_event() {
        let body = br#"{"event_id":"0123456789abcdef0123456789abcdef","name":"Bo","email":"bo@example.com","comments":"It crashed when I clicked pay"}"#;
        let f = parse_user_report(body, &Scrubber::default(), Utc::now()).unwrap();
        assert_eq!(f.feedback_id, "0123456789abcdef0123456789abcdef");
        assert_eq!(
            f.associated_event_id.as_deref(),
            Some(f.feedback_id.as_str())
        );
        assert_eq!(f.message, "It crashed when I clicked pay");
        assert_eq!(f.source, FeedbackSource::UserReport);
        assert!(matches!(
            parse_user_report(br#"{"comments":"x"}"#, &Scrubber::default(), Utc::now()),
            Err(FeedbackError::NoEventId)
        ));
        let big = vec![b' '; MAX_USER_REPORT_BYTES + 1];
        assert!(matches!(
            parse_user_report(&big, &Scrubber::default(), Utc::now()),
            Err(FeedbackError::TooLarge)
        ));
    }

    #[test]
    fn a_secret_pasted_into_a_message_is_scrubbed() {
        let body = br#"{"event_id":"0123456789abcdef0123456789abcdef","comments":"my card 4111111111111111 was charged twice"}"#;
        let f = parse_user_report(body, &Scrubber::default(), Utc::now()).unwrap();
        assert!(!f.message.contains("4111111111111111"), "{}", f.message);
    }
}
