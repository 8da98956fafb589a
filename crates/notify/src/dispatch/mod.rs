//! Routing: who gets which group of alerts, and when — Alertmanager's semantics and its
//! configuration shape, so a user's `alertmanager.yml` `route`, `inhibit_rules` and
//! `time_intervals` paste into `pharos.yaml` as they are.
//!
//! The path of one alert change: an evaluator's alert sink stores it and then hands the
//! stored change to the dispatcher ([`StoredAlertHandler`]), which puts it in an
//! aggregation group per matching route and group labels
//! ([`groups`]), and flushes each group after `group_wait`, then at most every
//! `group_interval` when something changed, and every `repeat_interval` while firing.
//! A flush leaves out silenced ([`silences`]) and inhibited ([`inhibit`]) alerts and
//! routes muted by [`time_intervals`], checks the notification log, renders one
//! `Notification` per integration and queues the deliveries together with the log rows
//! (`Store::queue_notifications`); the delivery worker sends them with retries.
//! Alerts posted to Alertmanager's API (`POST /api/v2/alerts`) enter the same way.
//!
//! After a restart the groups are rebuilt from the stored open and recently resolved
//! alerts; the notification log keeps what was already sent from going again.

pub mod config;
pub mod groups;
pub mod hook;
pub mod inhibit;
pub mod matchers;
mod posted;
pub mod silences;
mod silencing;
pub mod time_intervals;
mod views;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, StoredAlertHandler};
use pharos_store::{Store, StoreError};
use tokio::sync::Notify;

pub use config::{DigestConfig, GroupBy, InhibitRuleConfig, RouteConfig, Routing, RoutingError};
pub use groups::{Dispatch, Integrations, Suppression};
pub use hook::{GroupSnapshot, IncidentHook};
pub use pharos_model::clock::{Clock, ManualClock, SystemClock};
pub use posted::PostedAlert;
pub use silences::{Silence, SilenceState};
pub use time_intervals::{NamedTimeIntervalConfig, TimeIntervalConfig};
pub use views::{AlertView, GroupView};

use crate::Receivers;

