//! Receivers: deliver alerts with retries and a delivery log.
//!
//! Notifications are queued in the store in the same transaction that changes an alert
//! (see `pharos_evaluate::engine`); the [`DeliveryWorker`] sends what is due, records every
//! attempt, and retries with exponential backoff. Each channel is one file behind the
//! [`Receiver`] trait; for now the Alertmanager webhook (payload version 4).

pub mod webhook;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;

use pharos_model::{Alert, Notification};
use pharos_store::NewDelivery;
use serde::Deserialize;

pub use webhook::{WebhookConfig, WebhookReceiver};
pub use worker::{DeliveryMetrics, DeliveryWorker, RetryPolicy};

/// How one attempt went.
#[derive(Debug)]
pub enum SendError {
    /// Worth another try later (network error, 5xx, 429).
    Retryable { status: Option<u16>, reason: String },
    /// Will not succeed by retrying (4xx).
    Permanent { status: Option<u16>, reason: String },
}

/// One notification channel: turns a group's notification into a payload, and sends
/// payloads. The payload is rendered once, when the notification is queued, and stored:
/// retries send exactly the same bytes.
pub trait Receiver: Send + Sync {
    fn name(&self) -> &str;
    /// The payload for this notification, or `None` when this receiver does not want it
    /// (e.g. every alert resolved and `send_resolved: false`).
    fn payload_for(&self, notification: &Notification) -> Option<String>;
    /// Sends one payload; `Ok` carries the response status.
    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>>;
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// `receivers:` in the config file, in Alertmanager's layout.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
}

/// The receivers in force; swapped whole on config reload.
#[derive(Clone, Default)]
pub struct Receivers {
    by_name: BTreeMap<String, Arc<dyn Receiver>>,
    external_url: String,
}

impl Receivers {
    pub fn from_config(configs: &[ReceiverConfig], external_url: &str) -> Receivers {
        let mut by_name: BTreeMap<String, Arc<dyn Receiver>> = BTreeMap::new();
        for rc in configs {
            for (i, w) in rc.webhook_configs.iter().enumerate() {
                // One receiver may list several webhooks; each gets its own delivery log name.
                let name = if rc.webhook_configs.len() == 1 {
                    rc.name.clone()
                } else {
                    format!("{}/{}", rc.name, i)
                };
                by_name.insert(
                    name.clone(),
                    Arc::new(WebhookReceiver::new(name, w.clone())),
                );
            }
        }
        Receivers {
            by_name,
            external_url: external_url.to_string(),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Receiver>> {
        self.by_name.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Every receiver gets every alert until routing exists.
    pub fn deliveries_for(&self, alert: &Alert) -> Vec<NewDelivery> {
        self.by_name
            .values()
            .filter_map(|r| {
                r.payload_for(&Notification::single(r.name(), alert, &self.external_url))
                    .map(|payload| NewDelivery {
                        receiver: r.name().to_string(),
                        alert_fingerprint: alert.fingerprint.clone(),
                        status: if alert.state == pharos_model::AlertState::Resolved {
                            "resolved"
                        } else {
                            "firing"
                        }
                        .into(),
                        payload,
                    })
            })
            .collect()
    }
}
