//! Log rules: alerts and series from the log lines themselves (seed 004's forbidden and
//! rate-limited patterns, "more than 10 errors in 10 minutes").
//!
//! `config` owns the `logs.rules` section, `state` the counts and windows, `alert` what an
//! alert says and where it links, `series` the counters written to the metrics store,
//! `status` what the API shows. Here is [`LogRules`]: every durable batch of the log store
//! goes through [`LogRules::observe`] (one `RegexSet` search per rule for a line that
//! matches nothing, a second to tell which patterns for one that does); once a
//! second [`LogRules::tick`] fires and resolves alerts from sliding windows over the lines'
//! `received` times and writes the counters; [`LogRules::run`] is the task doing both and
//! storing alert changes with their notifications through [`crate::publish`].
//!
//! Rate-limited and threshold alerts fire while more than `max` lines are in the window and
//! resolve when it holds `max` or fewer, without a `for`-style delay: the window is itself
//! the hysteresis, since a line keeps counting for the whole of `per`.
//!
//! A restart re-derives alerts: open log-rule alerts are read back from the store and kept
//! for one window (the lines that raised them were before the restart), so an alert that
//! still holds is not notified twice.

pub mod alert;
pub mod config;
pub mod series;
mod state;
pub mod status;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::series::SampleSink;
use pharos_model::{Alert, AlertState, LogEntry};
use pharos_store::Store;
use tokio::sync::broadcast;

use crate::AlertSink;
pub use config::{
    LogRule, LogRuleError, LogRuleKind, LogRuleSpec, PatternSpec, RulePattern, validate_rules,
};
use state::{LineCounts, RuleState};
pub use state::{MAX_SERVICES, OTHER_SERVICE};
pub use status::{FiringKey, LastMatch, LogRuleStatus, PatternStatus};

/// How often alerts are evaluated.
pub const TICK: Duration = Duration::from_secs(1);

/// What log rules take from the rest of the config.
#[derive(Clone, Debug)]
pub struct LogRuleSettings {
    /// Base of the links to the log explorer in alerts.
    pub external_url: String,
    /// How often the counters are written. Ticks are every second, but a sample per
    /// second per counter would cost the store 15 times a scrape's worth for nothing a
    /// `rate()` over minutes can see.
    pub series_interval: Duration,
}

impl Default for LogRuleSettings {
    fn default() -> Self {
        LogRuleSettings {
            external_url: String::new(),
            series_interval: Duration::from_secs(15),
        }
    }
}

#[derive(Default)]
struct Engine {
    rules: Vec<RuleState>,
    lines: LineCounts,
    /// Open alerts of rules a reload removed or changed, resolved by the next tick.
    orphans: Vec<Alert>,
    /// Series of removed rules, to be marked stale by the next series write.
    removed: Vec<RuleState>,
    last_tick_ms: i64,
    last_series_ms: Option<i64>,
}

pub struct LogRules {
    engine: Mutex<Engine>,
    sink: Arc<dyn SampleSink>,
    settings: RwLock<LogRuleSettings>,
    store: Arc<Store>,
    alerts: Arc<AlertSink>,
    lagged_batches: AtomicU64,
}

impl LogRules {
    pub fn new(
        store: Arc<Store>,
        alerts: Arc<AlertSink>,
        sink: Arc<dyn SampleSink>,
        settings: LogRuleSettings,
    ) -> Arc<LogRules> {
        Arc::new(LogRules {
            engine: Mutex::new(Engine::default()),
            sink,
            settings: RwLock::new(settings),
            store,
            alerts,
            lagged_batches: AtomicU64::new(0),
        })
    }

