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
pub mod silences;
pub mod time_intervals;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, Labels, StoredAlertHandler};
use pharos_store::{SilenceRecord, Store, StoreError};
use tokio::sync::Notify;

pub use config::{DigestConfig, GroupBy, InhibitRuleConfig, RouteConfig, Routing, RoutingError};
pub use groups::{Dispatch, Integrations, Suppression};
pub use hook::{GroupSnapshot, IncidentHook};
pub use pharos_model::clock::{Clock, ManualClock, SystemClock};
pub use silences::{Silence, SilenceState};
pub use time_intervals::{NamedTimeIntervalConfig, TimeIntervalConfig};

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

/// An alert as Alertmanager's `POST /api/v2/alerts` takes it.
#[derive(Clone, Debug, Default)]
pub struct PostedAlert {
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
}

/// An alert with what the dispatcher knows of it, for `GET /api/v2/alerts` and the UI.
#[derive(Clone, Debug)]
pub struct AlertView {
    pub alert: Alert,
    /// When it resolves unless it changes: the posted `endsAt`, or now + resolve timeout.
    pub ends_at: DateTime<Utc>,
    pub suppression: Suppression,
    pub receivers: Vec<String>,
}

/// A group as `GET /api/v2/alerts/groups` shows it.
#[derive(Clone, Debug)]
pub struct GroupView {
    pub labels: Labels,
    pub receiver: String,
    pub alerts: Vec<AlertView>,
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

    /// Alertmanager's `POST /api/v2/alerts`: checks every alert first (one bad alert
    /// refuses the request, as Alertmanager answers 400), stores the changes, routes them.
    pub async fn post_alerts(&self, posted: Vec<PostedAlert>) -> Result<(), DispatchError> {
        let now = self.now();
        let resolve_timeout = chrono::Duration::from_std(self.routing().resolve_timeout)
            .unwrap_or(chrono::Duration::minutes(5));
        let mut changes = Vec::new();
        for (i, p) in posted.into_iter().enumerate() {
            if p.labels.is_empty() {
                return Err(invalid(
                    format!("[{i}].labels"),
                    "an alert needs at least one label",
                ));
            }
            for (name, value) in &p.labels {
                let valid = !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(invalid(
                        format!("[{i}].labels"),
                        format!("invalid label name {name:?}"),
                    ));
                }
                if value.is_empty() {
                    return Err(invalid(
                        format!("[{i}].labels.{name}"),
                        "label values must not be empty",
                    ));
                }
            }
            let starts_at = p.starts_at.unwrap_or(now);
            if let Some(end) = p.ends_at
                && end < starts_at
            {
                return Err(invalid(
                    format!("[{i}].endsAt"),
                    "must not be before startsAt",
                ));
            }
            let fingerprint = Alert::fingerprint_of(&p.labels);
            let known = self.state().alerts.get(&fingerprint).cloned();
            let resolved = p.ends_at.is_some_and(|e| e <= now);
            if resolved
                && known
                    .as_ref()
                    .is_none_or(|k| k.alert.state == AlertState::Resolved)
            {
                // Prometheus re-sends resolved alerts for a while; nothing is open for it.
                continue;
            }
            let expires = p.ends_at.unwrap_or(now + resolve_timeout);
            let starts_at = match &known {
                Some(k) if k.alert.state == AlertState::Firing => k.alert.starts_at.min(starts_at),
                _ => starts_at,
            };
            let alert = Alert {
                fingerprint,
                labels: p.labels,
                annotations: p.annotations,
                state: if resolved {
                    AlertState::Resolved
                } else {
                    AlertState::Firing
                },
                starts_at,
                // Firing alerts from the API keep their expected end here, so a restart
                // knows when they lapse.
                ends_at: Some(expires),
                generator_url: p.generator_url,
                updated_at: now,
            };
            changes.push(alert);
        }
        let stored = changes.clone();
        self.blocking(move |s| s.save_alerts(&stored.iter().collect::<Vec<_>>()))
            .await?;
        let mut st = self.state();
        for a in changes {
            let expires = a.ends_at;
            st.insert(a, expires, now);
        }
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// Every alert the dispatcher holds that has not resolved, with its status.
    pub fn alerts(&self) -> Vec<AlertView> {
        let now = self.now();
        let st = self.state();
        let timeout = chrono::Duration::from_std(st.routing.resolve_timeout).unwrap_or_default();
        st.alerts
            .values()
            .filter(|t| t.alert.state != AlertState::Resolved)
            .map(|t| AlertView {
                ends_at: t.expires_at.unwrap_or(now + timeout),
                suppression: st.suppression(&t.alert, now),
                receivers: st.routing.receivers_for(&t.alert.labels),
                alert: t.alert.clone(),
            })
            .collect()
    }