/// A receiver name in a route names the integrations the receivers section built from
/// it: the receiver itself, or `name/0`, `name/1`, … when it lists several.
impl Integrations for RwLock<Receivers> {
    fn integrations(&self, receiver: &str) -> Vec<Arc<dyn crate::Receiver>> {
        let receivers = self.read().unwrap_or_else(|p| p.into_inner());
        let prefix = format!("{receiver}/");
        let names: Vec<String> = receivers
            .names()
            .filter(|n| *n == receiver || n.starts_with(&prefix))
            .map(str::to_string)
            .collect();
        names.iter().filter_map(|n| receivers.get(n)).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dispatcher task failed: {0}")]
    Task(String),
    #[error("a matcher needs a label name")]
    MatcherWithoutName,
    #[error("bad regex {value:?}: {source}")]
    MatcherRegex { value: String, source: regex::Error },
    /// Matcher text (a `matchers:` entry, a filter) that does not read; `input` as given.
    #[error("{input:?}: {reason}")]
    MatcherSyntax { input: String, reason: String },
    /// Matcher text that reads, with a matcher in it that cannot be used.
    #[error("{input:?}: {source}")]
    BadMatcher {
        input: String,
        source: Box<DispatchError>,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> DispatchError {
    DispatchError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The dispatcher service: the [`Dispatch`] state behind a lock, its store and clock.
pub struct Dispatcher {
    store: Arc<Store>,
    integrations: Arc<dyn Integrations>,
    state: Mutex<Dispatch>,
    /// Alert changes evaluators stored, waiting for the next pass.
    incoming: Mutex<Vec<Alert>>,
    wake: Notify,
    deliveries_waiting: Arc<Notify>,
    clock: Arc<dyn Clock>,
    /// One pass at a time.
    ticking: tokio::sync::Mutex<Option<DateTime<Utc>>>,
    /// Told about the groups before each flush (incidents open there).
    incident_hook: RwLock<Option<Arc<dyn IncidentHook>>>,
}

/// Expired silences and idle notification log rows are kept this long (Alertmanager's
/// default retention).
const RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(5);

impl Dispatcher {
    pub fn new(
        store: Arc<Store>,
        integrations: Arc<dyn Integrations>,
        deliveries_waiting: Arc<Notify>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            store,
            integrations,
            state: Mutex::new(Dispatch::default()),
            incoming: Mutex::new(Vec::new()),
            wake: Notify::new(),
            deliveries_waiting,
            clock,
            ticking: tokio::sync::Mutex::new(None),
            incident_hook: RwLock::new(None),
        })
    }

    pub fn set_incident_hook(&self, hook: Arc<dyn IncidentHook>) {
        *self
            .incident_hook
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Dispatch> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, DispatchError> {
        crate::blocking::with_store(&self.store, f, DispatchError::Task).await
    }

    /// Rebuilds the groups from the store: the notification log, silences, open alerts
    /// and resolved alerts whose resolution is still owed to someone.
    pub async fn restore(&self) -> Result<(), DispatchError> {
        let now = self.now();
        let since = now - RETENTION;
        let (log, silences, alerts) = self
            .blocking(move |s| {
                Ok((
                    s.notification_log()?,
                    s.list_silences(since)?,
                    s.alerts_for_dispatch(since)?,
                ))
            })
            .await?;
        let mut st = self.state();
        st.load_log(log);
        st.silences = silences
            .into_iter()
            .filter_map(|r| match Silence::new(r) {
                Ok(s) => Some(s),
                Err((field, e)) => {
                    tracing::warn!(
                        operation = "dispatch",
                        error_type = "silence",
                        "stored silence ignored: {field}: {e}"
                    );
                    None
                }
            })
            .collect();
        for a in alerts {
            match a.state {
                AlertState::Pending => {}
                AlertState::Resolved if !st.notified_firing(&a.fingerprint) => {}
                AlertState::Firing => {
                    // Only API alerts are stored firing with an end: when they lapse.
                    let expires = a.ends_at;
                    st.insert(a, expires, now);
                }
                AlertState::Resolved => st.insert(a, None, now),
            }
        }
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    pub fn set_routing(&self, routing: Routing, external_url: &str) {
        let now = self.now();
        let mut st = self.state();
        st.external_url = external_url.to_string();
        st.set_routing(routing, now);
        drop(st);
        self.wake.notify_one();
    }

    pub fn routing(&self) -> Arc<Routing> {
        self.state().routing.clone()
    }

    /// Runs forever: one pass, then sleep until something is due or something arrives.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::error!(operation = "dispatch", error_type = "store", error = %e, "dispatch pass failed");
            }
            // A change handed over meanwhile has left a wake permit: no change waits.
            let wait = self
                .state()
                .next_due()
                .map(|t| (t - self.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// One pass: take in stored alert changes, lapse API alerts not posted again, flush
    /// the due groups and queue their deliveries. Tests call it after moving the clock.
    pub async fn tick(&self) -> Result<(), DispatchError> {
        let mut last_prune = self.ticking.lock().await;
        let now = self.now();
        self.take_incoming(now);
        let expired = self.state().expired(now);
        if !expired.is_empty() {
            let stored = expired.clone();
            self.blocking(move |s| {
                for a in &stored {
                    s.save_alert(a)?;
                }
                Ok(())
            })
            .await?;
            let mut st = self.state();
            for a in expired {
                st.insert(a, None, now);
            }
        }
        let hook = self
            .incident_hook
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(hook) = hook {
            let groups = self.state().snapshots(now);
            let links = hook.before_flush(groups, now).await;
            self.state().ack_urls = links;
        }
        let flushes = {
            let mut st = self.state();
            st.flush_due(now, self.integrations.as_ref())
        };
        for flush in flushes {
            if flush.log.is_empty() && flush.deliveries.is_empty() {
                self.state().flushed(&flush);
                continue;
            }
            let (deliveries, log) = (flush.deliveries.clone(), flush.log.clone());
            let queued = !deliveries.is_empty();
            match self
                .blocking(move |s| s.queue_notifications(&deliveries, &log, now))
                .await
            {
                Ok(()) => {
                    self.state().flushed(&flush);
                    if queued {
                        self.deliveries_waiting.notify_one();
                    }
                    tracing::info!(
                        operation = "dispatch",
                        group = flush.group.key.as_str(),
                        deliveries = flush.deliveries.len(),
                        "group flushed"
                    );
                }
                Err(e) => {
                    self.state()
                        .flush_failed(&flush, now + chrono::Duration::seconds(10));
                    return Err(e);
                }
            }
        }
        if last_prune.is_none_or(|t| now - t > chrono::Duration::hours(1)) {
            *last_prune = Some(now);
            let before = now - RETENTION;
            self.blocking(move |s| {
                s.prune_notification_log(before)?;
                s.prune_silences(before)
            })
            .await?;
            self.state().silences.retain(|s| s.record.ends_at >= before);
        }
        Ok(())
    }

    /// Moves the stored changes evaluators handed over into their groups.
    fn take_incoming(&self, now: DateTime<Utc>) {
        let batch: Vec<Alert> =
            std::mem::take(&mut *self.incoming.lock().unwrap_or_else(|p| p.into_inner()));
        let mut st = self.state();
        for alert in batch {
            st.insert(alert, None, now);
        }
    }
}

impl StoredAlertHandler for Dispatcher {
    /// Pending alerts are stored but routed nowhere, as in Prometheus, which sends only
    /// firing and resolved alerts to Alertmanager.
    fn alert_stored(&self, alert: &Alert) {
        if alert.state == AlertState::Pending {
            return;
        }
        self.incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(alert.clone());
        self.wake.notify_one();
    }
}