    pub fn set_settings(&self, settings: LogRuleSettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    /// Replaces the rules (a start or a reload). A rule whose spec is unchanged keeps its
    /// counts, windows and open alerts; the alerts of rules removed or changed are
    /// resolved by the next tick.
    pub fn set_rules(&self, rules: Vec<LogRule>) {
        let mut e = self.lock();
        let mut old = std::mem::take(&mut e.rules);
        let mut kept = Vec::with_capacity(rules.len());
        for rule in rules {
            match old.iter().position(|s| s.rule.spec == rule.spec) {
                Some(i) => kept.push(old.swap_remove(i)),
                None => kept.push(RuleState::new(Arc::new(rule))),
            }
        }
        for mut gone in old {
            let open = gone.take_alerts();
            e.orphans.extend(open);
            // A changed rule writes the same series again: only a rule whose name is
            // gone ends its series.
            if !kept.iter().any(|k| k.rule.name() == gone.rule.name()) {
                e.removed.push(gone);
            }
        }
        e.rules = kept;
    }

    /// Counts a batch of lines. Runs for every line Pharos keeps: a line that matches no
    /// rule costs one `RegexSet` search per rule and no allocation.
    pub fn observe(&self, batch: &[LogEntry]) {
        let mut guard = self.lock();
        let e = &mut *guard;
        for line in batch {
            let service = e.lines.count(line);
            let t = line.received.timestamp_millis();
            for r in &mut e.rules {
                r.observe(line, service, t);
            }
        }
    }

    /// Fires and resolves alerts as of `now`, and writes the counters when they are due.
    /// Returns the alert changes to store, each with whether it notifies.
    pub fn tick(&self, now: DateTime<Utc>) -> Vec<(Alert, bool)> {
        let settings = self.settings();
        let now_ms = now.timestamp_millis();
        let mut guard = self.lock();
        let e = &mut *guard;
        e.last_tick_ms = now_ms;
        let mut changes: Vec<(Alert, bool)> = e
            .orphans
            .drain(..)
            .map(|a| (alert::resolved(a, now), true))
            .collect();
        for r in &mut e.rules {
            changes.extend(r.evaluate(now, &settings.external_url));
        }
        let due = e.last_series_ms.is_none_or(|last| {
            now_ms > last && now_ms - last >= settings.series_interval.as_millis() as i64
        });
        if due {
            let mut samples = Vec::new();
            series::line_samples(&e.lines, now_ms, &mut samples);
            for r in &e.rules {
                series::rule_samples(r, now_ms, &mut samples);
            }
            for r in e.removed.drain(..) {
                series::rule_stale(&r, now_ms, &mut samples);
            }
            // Written once something was missed: with no log traffic the engine writes
            // nothing, so an idle Pharos adds no series of its own at wall-clock time.
            let lagged = self.lagged_batches.load(Ordering::Relaxed);
            if lagged > 0 {
                samples.push(series::lagged_sample(lagged, now_ms));
            }
            e.last_series_ms = Some(now_ms);
            drop(guard);
            if !samples.is_empty() {
                self.sink.write(samples);
            }
        }
        changes
    }

    /// Takes over the log-rule alerts still open in the store from before a restart;
    /// returns those no rule claims (their rule was removed or changed), resolved.
    pub fn adopt(&self, open: Vec<Alert>, now: DateTime<Utc>) -> Vec<(Alert, bool)> {
        let now_ms = now.timestamp_millis();
        let mut e = self.lock();
        let mut unclaimed = Vec::new();
        for a in open {
            if a.state == AlertState::Resolved || !a.generator_url.contains(alert::EXPLORER_PATH) {
                continue;
            }
            let claimed = e
                .rules
                .iter_mut()
                .filter(|r| r.rule.kind.alerts() && r.rule.name() == a.name())
                .any(|r| r.adopt(&a, now_ms));
            if !claimed {
                let was_firing = a.state == AlertState::Firing;
                unclaimed.push((alert::resolved(a, now), was_firing));
            }
        }
        unclaimed
    }

    /// Every rule as of the last tick, in config order.
    pub fn status(&self) -> Vec<LogRuleStatus> {
        let e = self.lock();
        e.rules
            .iter()
            .map(|r| status::rule_status(r, e.last_tick_ms))
            .collect()
    }

    /// Batches skipped because the engine fell behind the broadcast.
    pub fn lagged_batches(&self) -> u64 {
        self.lagged_batches.load(Ordering::Relaxed)
    }

    /// The task: adopts open alerts, then observes every batch and ticks every second,
    /// storing alert changes with their notifications. Returns when the sender is gone.
    /// Call [`LogRules::set_rules`] before spawning it: open alerts are claimed by the
    /// rules loaded at that moment, and the others resolved.
    pub async fn run(self: Arc<Self>, mut batches: broadcast::Receiver<Arc<Vec<LogEntry>>>) {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.list_alerts(None, 100_000)).await {
            Ok(Ok(rows)) => {
                let open = rows.into_iter().map(|r| r.alert).collect();
                let changes = self.adopt(open, Utc::now());
                self.publish(changes).await;
            }
            Ok(Err(e)) => {
                tracing::error!(operation = "log_rules_start", error_type = "store", error = %e, "cannot read open alerts; log rule alerts may be notified again");
            }
            Err(_) => {}
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                got = batches.recv() => match got {
                    Ok(batch) => {
                        // Matching a large batch takes milliseconds: off the async workers,
                        // awaited so batches stay in order.
                        let me = self.clone();
                        let _ = tokio::task::spawn_blocking(move || me.observe(&batch)).await;
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let total = self.lagged_batches.fetch_add(n, Ordering::Relaxed) + n;
                        tracing::warn!(
                            operation = "log_rules",
                            error_type = "lagged",
                            skipped = n,
                            skipped_total = total,
                            "log rules fell behind the log store; {n} batch(es) were not evaluated"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        let changes = self.tick(Utc::now());
                        self.publish(changes).await;
                        return;
                    }
                },
                _ = tick.tick() => {
                    let changes = self.tick(Utc::now());
                    self.publish(changes).await;
                }
            }
        }
    }

    async fn publish(&self, changes: Vec<(Alert, bool)>) {
        self.alerts.publish_all(changes, "log_rules").await;
    }

    fn settings(&self) -> LogRuleSettings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }
}