    /// Whether an alert is silenced or inhibited now (for the UI's alert list).
    pub fn suppression_of(&self, alert: &Alert) -> Suppression {
        let now = self.now();
        self.state().suppression(alert, now)
    }

    pub fn groups(&self) -> Vec<GroupView> {
        let now = self.now();
        let st = self.state();
        let timeout = chrono::Duration::from_std(st.routing.resolve_timeout).unwrap_or_default();
        st.groups
            .values()
            .map(|g| GroupView {
                labels: g.labels.clone(),
                receiver: st.routing.routes[g.route].receiver.clone(),
                alerts: g
                    .alerts
                    .values()
                    .filter(|a| a.state != AlertState::Resolved)
                    .map(|a| AlertView {
                        ends_at: st
                            .alerts
                            .get(&a.fingerprint)
                            .and_then(|t| t.expires_at)
                            .unwrap_or(now + timeout),
                        suppression: st.suppression(a, now),
                        receivers: vec![st.routing.routes[g.route].receiver.clone()],
                        alert: a.clone(),
                    })
                    .collect(),
            })
            .filter(|g| !g.alerts.is_empty())
            .collect()
    }

    pub fn silences(&self) -> Vec<Silence> {
        self.state().silences.clone()
    }

    /// Creates or updates a silence (Alertmanager's `POST /api/v2/silences`): a change
    /// that would rewrite an active silence's past makes a new one and expires the old.
    /// Returns the id in force.
    pub async fn put_silence(&self, mut record: SilenceRecord) -> Result<String, DispatchError> {
        let now = self.now();
        if record.ends_at <= now {
            return Err(invalid("endsAt", "must be in the future"));
        }
        let existing = if record.id.is_empty() {
            None
        } else {
            let found = self
                .state()
                .silences
                .iter()
                .find(|s| s.record.id == record.id)
                .cloned();
            match found {
                Some(s) => Some(s),
                None => return Err(StoreError::NotFound(format!("silence {}", record.id)).into()),
            }
        };
        if record.starts_at < now {
            record.starts_at = match &existing {
                Some(e) if e.state(now) == SilenceState::Active => e.record.starts_at,
                _ => now,
            };
        }
        record.updated_at = now;
        let in_place = existing.as_ref().is_some_and(|e| match e.state(now) {
            SilenceState::Expired => false,
            SilenceState::Pending => true,
            SilenceState::Active => {
                e.record.starts_at == record.starts_at
                    && e.record.matchers == record.matchers
                    && e.record.time_intervals == record.time_intervals
            }
        });
        let expire_old = existing
            .as_ref()
            .filter(|_| !in_place)
            .map(|e| e.record.id.clone());
        if !in_place {
            record.id = pharos_store::new_silence_id();
        }
        let silence = Silence::new(record.clone()).map_err(|(f, m)| invalid(f, m))?;
        self.blocking(move |s| {
            if let Some(old) = &expire_old {
                match s.expire_silence(old, now) {
                    Ok(_) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            s.save_silence(&record)
        })
        .await?;
        let id = silence.record.id.clone();
        let mut st = self.state();
        if let Some(old) = existing.filter(|_| !in_place) {
            for s in st
                .silences
                .iter_mut()
                .filter(|s| s.record.id == old.record.id)
            {
                s.record.ends_at = now;
                s.record.updated_at = now;
            }
        }
        st.silences.retain(|s| s.record.id != id);
        st.silences.push(silence);
        drop(st);
        self.wake.notify_one();
        Ok(id)
    }

    pub async fn expire_silence(&self, id: &str) -> Result<(), DispatchError> {
        let now = self.now();
        let key = id.to_string();
        let record = self.blocking(move |s| s.expire_silence(&key, now)).await?;
        let mut st = self.state();
        for s in st.silences.iter_mut().filter(|s| s.record.id == id) {
            s.record = record.clone();
        }
        drop(st);
        // Alerts it held back go out at their group's next flush.
        self.wake.notify_one();
        Ok(())
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
