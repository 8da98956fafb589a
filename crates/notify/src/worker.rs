//! The delivery worker: sends due deliveries, records each attempt, retries with backoff.
//!
//! A payload sent as several requests (a long Telegram message, an SMS to several
//! numbers) is retried from the first part that failed: the worker remembers, per
//! delivery, how many parts went through. That memory is not persisted, so a restart in
//! the middle of a retry sequence may send the earlier parts again (at least once, never
//! lost).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use pharos_store::{DeliveryOutcome, Store};
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::Notify;

use crate::{Receivers, SendError, send_parts};

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // About an hour of retries in all, as Alertmanager keeps trying a failing webhook.
        RetryPolicy {
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_attempts: 20,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempts_done: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts_done.saturating_sub(1).min(20));
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

#[derive(Clone)]
pub struct DeliveryMetrics {
    pub deliveries: IntCounterVec,
}

impl DeliveryMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "pharos_notification_deliveries_total",
                "Notification delivery attempts, by receiver and outcome (delivered, retry, failed).",
            ),
            &["receiver", "outcome"],
        )?;
        registry.register(Box::new(deliveries.clone()))?;
        Ok(DeliveryMetrics { deliveries })
    }
}

pub struct DeliveryWorker {
    store: Arc<Store>,
    receivers: Arc<RwLock<Receivers>>,
    client: reqwest::Client,
    wake: Arc<Notify>,
    retry: RetryPolicy,
    metrics: DeliveryMetrics,
    /// Parts already delivered of deliveries waiting for a retry, by delivery id.
    parts_sent: Mutex<HashMap<i64, usize>>,
}

impl DeliveryWorker {
    pub fn new(
        store: Arc<Store>,
        receivers: Arc<RwLock<Receivers>>,
        wake: Arc<Notify>,
        retry: RetryPolicy,
        metrics: DeliveryMetrics,
    ) -> Result<Self, reqwest::Error> {
        Ok(DeliveryWorker {
            store,
            receivers,
            client: crate::http::client()?,
            wake,
            retry,
            metrics,
            parts_sent: Mutex::new(HashMap::new()),
        })
    }

    /// Runs forever: sends what is due, then sleeps until the next due time or a wake-up.
    pub async fn run(self) {
        loop {
            let store = self.store.clone();
            let due =
                tokio::task::spawn_blocking(move || store.due_deliveries(Utc::now(), 100)).await;
            let due = match due {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    tracing::error!(
                        operation = "deliver",
                        error_type = "store",
                        "cannot read the delivery queue: {e}"
                    );
                    Vec::new()
                }
                Err(_) => Vec::new(),
            };
            let mut sends = Vec::new();
            for d in due {
                sends.push(self.attempt(d));
            }
            let sent = !sends.is_empty();
            // Concurrent, so one slow receiver does not hold up the rest.
            futures_util::future::join_all(sends).await;
            if sent {
                continue;
            }
            let store = self.store.clone();
            let next = tokio::task::spawn_blocking(move || store.next_delivery_due())
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            let wait = next
                .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait.min(Duration::from_secs(60))) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    async fn attempt(&self, d: pharos_store::Delivery) {
        let receiver = self
            .receivers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&d.receiver);
        let started = std::time::Instant::now();
        let already = self.parts_sent().get(&d.id).copied().unwrap_or(0);
        let result = match &receiver {
            Some(r) => {
                let (result, sent) =
                    send_parts(r.as_ref(), &self.client, &d.payload, already).await;
                if result.is_err() && sent > 0 {
                    self.parts_sent().insert(d.id, sent);
                } else {
                    self.parts_sent().remove(&d.id);
                }
                result
            }
            None => Err(SendError::Permanent {
                status: None,
                reason: format!("receiver {:?} is no longer configured", d.receiver),
            }),
        };
        let attempts = d.attempts + 1;
        let now = Utc::now();
        let (outcome, error, status, label) = match result {
            Ok(status) => (DeliveryOutcome::Delivered, None, Some(status), "delivered"),
            Err(SendError::Retryable { status, reason }) if attempts < self.retry.max_attempts => {
                (DeliveryOutcome::Pending, Some(reason), status, "retry")
            }
            Err(
                SendError::Retryable { status, reason } | SendError::Permanent { status, reason },
            ) => (DeliveryOutcome::Failed, Some(reason), status, "failed"),
        };
        if outcome == DeliveryOutcome::Failed {
            self.parts_sent().remove(&d.id);
        }
        self.metrics
            .deliveries
            .with_label_values(&[&d.receiver, label])
            .inc();
        tracing::info!(
            operation = "deliver",
            receiver = d.receiver.as_str(),
            alert = d.alert_fingerprint.as_str(),
            outcome = label,
            attempt = attempts,
            duration_ms = started.elapsed().as_millis() as u64,
            error_type = error.as_deref().unwrap_or(""),
            "notification {label}"
        );
        let retry_at =
            now + chrono::Duration::from_std(self.retry.backoff(attempts)).unwrap_or_default();
        let store = self.store.clone();
        let saved = tokio::task::spawn_blocking(move || {
            store.record_delivery_attempt(d.id, outcome, error.as_deref(), status, retry_at, now)
        })
        .await;
        if let Ok(Err(e)) = saved {
            tracing::error!(
                operation = "deliver",
                error_type = "store",
                "cannot record a delivery attempt: {e}"
            );
        }
    }
}

impl DeliveryWorker {
    fn parts_sent(&self) -> std::sync::MutexGuard<'_, HashMap<i64, usize>> {
        self.parts_sent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends what is due once, without waiting: for tests that drive the worker step by
    /// step. Returns how many deliveries were attempted.
    pub async fn run_once(&self) -> usize {
        let store = self.store.clone();
        let due = tokio::task::spawn_blocking(move || store.due_deliveries(Utc::now(), 100))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let n = due.len();
        futures_util::future::join_all(due.into_iter().map(|d| self.attempt(d))).await;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(2), Duration::from_secs(2));
        assert_eq!(p.backoff(4), Duration::from_secs(8));
        assert_eq!(p.backoff(30), Duration::from_secs(300));
    }
}
