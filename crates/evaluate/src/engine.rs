//! The monitor engine: one task per monitor, the status each one carries between checks,
//! and the alerts that status implies.
//!
//! Alerts are level-triggered: after every result the engine works out which alerts the
//! monitor's status calls for (down → `MonitorDown` firing, failing below the threshold →
//! pending, degraded → `MonitorDegraded`) and moves the stored alert there. The open alert
//! is read back from the store when a monitor starts, so a restart does not re-notify.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::maintenance::MaintenanceWindow;
use pharos_model::series::SampleSink;
use pharos_model::{
    Alert, AlertState, Labels, MonitorCheck, MonitorId, MonitorSpec, MonitorState, PingKind,
    ProbeResult,
};
use pharos_store::{MonitorSource, MonitorStatus, Store, StoreError};
use tokio::sync::Notify;

use crate::AlertSink;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::heartbeat;
use crate::metrics::ProbeMetrics;
use crate::probe::{HttpProber, probe_dns, probe_domain, probe_grpc, probe_icmp, probe_tcp};
use crate::probe_series;
use crate::state_machine;

#[derive(Clone)]
pub struct EngineSettings {
    /// Base of links back to Pharos in alerts (`generatorURL`).
    pub external_url: String,
    /// Maintenance windows from the config file; those made through the API are in the store.
    pub maintenance: Vec<MaintenanceWindow>,
}

#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error("no heartbeat monitor has this ping URL")]
    UnknownToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Slot {
    spec: Arc<MonitorSpec>,
    status: MonitorStatus,
    /// Open alerts of this monitor by alert name.
    open_alerts: HashMap<&'static str, (AlertState, DateTime<Utc>)>,
}

struct Running {
    spec: Arc<MonitorSpec>,
    slot: Arc<tokio::sync::Mutex<Slot>>,
    task: Option<JoinHandle<()>>,
    /// Wakes a heartbeat task when a ping moves its deadline.
    wake: Arc<Notify>,
}

pub struct MonitorEngine {
    store: Arc<Store>,
    prober: HttpProber,
    alerts: Arc<AlertSink>,
    metrics: ProbeMetrics,
    settings: RwLock<EngineSettings>,
    api_maintenance: RwLock<Vec<MaintenanceWindow>>,
    /// Status pages' scheduled maintenance, by page slug: it mutes its components' alerts
    /// as an alert maintenance window does.
    status_maintenance: RwLock<HashMap<String, Vec<MaintenanceWindow>>>,
    running: Mutex<HashMap<MonitorId, Running>>,
    /// Heartbeat token → monitor (tokens from the config file are never stored).
    tokens: RwLock<HashMap<String, MonitorId>>,
    /// Config-file monitors as written, secrets included; the store only holds them redacted.
    config_specs: RwLock<HashMap<MonitorId, Arc<MonitorSpec>>>,
    /// Where results go as series (`probe_success`, …); none when metrics are off.
    series: RwLock<Option<Arc<dyn SampleSink>>>,
}

const DOWN: &str = "MonitorDown";
const DEGRADED: &str = "MonitorDegraded";

impl MonitorEngine {
    pub fn new(
        store: Arc<Store>,
        alerts: Arc<AlertSink>,
        metrics: ProbeMetrics,
        settings: EngineSettings,
    ) -> Result<Arc<MonitorEngine>, reqwest::Error> {
        Ok(Arc::new(MonitorEngine {
            store,
            prober: HttpProber::new()?,
            alerts,
            metrics,
            settings: RwLock::new(settings),
            api_maintenance: RwLock::new(Vec::new()),
            status_maintenance: RwLock::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            tokens: RwLock::new(HashMap::new()),
            config_specs: RwLock::new(HashMap::new()),
            series: RwLock::new(None),
        }))
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn set_settings(&self, settings: EngineSettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    /// Gives the engine the config file's monitors with their secrets (header values,
    /// ping tokens) that the store does not keep; call before [`MonitorEngine::reconcile`].
    pub fn set_config_specs(&self, specs: &[MonitorSpec]) {
        *self.config_specs.write().unwrap_or_else(|p| p.into_inner()) = specs
            .iter()
            .map(|s| (s.id.clone(), Arc::new(s.clone())))
            .collect();
    }

    /// Re-reads maintenance windows created through the API.
    pub async fn refresh_maintenance(&self) -> Result<(), StoreError> {
        let store = self.store.clone();
        let windows = tokio::task::spawn_blocking(move || store.maintenance_windows(Utc::now()))
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))??;
        *self
            .api_maintenance
            .write()
            .unwrap_or_else(|p| p.into_inner()) = windows.into_iter().map(|(_, w)| w).collect();
        Ok(())
    }

