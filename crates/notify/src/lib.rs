//! Receivers: deliver alerts with retries and a delivery log.
//!
//! Notifications are queued in the store in the same transaction that changes an alert
//! (see `pharos_evaluate::engine`); the [`DeliveryWorker`] sends what is due, records every
//! attempt, and retries with exponential backoff. Each channel is one file under
//! `receivers/` behind the [`Receiver`] trait; `text` writes the words they all share.

pub mod alertmanager_global;
mod blocking;
pub mod dispatch;
pub mod http;
pub mod incidents;
pub mod message_template;
pub mod oncall;
pub mod receivers;
pub mod secret;
pub mod template_files;
pub mod test_notification;
pub mod text;
mod worker;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use pharos_model::Notification;
use pharos_store::NewDelivery;

pub use receivers::ReceiverConfig;
pub use receivers::webhook::{WebhookConfig, WebhookReceiver};
pub use secret::{Secret, SecretUrl};
pub use test_notification::{IntegrationOutcome, overall_status, test_notification};
pub use worker::{DeliveryMetrics, DeliveryWorker, RetryPolicy};

/// How one attempt went.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another try later (network error, 5xx, 429).
    #[error("{reason}")]
    Retryable { status: Option<u16>, reason: String },
    /// Will not succeed by retrying (4xx, a payload the receiver cannot read).
    #[error("{reason}")]
    Permanent { status: Option<u16>, reason: String },
}

impl SendError {
    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError::Permanent {
            status: None,
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            SendError::Retryable { status, .. } | SendError::Permanent { status, .. } => *status,
        }
    }
}

/// One notification channel: turns a group's notification into a payload, and sends
/// payloads. The payload is rendered once, when the notification is queued, and stored:
/// retries send exactly the same bytes.
pub trait Receiver: Send + Sync {
    /// `<receiver>/<kind><index>`, or the receiver's name when it has one integration.
    fn name(&self) -> &str;
    /// The kind: `webhook`, `slack`, `telegram`, …
    fn integration(&self) -> &'static str {
        "custom"
    }
    /// The config as the API shows it: credentials as `<secret>`. Nothing by default, so
    /// a receiver that forgets this shows no secret.
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// The payload for this notification, or `None` when this receiver does not want it
    /// (e.g. every alert resolved and `send_resolved: false`).
    fn payload_for(&self, notification: &Notification) -> Option<String>;
    /// The requests a stored payload is sent as, in order. One for most channels; a
    /// Telegram message too long for one message, or an SMS to several numbers, is
    /// several. The worker remembers how many went through, so a retry resends only the
    /// rest.
    fn parts<'a>(&self, payload: &'a str) -> Vec<Cow<'a, str>> {
        vec![Cow::Borrowed(payload)]
    }
    /// Sends one part; `Ok` carries the response status.
    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>>;
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Sends the parts of `payload` from `already_sent` on. Returns the outcome and how many
/// parts have gone through in all (so a retry can start after them).
pub async fn send_parts(
    receiver: &dyn Receiver,
    client: &reqwest::Client,
    payload: &str,
    already_sent: usize,
) -> (Result<u16, SendError>, usize) {
    let parts = receiver.parts(payload);
    if parts.is_empty() {
        return (
            Err(SendError::permanent("the stored payload cannot be read")),
            already_sent,
        );
    }
    let mut sent = already_sent.min(parts.len());
    let mut last = 200;
    for part in &parts[sent..] {
        match receiver.send(client, part).await {
            Ok(status) => {
                last = status;
                sent += 1;
            }
            Err(e) => return (Err(e), sent),
        }
    }
    (Ok(last), sent)
}

/// The receivers in force; swapped whole on config reload.
#[derive(Clone, Default)]
pub struct Receivers {
    /// Every integration by its delivery-log name.
    by_name: BTreeMap<String, Arc<dyn Receiver>>,
    /// The integrations of each configured receiver, in config order.
    by_receiver: BTreeMap<String, Vec<Arc<dyn Receiver>>>,
    external_url: String,
}

impl Receivers {
    pub fn from_config(configs: &[ReceiverConfig], external_url: &str) -> Receivers {
        let mut by_name: BTreeMap<String, Arc<dyn Receiver>> = BTreeMap::new();
        let mut by_receiver = BTreeMap::new();
        for rc in configs {
            let integrations = rc.build(external_url);
            for r in &integrations {
                by_name.insert(r.name().to_string(), r.clone());
            }
            by_receiver.insert(rc.name.clone(), integrations);
        }
        Receivers {
            by_name,
            by_receiver,
            external_url: external_url.to_string(),
        }
    }

    /// An integration by its delivery-log name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Receiver>> {
        self.by_name.get(name).cloned()
    }

    /// Delivery-log names of every integration.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The configured receivers' names.
    pub fn receiver_names(&self) -> impl Iterator<Item = &str> {
        self.by_receiver.keys().map(String::as_str)
    }

    /// The integrations of one configured receiver (`receivers[].name`).
    pub fn integrations_of(&self, receiver: &str) -> Option<&[Arc<dyn Receiver>]> {
        self.by_receiver.get(receiver).map(Vec::as_slice)
    }

    pub fn external_url(&self) -> &str {
        &self.external_url
    }

    /// What to queue for one group: a delivery per integration of `n.receiver` that
    /// wants it. The delivery is filed under the group's first alert.
    pub fn deliveries_for_group(&self, n: &Notification) -> Vec<NewDelivery> {
        let Some(integrations) = self.by_receiver.get(&n.receiver) else {
            return Vec::new();
        };
        let fingerprint = n
            .alerts
            .first()
            .map(|a| a.fingerprint.clone())
            .unwrap_or_default();
        let status = if n.status() == pharos_model::AlertState::Resolved {
            "resolved"
        } else {
            "firing"
        };
        integrations
            .iter()
            .filter_map(|r| {
                r.payload_for(n).map(|payload| NewDelivery {
                    receiver: r.name().to_string(),
                    alert_fingerprint: fingerprint.clone(),
                    status: status.into(),
                    payload,
                })
            })
            .collect()
    }
}
