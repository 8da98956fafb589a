//! Prometheus alerting and recording rules: rule files (`file`), whose labels and
//! annotations are templates run by `pharos-template`, one group's state and
//! evaluation (`group`), what the API and UI show (`status`), the stores rules read and
//! write (`storage`), and here the [`RuleEvaluator`]: one task per group on its
//! interval, alerts saved with their notifications through the one alert model, config
//! reloads that keep the state of unchanged rules.
//!
//! A restart re-derives alerts: open rule alerts are read back from the store, so a
//! firing alert that still holds is not notified again, and one that stopped holding
//! while Pharos was down is resolved.

pub mod file;
pub mod group;
pub mod status;
pub mod storage;
/// The template engine's types under this crate's rule paths, for the crates that reach
/// them through here.
pub mod template {
    pub use pharos_template::{QuerySamples, Template, TemplateData, TemplateError, Value};
}
/// Go's number formatting and URL escaping, which the rules API and UI print values with.
pub mod template_funcs {
    pub use pharos_template::{go_float, go_sprintf, query_escape};
}
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use pharos_model::{Alert, AlertState};
use pharos_promql::Engine;
use pharos_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::AlertSink;
pub use file::{RuleFileError, RuleFilesError, RuleGroupSpec, load_rule_files, parse_rule_file};
pub use group::{EvalContext, GroupState, RuleStorage};
pub use pharos_model::clock::{Clock, ManualClock, SystemClock};
pub use status::{GroupStatus, RuleMetrics, RuleStatus};

/// What rules take from the rest of the config.
#[derive(Clone, Debug, Default)]
pub struct RuleSettings {
    pub external_url: String,
    /// `global.external_labels`: `$externalLabels`, and added to every alert.
    pub external_labels: BTreeMap<String, String>,
    /// `global.evaluation_interval`: groups without their own `interval`.
    pub evaluation_interval: Duration,
}

struct RunningGroup {
    state: Arc<Mutex<GroupState>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Running {
    started: bool,
    groups: Vec<RunningGroup>,
}

pub struct RuleEvaluator {
    store: Arc<Store>,
    alerts: Arc<AlertSink>,
    storage: Arc<dyn RuleStorage>,
    engine: Engine,
    clock: Arc<dyn Clock>,
    settings: RwLock<Arc<RuleSettings>>,
    running: tokio::sync::Mutex<Running>,
    statuses: RwLock<Vec<Arc<RwLock<GroupStatus>>>>,
}

impl RuleEvaluator {
    pub fn new(
        store: Arc<Store>,
        alerts: Arc<AlertSink>,
        storage: Arc<dyn RuleStorage>,
        engine: Engine,
        clock: Arc<dyn Clock>,
    ) -> Arc<RuleEvaluator> {
        Arc::new(RuleEvaluator {
            store,
            alerts,
            storage,
            engine,
            clock,
            settings: RwLock::new(Arc::new(RuleSettings::default())),
            running: tokio::sync::Mutex::new(Running::default()),
            statuses: RwLock::new(Vec::new()),
        })
    }