    /// Maintenance windows from the config file.
    pub fn config_maintenance(&self) -> Vec<MaintenanceWindow> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .maintenance
            .clone()
    }

    pub fn in_maintenance(&self, id: &MonitorId, at: DateTime<Utc>) -> bool {
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner());
        let api = self
            .api_maintenance
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let status = self
            .status_maintenance
            .read()
            .unwrap_or_else(|p| p.into_inner());
        settings
            .maintenance
            .iter()
            .chain(api.iter())
            .chain(status.values().flatten())
            .any(|w| w.covers(id, at))
    }

    /// The maintenance scheduled on status page `slug` (windows not over yet).
    pub fn set_status_maintenance(&self, slug: &str, windows: Vec<MaintenanceWindow>) {
        let mut all = self
            .status_maintenance
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if windows.is_empty() {
            all.remove(slug);
        } else {
            all.insert(slug.to_string(), windows);
        }
    }

    /// Every status page's maintenance at once (start and reload: pages may be gone).
    pub fn replace_status_maintenance(&self, by_page: HashMap<String, Vec<MaintenanceWindow>>) {
        *self
            .status_maintenance
            .write()
            .unwrap_or_else(|p| p.into_inner()) = by_page;
    }

    /// Makes the running monitors match the store: starts new ones, restarts changed ones
    /// (keeping their status and history), stops removed ones and resolves their alerts.
    /// `fresh` monitors are checked at once instead of at their spread-out offset.
    pub async fn reconcile(self: &Arc<Self>, fresh: &[MonitorId]) -> Result<(), StoreError> {
        let store = self.store.clone();
        let records = tokio::task::spawn_blocking(move || store.all_monitors())
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))??;
        let wanted: HashMap<MonitorId, Arc<MonitorSpec>> = {
            let config = self.config_specs.read().unwrap_or_else(|p| p.into_inner());
            records
                .into_iter()
                .map(|r| {
                    let spec = match (r.source, config.get(&r.spec.id)) {
                        (MonitorSource::Config, Some(full)) => full.clone(),
                        _ => Arc::new(r.spec),
                    };
                    (spec.id.clone(), spec)
                })
                .collect()
        };

        let removed: Vec<(MonitorId, Running)> = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            let gone: Vec<MonitorId> = running
                .keys()
                .filter(|id| !wanted.contains_key(*id))
                .cloned()
                .collect();
            gone.into_iter()
                .filter_map(|id| running.remove(&id).map(|r| (id, r)))
                .collect()
        };
        for (_, r) in removed {
            if let Some(task) = r.task {
                task.abort();
            }
            let mut slot = r.slot.lock().await;
            self.resolve_all(&mut slot).await;
        }

        let mut tokens = HashMap::new();
        for (id, spec) in wanted {
            let existing = {
                let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                running.get(&id).map(|r| (r.spec.clone(), r.slot.clone()))
            };
            if let MonitorCheck::Heartbeat(h) = &spec.check {
                let token = match &h.token {
                    Some(t) => t.clone(),
                    None => {
                        let (store, id) = (self.store.clone(), id.clone());
                        tokio::task::spawn_blocking(move || store.heartbeat_token(&id, Utc::now()))
                            .await
                            .map_err(|e| StoreError::Corrupt(e.to_string()))??
                    }
                };
                tokens.insert(token, id.clone());
            }
            match existing {
                Some((old, _)) if *old == *spec => continue,
                Some((_, slot)) => {
                    slot.lock().await.spec = spec.clone();
                    self.start(id.clone(), spec, slot, fresh.contains(&id))
                        .await;
                }
                None => {
                    let slot =
                        Arc::new(tokio::sync::Mutex::new(self.load_slot(spec.clone()).await?));
                    self.start(id.clone(), spec, slot, fresh.contains(&id))
                        .await;
                }
            }
        }
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens;
        Ok(())
    }

    /// Stops every task (at shutdown); statuses are already stored.
    pub fn stop_all(&self) {
        for (_, r) in self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            if let Some(t) = r.task {
                t.abort();
            }
        }
    }

    async fn load_slot(&self, spec: Arc<MonitorSpec>) -> Result<Slot, StoreError> {
        let store = self.store.clone();
        let id = spec.id.clone();
        let (status, open) = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let status = store
                .status(&id)?
                .unwrap_or_else(|| MonitorStatus::new(id.clone(), Utc::now()));
            let mut open = HashMap::new();
            for name in [DOWN, DEGRADED] {
                if let Some(a) =
                    store.open_alert(&Alert::fingerprint_of(&base_labels_for(&id, name)))?
                {
                    open.insert(name, (a.alert.state, a.alert.starts_at));
                }
            }
            Ok((status, open))
        })
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))??;
        Ok(Slot {
            spec,
            status,
            open_alerts: open,
        })
    }

    async fn start(
        self: &Arc<Self>,
        id: MonitorId,
        spec: Arc<MonitorSpec>,
        slot: Arc<tokio::sync::Mutex<Slot>>,
        check_now: bool,
    ) {
        let wake = Arc::new(Notify::new());
        let old = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(task) = old.and_then(|r| r.task) {
            task.abort();
        }
        let task = if spec.paused {
            let mut s = slot.lock().await;
            if s.status.state != MonitorState::Paused {
                s.status.state = MonitorState::Paused;
                s.status.state_since = Utc::now();
                let (store, status) = (self.store.clone(), s.status.clone());
                let _ = tokio::task::spawn_blocking(move || store.put_status(&status)).await;
            }
            self.resolve_all(&mut s).await;
            None
        } else {
            {
                // Coming back from pause starts from a clean slate.
                let mut s = slot.lock().await;
                if s.status.state == MonitorState::Paused {
                    s.status = MonitorStatus::new(id.clone(), Utc::now());
                }
            }
            let engine = self.clone();
            let slot = slot.clone();
            let wake = wake.clone();
            Some(match &spec.check {
                MonitorCheck::Heartbeat(_) => {
                    tokio::spawn(async move { engine.run_heartbeat(slot, wake).await })
                }
                _ => tokio::spawn(async move { engine.run_probe_loop(slot, check_now).await }),
            })
        };
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id,
                Running {
                    spec,
                    slot,
                    task,
                    wake,
                },
            );
    }

    async fn run_probe_loop(self: Arc<Self>, slot: Arc<tokio::sync::Mutex<Slot>>, check_now: bool) {
        let spec = slot.lock().await.spec.clone();
        let period = spec.interval.as_duration();
        if matches!(spec.check, MonitorCheck::Heartbeat(_)) {
            return;
        }
        // A new monitor gets one check at once, so its page is not empty for an interval;
        // after that it joins its phase like the others.
        if check_now {
            self.probe_once(&spec, &slot, Instant::now()).await;
        }
        // A stable offset per monitor spreads thousands of checks over the interval and
        // keeps each monitor's phase across restarts.
        let offset = phase_offset(&spec.id, period);
        let mut ticker = tokio::time::interval_at(Instant::now() + offset, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            let scheduled = ticker.tick().await;
            self.probe_once(&spec, &slot, scheduled).await;
        }
    }

    async fn probe_once(
        &self,
        spec: &MonitorSpec,
        slot: &tokio::sync::Mutex<Slot>,
        scheduled: Instant,
    ) {
        let kind = spec.check.kind();
        self.metrics
            .schedule_lateness
            .with_label_values(&[kind])
            .observe(scheduled.elapsed().as_secs_f64());
        let started = std::time::Instant::now();
        let result = match &spec.check {
            MonitorCheck::Http(h) => self.prober.probe(&spec.id, h).await,
            MonitorCheck::Tcp(t) => probe_tcp(&spec.id, t).await,
            MonitorCheck::Dns(d) => probe_dns(&spec.id, d).await,
            MonitorCheck::Grpc(g) => probe_grpc(&spec.id, g).await,
            MonitorCheck::Icmp(i) => probe_icmp(&spec.id, i).await,
            MonitorCheck::Domain(d) => probe_domain(&spec.id, d, self.prober.rdap_client()).await,
            MonitorCheck::Heartbeat(_) => return,
        };
        self.metrics
            .probe_duration
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
        let mut s = slot.lock().await;
        self.handle_result(&mut s, result).await;
    }

    async fn run_heartbeat(
        self: Arc<Self>,
        slot: Arc<tokio::sync::Mutex<Slot>>,
        wake: Arc<Notify>,
    ) {
        loop {
            let due = {
                let s = slot.lock().await;
                let MonitorCheck::Heartbeat(h) = &s.spec.check else {
                    return;
                };
                heartbeat::deadline(h, &s.status)
            };
            let wait = match due {
                Some(due) => (due - Utc::now()).to_std().unwrap_or(Duration::ZERO),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified() => continue,
            }
            let mut s = slot.lock().await;
            let MonitorCheck::Heartbeat(h) = &s.spec.check else {
                return;
            };
            let now = Utc::now();
            if heartbeat::deadline(h, &s.status).is_some_and(|d| d <= now) {
                let result = heartbeat::overdue_result(&s.spec.id, h, &s.status, now);
                self.handle_result(&mut s, result).await;
            }
        }
    }

    /// A heartbeat ping arrived.
    pub async fn ping(
        &self,
        token: &str,
        kind: PingKind,
        message: Option<String>,
    ) -> Result<MonitorId, PingError> {
        let id = self
            .tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
            .ok_or(PingError::UnknownToken)?;
        let (slot, wake) = {
            let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            let r = running.get(&id).ok_or(PingError::UnknownToken)?;
            (r.slot.clone(), r.wake.clone())
        };
        let mut s = slot.lock().await;
        let now = Utc::now();
        if s.spec.paused {
            return Ok(id);
        }
        match heartbeat::ping_result(&id, kind, &s.status, now, message) {
            Some(result) => {
                s.status.last_ping_at = Some(now);
                self.handle_result(&mut s, result).await;
            }
            None => {
                s.status.last_start_at = Some(now);
                let (store, status) = (self.store.clone(), s.status.clone());
                tokio::task::spawn_blocking(move || store.put_status(&status))
                    .await
                    .map_err(|e| StoreError::Corrupt(e.to_string()))??;
            }
        }
        wake.notify_one();
        Ok(id)
    }

    /// The ping token of a heartbeat monitor, to show its URL.
    pub fn heartbeat_token(&self, id: &MonitorId) -> Option<String> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(_, m)| *m == id)
            .map(|(t, _)| t.clone())
    }

    /// Sends every later result to `sink` as series too (see [`crate::probe_series`]).
    pub fn write_series_to(&self, sink: Arc<dyn SampleSink>) {
        *self.series.write().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    async fn handle_result(&self, s: &mut Slot, result: ProbeResult) {
        let kind = s.spec.check.kind();
        self.metrics
            .probes
            .with_label_values(&[kind, result.outcome.as_str()])
            .inc();
        if !result.outcome.is_up() {
            self.metrics.probe_failures.with_label_values(&[kind]).inc();
        }
        let previous = state_machine::apply(&s.spec, &mut s.status, &result);
        if let Some(previous) = previous {
            self.metrics
                .state_changes
                .with_label_values(&[s.status.state.as_str()])
                .inc();
            tracing::info!(
                operation = "monitor_state_change",
                monitor = s.spec.id.as_str(),
                from = previous.as_str(),
                to = s.status.state.as_str(),
                error = result.error.as_deref().unwrap_or(""),
                "monitor {} is {}",
                s.spec.name,
                s.status.state.as_str()
            );
        }
        let sink = self
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(sink) = sink {
            sink.write(probe_series::probe_samples(
                &s.spec,
                &result,
                s.status.state,
            ));
        }
        let store = self.store.clone();
        let batch = vec![(result, s.status.clone())];
        match tokio::task::spawn_blocking(move || store.record_checks(&batch)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(
                operation = "record_check",
                monitor = s.spec.id.as_str(),
                error_type = "store",
                "cannot record a check result: {e}"
            ),
            Err(e) => tracing::error!(
                operation = "record_check",
                monitor = s.spec.id.as_str(),
                "record task failed: {e}"
            ),
        }
        if self.in_maintenance(&s.spec.id, Utc::now()) {
            return;
        }
        let down = if s.status.state == MonitorState::Down {
            Some(AlertState::Firing)
        } else if state_machine::is_failing(&s.status) {
            Some(AlertState::Pending)
        } else {
            None
        };
        let degraded = (s.status.state == MonitorState::Degraded).then_some(AlertState::Firing);
        self.move_alert(s, DOWN, down).await;
        self.move_alert(s, DEGRADED, degraded).await;
    }

    async fn resolve_all(&self, s: &mut Slot) {
        self.move_alert(s, DOWN, None).await;
        self.move_alert(s, DEGRADED, None).await;
    }

    async fn move_alert(&self, s: &mut Slot, name: &'static str, want: Option<AlertState>) {
        let now = Utc::now();
        let current = s.open_alerts.get(name).copied();
        let (state, starts_at, notify) = match (current.map(|c| c.0), want) {
            (None, None) => return,
            (Some(have), Some(want)) if have == want => return,
            (_, Some(AlertState::Pending)) => (AlertState::Pending, now, false),
            (_, Some(_)) => {
                let starts = match current {
                    Some((_, started)) => started,
                    None => s.status.failing_since.unwrap_or(now),
                };
                (AlertState::Firing, starts, true)
            }
            (Some(have), None) => (
                AlertState::Resolved,
                current.map(|c| c.1).unwrap_or(now),
                have == AlertState::Firing,
            ),
        };
        let alert = self.alert_for(s, name, state, starts_at, now);
        let saved = self.alerts.publish(alert, notify, s.spec.id.as_str()).await;
        if saved {
            if state == AlertState::Resolved {
                s.open_alerts.remove(name);
            } else {
                s.open_alerts.insert(name, (state, starts_at));
            }
        }
    }

    fn alert_for(
        &self,
        s: &Slot,
        name: &str,
        state: AlertState,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Alert {
        let spec = &s.spec;
        let mut labels = base_labels_for(&spec.id, name);
        let default_severity = if name == DOWN { "critical" } else { "warning" };
        let mut annotations = Labels::new();
        let severity = spec
            .labels
            .get("severity")
            .cloned()
            .unwrap_or_else(|| default_severity.into());
        let summary = match name {
            DOWN => format!("{} is down", spec.name),
            _ => format!("{} is degraded", spec.name),
        };
        annotations.insert("summary".into(), summary);
        if let Some(err) = &s.status.last_error {
            annotations.insert("description".into(), err.clone());
        }
        // Alerts are stored and sent to receivers: no URL password or query token in them.
        annotations.insert("target".into(), spec.redacted().check.target());
        if let Some(d) = &spec.description {
            annotations.insert("monitor_description".into(), d.clone());
        }
        // Labels from the monitor are part of the alert's identity in Alertmanager's
        // model; they are fixed per monitor so the fingerprint stays stable.
        labels.insert("monitor_name".into(), spec.name.clone());
        labels.insert("monitor_type".into(), spec.check.kind().into());
        labels.insert("severity".into(), severity);
        for (k, v) in &spec.labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let external = self
            .settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .external_url
            .clone();
        Alert {
            // Identity is alertname + monitor only, so that editing a monitor's labels
            // updates its open alert instead of orphaning it.
            fingerprint: Alert::fingerprint_of(&base_labels_for(&spec.id, name)),
            labels,
            annotations,
            state,
            starts_at,
            ends_at: (state == AlertState::Resolved).then_some(now),
            generator_url: format!("{}/monitors/{}", external.trim_end_matches('/'), spec.id),
            updated_at: now,
        }
    }

    /// The live status of a running monitor (fresher than the store between writes).
    pub async fn live_status(&self, id: &MonitorId) -> Option<MonitorStatus> {
        let slot = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .map(|r| r.slot.clone())?;
        let s = slot.lock().await;
        Some(s.status.clone())
    }

    pub fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn base_labels_for(id: &MonitorId, alertname: &str) -> Labels {
    let mut l = Labels::new();
    l.insert("alertname".into(), alertname.into());
    l.insert("monitor".into(), id.to_string());
    l
}

fn phase_offset(id: &MonitorId, period: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    let ms = period.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % ms)
}
