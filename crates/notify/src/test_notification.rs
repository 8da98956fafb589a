//! "Send a test notification": a synthetic firing alert sent through every integration of
//! one receiver right away, so a person setting up a channel sees it arrive (or reads why
//! not) without waiting for something to break.

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, Labels, Notification};
use serde::Serialize;

use crate::{Receivers, SendError, send_parts};

/// The alert's name, so a rule or a receiver can recognise (and drop) test alerts.
pub const TEST_ALERT_NAME: &str = "PharosTestNotification";

/// How one integration took the test.
#[derive(Clone, Debug, Serialize)]
pub struct IntegrationOutcome {
    /// The delivery-log name (`ops/slack0`).
    pub integration: String,
    pub kind: &'static str,
    /// `delivered` or `failed`.
    pub status: &'static str,
    pub response_status: Option<u16>,
    pub error: Option<String>,
    /// The payload that was sent, to keep in the delivery log.
    #[serde(skip)]
    pub payload: String,
    #[serde(skip)]
    pub alert_fingerprint: String,
}

/// What the whole test came to: `delivered` when every integration took it, `failed`
/// when one did not, and `not_sent` when nothing was sent at all (a receiver with no
/// integrations, or whose integrations all leave such a notification out): nothing
/// arrived anywhere, so it must not read as delivered.
pub fn overall_status(outcomes: &[IntegrationOutcome]) -> &'static str {
    if outcomes.is_empty() {
        "not_sent"
    } else if outcomes.iter().all(|o| o.status == "delivered") {
        "delivered"
    } else {
        "failed"
    }
}

/// The synthetic alert: firing since `now`, severity `info`, pointing at Pharos.
pub fn test_alert(receiver: &str, external_url: &str, now: DateTime<Utc>) -> Alert {
    let mut labels = Labels::new();
    labels.insert("alertname".into(), TEST_ALERT_NAME.into());
    labels.insert("severity".into(), "info".into());
    labels.insert("receiver".into(), receiver.into());
    let mut annotations = Labels::new();
    annotations.insert(
        "summary".into(),
        format!("Test notification from Pharos to receiver {receiver}"),
    );
    annotations.insert(
        "description".into(),
        "Sent on request to check that this channel works. Nothing is wrong; no action needed."
            .into(),
    );
    let external = external_url.trim_end_matches('/');
    Alert {
        fingerprint: Alert::fingerprint_of(&labels),
        labels,
        annotations,
        state: AlertState::Firing,
        starts_at: now,
        ends_at: None,
        generator_url: if external.is_empty() {
            String::new()
        } else {
            format!("{external}/alerts")
        },
        updated_at: now,
    }
}

/// Sends a test notification through every integration of `receiver`; `None` when no
/// receiver has that name. Integrations are tried one after the other, each once: the
/// answer is what a person waits for, so there are no retries.
pub async fn test_notification(
    receivers: &Receivers,
    receiver: &str,
    client: &reqwest::Client,
    now: DateTime<Utc>,
) -> Option<Vec<IntegrationOutcome>> {
    let integrations = receivers.integrations_of(receiver)?.to_vec();
    let alert = test_alert(receiver, receivers.external_url(), now);
    let notification = Notification::single(receiver, &alert, receivers.external_url());
    let mut out = Vec::new();
    for r in integrations {
        let Some(payload) = r.payload_for(&notification) else {
            continue;
        };
        let (result, _) = send_parts(r.as_ref(), client, &payload, 0).await;
        let (status, response_status, error) = match result {
            Ok(code) => ("delivered", Some(code), None),
            Err(e @ (SendError::Retryable { .. } | SendError::Permanent { .. })) => {
                ("failed", e.status(), Some(e.to_string()))
            }
        };
        tracing::info!(
            operation = "test_notification",
            receiver = r.name(),
            outcome = status,
            "test notification {status}"
        );
        out.push(IntegrationOutcome {
            integration: r.name().to_string(),
            kind: r.integration(),
            status,
            response_status,
            error,
            payload,
            alert_fingerprint: alert.fingerprint.clone(),
        });
    }
    Some(out)
}