    /// Every group as of its last evaluation, in the order of the rule files.
    pub fn groups(&self) -> Vec<GroupStatus> {
        self.statuses
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Replaces the running groups with `groups` (a start or a reload). Rules that stay
    /// keep their alerts; alerts of rules that are gone are resolved. On the first call,
    /// open rule alerts are read back from the store and `for` state is restored.
    pub async fn apply(self: &Arc<Self>, groups: Vec<RuleGroupSpec>, settings: RuleSettings) {
        let mut running = self.running.lock().await;
        let default_interval = if settings.evaluation_interval.is_zero() {
            Duration::from_secs(60)
        } else {
            settings.evaluation_interval
        };
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        // Running evaluations finish before their state is handed on, so a save is never
        // cut between the store and the state that remembers it.
        let old = std::mem::take(&mut running.groups);
        for g in &old {
            let _ = g.stop.send(true);
        }
        let mut old_states = Vec::new();
        for g in old {
            let _ = g.task.await;
            if let Ok(m) = Arc::try_unwrap(g.state) {
                old_states.push(m.into_inner().unwrap_or_else(|p| p.into_inner()));
            }
        }
        let restore = !running.started;
        let mut states: Vec<GroupState> = groups
            .into_iter()
            .map(|spec| GroupState::new(spec, default_interval, !restore))
            .collect();
        let mut orphans = Vec::new();
        for s in &mut states {
            if let Some(i) = old_states.iter().position(|o| o.key() == s.key()) {
                orphans.extend(s.copy_state(old_states.swap_remove(i)));
            }
        }
        for o in old_states {
            orphans.extend(o.rules);
        }
        let now = self.clock.now_ms();
        let mut to_resolve = group::resolve_orphans(orphans, now);
        if restore {
            to_resolve.extend(self.adopt_stored_alerts(&mut states, now).await);
        }
        self.alerts.publish_all(to_resolve, "rule").await;
        let mut statuses = Vec::new();
        for s in states {
            let status = Arc::new(RwLock::new(s.status()));
            let state = Arc::new(Mutex::new(s));
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(self.clone().run_group(
                state.clone(),
                status.clone(),
                stopped,
                restore,
            ));
            statuses.push(status.clone());
            running.groups.push(RunningGroup { state, stop, task });
        }
        *self.statuses.write().unwrap_or_else(|p| p.into_inner()) = statuses;
        running.started = true;
    }

    /// Stops every group (at shutdown).
    pub async fn stop_all(&self) {
        let mut running = self.running.lock().await;
        for g in running.groups.drain(..) {
            let _ = g.stop.send(true);
            let _ = g.task.await;
        }
    }

    /// Hands each open rule alert in the store to its rule; returns those no rule claims,
    /// resolved.
    async fn adopt_stored_alerts(&self, states: &mut [GroupState], now: i64) -> Vec<(Alert, bool)> {
        let store = self.store.clone();
        let open = match tokio::task::spawn_blocking(move || store.list_alerts(None, 100_000)).await
        {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::error!(operation = "rules_start", error_type = "store", error = %e, "cannot read open alerts; rule alerts may be notified again");
                return Vec::new();
            }
            Err(_) => return Vec::new(),
        };
        let mut unclaimed = Vec::new();
        for r in open {
            if r.alert.state == AlertState::Resolved {
                continue;
            }
            let Some((group, _)) = group::rule_of_generator_url(&r.alert.generator_url) else {
                continue;
            };
            let claimed = states
                .iter_mut()
                .filter(|s| s.spec.name == group)
                .any(|s| s.adopt(&r.alert));
            if !claimed {
                let mut a = r.alert;
                let was_firing = a.state == AlertState::Firing;
                a.state = AlertState::Resolved;
                a.ends_at = Some(group::ms_to_time(now));
                a.updated_at = group::ms_to_time(now);
                unclaimed.push((a, was_firing));
            }
        }
        unclaimed
    }

    async fn run_group(
        self: Arc<Self>,
        state: Arc<Mutex<GroupState>>,
        status: Arc<RwLock<GroupStatus>>,
        mut stopped: watch::Receiver<bool>,
        restore: bool,
    ) {
        let (interval, first) = {
            let s = state.lock().unwrap_or_else(|p| p.into_inner());
            let interval = s.interval.as_millis().max(1) as i64;
            (interval, s.eval_timestamp(self.clock.now_ms()) + interval)
        };
        let mut ts = first;
        // As Prometheus: restore after the second evaluation, once recording rules have
        // written their latest values.
        let mut evaluations_before_restore = if restore { 2 } else { 0 };
        loop {
            let wait = ts - self.clock.now_ms();
            if wait > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                    _ = stopped.changed() => return,
                }
            }
            if *stopped.borrow() {
                return;
            }
            self.evaluate_group(&state, &status, ts).await;
            if evaluations_before_restore > 0 {
                evaluations_before_restore -= 1;
                if evaluations_before_restore == 0 {
                    let now = self.clock.now_ms();
                    let me = self.clone();
                    let st = state.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        let settings = me.settings();
                        let ctx = me.context(&settings);
                        st.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .restore_for_state(now, &ctx);
                    })
                    .await;
                }
            }
            let now = self.clock.now_ms();
            let mut next = ts + interval;
            if now >= next + interval {
                let missed = (now - ts) / interval - 1;
                tracing::warn!(
                    operation = "rule_eval",
                    missed,
                    "rule group evaluation is behind; skipping missed evaluations"
                );
                next = ts + (missed + 1) * interval;
            }
            ts = next;
        }
    }

    fn settings(&self) -> Arc<RuleSettings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn context<'a>(&'a self, settings: &'a RuleSettings) -> EvalContext<'a> {
        EvalContext {
            storage: &*self.storage,
            engine: &self.engine,
            external_labels: &settings.external_labels,
            external_url: &settings.external_url,
        }
    }

    /// One evaluation of a group at `ts`, and the store writes it calls for.
    pub async fn evaluate_group(
        self: &Arc<Self>,
        state: &Arc<Mutex<GroupState>>,
        status: &Arc<RwLock<GroupStatus>>,
        ts: i64,
    ) {
        let me = self.clone();
        let st = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            let settings = me.settings();
            let ctx = me.context(&settings);
            let mut g = st.lock().unwrap_or_else(|p| p.into_inner());
            let writes = g.evaluate(ts, &ctx);
            (writes, g.status())
        })
        .await;
        let Ok((writes, snapshot)) = done else { return };
        *status.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
        // One transaction for the whole evaluation: a rule firing for 10,000 series is
        // one commit, and every change reaches the dispatcher before its first flush.
        let changes = writes.iter().map(|w| (w.alert.clone(), w.notify)).collect();
        if self.alerts.publish_all(changes, "rule").await {
            let mut g = state.lock().unwrap_or_else(|p| p.into_inner());
            for w in &writes {
                g.saved(w);
            }
        }
    }
}
