//! Rule evaluation at exact times over an in-memory store: pending and firing times,
//! `keep_firing_for`, resolved alerts, recording rules feeding later rules, `ALERTS`,
//! for-state restoration, errors and limits, and the store changes each step calls for.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use pharos_model::AlertState;
use pharos_model::series::{LabelMatcher, LabelSet, METRIC_NAME, Sample, SeriesSource};
use pharos_promql::{Engine, EngineOptions};

use super::file::parse_rule_file;
use super::group::{AlertWrite, EvalContext, GroupState, RuleAlertState};
use super::storage::MemoryRuleStorage;

const T0: i64 = 1_700_000_040_000;
const MIN: i64 = 60_000;

fn group(yaml: &str, restored: bool) -> GroupState {
    let mut g =
        parse_rule_file(yaml, Path::new("rules.yaml")).unwrap_or_else(|e| panic!("{}", e[0]));
    GroupState::new(g.remove(0), Duration::from_secs(60), restored)
}

struct World {
    storage: MemoryRuleStorage,
    engine: Engine,
    external: BTreeMap<String, String>,
}

impl World {
    fn new() -> World {
        World {
            storage: MemoryRuleStorage::new(),
            engine: Engine::new(EngineOptions::default()),
            external: BTreeMap::new(),
        }
    }

    fn ctx(&self) -> EvalContext<'_> {
        EvalContext {
            storage: &self.storage,
            engine: &self.engine,
            external_labels: &self.external,
            external_url: "http://pharos:9800",
        }
    }

    /// A sample every 15 s from `from` to `to` (inclusive).
    fn series(&self, labels: &[(&str, &str)], from: i64, to: i64, v: f64) {
        let samples: Vec<Sample> = (0..)
            .map(|i| from + i * 15_000)
            .take_while(|t| *t <= to)
            .map(|t| Sample { t, v })
            .collect();
        self.storage
            .add(LabelSet::new(labels.iter().copied()), samples);
    }

    /// Evaluates and applies every write as the store would take it.
    fn eval(&self, g: &mut GroupState, ts: i64) -> Vec<AlertWrite> {
        let w = g.evaluate(ts, &self.ctx());
        for x in &w {
            g.saved(x);
        }
        w
    }

    fn select(&self, name: &str, extra: &[(&str, &str)]) -> Vec<(LabelSet, Vec<Sample>)> {
        let mut m = vec![LabelMatcher::equal(METRIC_NAME, name)];
        m.extend(extra.iter().map(|(k, v)| LabelMatcher::equal(*k, *v)));
        self.storage
            .select(&m, 0, i64::MAX)
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.labels, s.samples))
            .collect()
    }
}

fn states(g: &GroupState, rule: usize) -> Vec<(RuleAlertState, i64)> {
    g.rules[rule]
        .active
        .values()
        .map(|a| (a.state, a.active_at))
        .collect()
}

const DOWN: &str = "\
groups:
  - name: api
    rules:
      - alert: ApiDown
        expr: up{job=\"api\"} == 0
        for: 2m
        labels:
          severity: critical
        annotations:
          summary: '{{ $labels.job }} is down ({{ $value }})'
";

#[test]
fn pending_then_firing_then_resolved_at_exact_times() {
    let w = World::new();
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - 10 * MIN,
        T0 - MIN,
        1.0,
    );
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - MIN + 15_000,
        T0 + 5 * MIN,
        0.0,
    );
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 + 5 * MIN + 15_000,
        T0 + 10 * MIN,
        1.0,
    );
    let mut g = group(DOWN, true);

    assert!(w.eval(&mut g, T0 - 2 * MIN).is_empty(), "up is 1: nothing");
    let first = w.eval(&mut g, T0);
    assert_eq!(states(&g, 0), [(RuleAlertState::Pending, T0)]);
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].alert.state, first[0].notify),
        (AlertState::Pending, false)
    );
    assert_eq!(first[0].alert.labels["alertname"], "ApiDown");
    assert_eq!(first[0].alert.labels["severity"], "critical");
    assert_eq!(first[0].alert.labels["job"], "api");
    assert!(!first[0].alert.labels.contains_key("__name__"));
    assert_eq!(first[0].alert.annotations["summary"], "api is down (0)");
    assert_eq!(
        first[0].alert.generator_url,
        "http://pharos:9800/rules?group=api&rule=ApiDown"
    );

    assert!(
        w.eval(&mut g, T0 + MIN).is_empty(),
        "still pending, nothing new to store"
    );
    assert_eq!(states(&g, 0), [(RuleAlertState::Pending, T0)]);

    // Exactly `for` after it became active.
    let fired = w.eval(&mut g, T0 + 2 * MIN);
    assert_eq!(states(&g, 0), [(RuleAlertState::Firing, T0)]);
    assert_eq!(
        (fired[0].alert.state, fired[0].notify),
        (AlertState::Firing, true)
    );
    assert_eq!(fired[0].alert.starts_at.timestamp_millis(), T0);
    assert!(
        w.eval(&mut g, T0 + 3 * MIN).is_empty(),
        "firing once is notified once"
    );

    // up is back at T0+5m15s; the evaluation at T0+6m resolves.
    assert!(w.eval(&mut g, T0 + 5 * MIN).is_empty());
    let resolved = w.eval(&mut g, T0 + 6 * MIN);
    assert_eq!(
        (resolved[0].alert.state, resolved[0].notify),
        (AlertState::Resolved, true)
    );
    assert_eq!(
        resolved[0].alert.ends_at.map(|t| t.timestamp_millis()),
        Some(T0 + 6 * MIN)
    );
    assert_eq!(
        states(&g, 0),
        [(RuleAlertState::Inactive, T0)],
        "held after resolving"
    );
    assert!(
        g.status().rules[0].alerts.is_empty(),
        "a held resolved alert is not shown"
    );
    // Held for 15 minutes, then dropped.
    assert_eq!(g.rules[0].active.len(), 1);
    w.eval(&mut g, T0 + 21 * MIN);
    assert_eq!(g.rules[0].active.len(), 1);
    w.eval(&mut g, T0 + 22 * MIN);
    assert!(g.rules[0].active.is_empty());
}

#[test]
fn pending_that_clears_is_dropped_without_notification() {
    let w = World::new();
    w.series(&[("__name__", "up"), ("job", "api")], T0, T0 + MIN, 0.0);
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 + MIN + 15_000,
        T0 + 5 * MIN,
        1.0,
    );
    let mut g = group(DOWN, true);
    assert_eq!(w.eval(&mut g, T0 + 30_000).len(), 1);
    let cleared = w.eval(&mut g, T0 + 90_000);
    assert_eq!(
        (cleared[0].alert.state, cleared[0].notify),
        (AlertState::Resolved, false)
    );
    assert!(
        g.rules[0].active.is_empty(),
        "a pending alert is forgotten at once"
    );
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let w = World::new();
    w.series(&[("__name__", "queue_size")], T0, T0 + 3 * MIN, 100.0);
    w.series(
        &[("__name__", "queue_size")],
        T0 + 3 * MIN + 15_000,
        T0 + 20 * MIN,
        5.0,
    );
    let mut g = group(
        "groups:\n  - name: q\n    rules:\n      - alert: QueueDeep\n        expr: queue_size > 80\n        keep_firing_for: 5m\n",
        true,
    );
    let w0 = w.eval(&mut g, T0);
    assert_eq!(
        (w0[0].alert.state, w0[0].notify),
        (AlertState::Firing, true),
        "no `for`: fires at once"
    );
    w.eval(&mut g, T0 + 3 * MIN);
    // The condition is gone from T0+4m; keep firing until 5 m later.
    for m in 4..9 {
        assert!(w.eval(&mut g, T0 + m * MIN).is_empty(), "minute {m}");
        assert_eq!(states(&g, 0)[0].0, RuleAlertState::Firing, "minute {m}");
    }
    assert_eq!(
        g.rules[0]
            .active
            .values()
            .next()
            .and_then(|a| a.keep_firing_since),
        Some(T0 + 4 * MIN)
    );
    let r = w.eval(&mut g, T0 + 9 * MIN);
    assert_eq!(
        (r[0].alert.state, r[0].notify),
        (AlertState::Resolved, true)
    );
}

#[test]
fn keep_firing_since_resets_when_the_condition_returns() {
    let w = World::new();
    w.series(&[("__name__", "x")], T0, T0 + MIN, 1.0);
    w.series(&[("__name__", "x")], T0 + 2 * MIN, T0 + 2 * MIN, 1.0);
    let mut g = group(
        "groups:\n  - name: q\n    rules:\n      - alert: X\n        expr: x > 0\n        keep_firing_for: 3m\n",
        true,
    );
    w.eval(&mut g, T0);
    // x's last sample is at T0+2m, so it is seen until T0+7m (lookback 5 m).
    w.eval(&mut g, T0 + 8 * MIN);
    assert_eq!(
        g.rules[0]
            .active
            .values()
            .next()
            .and_then(|a| a.keep_firing_since),
        Some(T0 + 8 * MIN)
    );
    w.series(&[("__name__", "x")], T0 + 9 * MIN, T0 + 9 * MIN, 1.0);
    w.eval(&mut g, T0 + 9 * MIN);
    assert_eq!(
        g.rules[0]
            .active
            .values()
            .next()
            .and_then(|a| a.keep_firing_since),
        None
    );
}

#[test]
fn recording_rules_feed_later_rules_in_the_same_evaluation() {
    let w = World::new();
    w.series(
        &[
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("status", "200"),
        ],
        T0 - 10 * MIN,
        T0,
        0.0,
    );
    // 10 requests per second, 2 of them errors.
    let ok: Vec<Sample> = (0..=40)
        .map(|i| Sample {
            t: T0 - 10 * MIN + i * 15_000,
            v: i as f64 * 120.0,
        })
        .collect();
    let bad: Vec<Sample> = (0..=40)
        .map(|i| Sample {
            t: T0 - 10 * MIN + i * 15_000,
            v: i as f64 * 30.0,
        })
        .collect();
    w.storage.add(
        LabelSet::new([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("status", "200"),
        ]),
        ok,
    );
    w.storage.add(
        LabelSet::new([
            ("__name__", "http_requests_total"),
            ("job", "api"),
            ("status", "500"),
        ]),
        bad,
    );
    let mut g = group(
        "groups:
  - name: api
    rules:
      - record: job:http_errors:ratio_rate5m
        expr: sum by (job) (rate(http_requests_total{status=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m]))
        labels: {team: shop}
      - alert: HighErrorRate
        expr: job:http_errors:ratio_rate5m > 0.05
        annotations:
          description: 'Error rate is {{ $value | humanizePercentage }}'
",
        true,
    );
    let writes = w.eval(&mut g, T0);
    let recorded = w.select("job:http_errors:ratio_rate5m", &[]);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0.get("team"), Some("shop"));
    assert_eq!(recorded[0].1, [Sample { t: T0, v: 0.2 }]);
    assert_eq!(
        writes.len(),
        1,
        "the alert saw the value recorded a moment before"
    );
    assert_eq!(
        writes[0].alert.annotations["description"],
        "Error rate is 20%"
    );
    assert_eq!(writes[0].alert.labels["team"], "shop");
    assert_eq!(g.rules[0].health.as_str(), "ok");
}

#[test]
fn alerts_series_are_written_each_evaluation() {
    let w = World::new();
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - MIN,
        T0 + 5 * MIN,
        0.0,
    );
    let mut g = group(DOWN, true);
    w.eval(&mut g, T0);
    w.eval(&mut g, T0 + 2 * MIN);
    let pending = w.select("ALERTS", &[("alertstate", "pending")]);
    let firing = w.select("ALERTS", &[("alertstate", "firing")]);
    // The pending series ends with a staleness marker once the alert fires.
    assert_eq!(pending[0].1[0], Sample { t: T0, v: 1.0 });
    assert_eq!(pending[0].1[1].t, T0 + 2 * MIN);
    assert!(pharos_model::series::is_stale_marker(pending[0].1[1].v));
    assert_eq!(
        firing[0].1,
        [Sample {
            t: T0 + 2 * MIN,
            v: 1.0
        }]
    );
    assert_eq!(pending[0].0.get("alertname"), Some("ApiDown"));
    assert_eq!(pending[0].0.get("severity"), Some("critical"));
    let for_state = w.select("ALERTS_FOR_STATE", &[]);
    assert_eq!(for_state[0].1.len(), 2);
    assert_eq!(for_state[0].1[1].v, (T0 / 1000) as f64);
    assert!(for_state[0].0.get("alertstate").is_none());
    let mut g2 = group(DOWN, false);
    w.eval(&mut g2, T0 + 3 * MIN);
    assert_eq!(
        w.select("ALERTS", &[("alertstate", "firing")])[0].1.len(),
        1,
        "not written before restoration"
    );
}

#[test]
fn for_state_is_restored_after_a_restart() {
    // `for` 15 m; active from T0, Pharos stopped at T0+3m (12 m to go, more than the
    // grace period): the time away is added, so it fires 15 m of pending later.
    let w = World::new();
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - MIN,
        T0 + 40 * MIN,
        0.0,
    );
    let rules = "groups:\n  - name: api\n    rules:\n      - alert: ApiDown\n        expr: up == 0\n        for: 15m\n";
    let mut before = group(rules, true);
    for m in 0..=3 {
        w.eval(&mut before, T0 + m * MIN);
    }
    let mut after = group(rules, false);
    for x in before.rules.remove(0).stored.into_values() {
        assert!(after.adopt(&x));
    }
    assert!(
        w.eval(&mut after, T0 + 7 * MIN).is_empty(),
        "pending is already stored"
    );
    w.eval(&mut after, T0 + 8 * MIN);
    after.restore_for_state(T0 + 8 * MIN, &w.ctx());
    assert_eq!(states(&after, 0), [(RuleAlertState::Pending, T0 + 5 * MIN)]);
    w.eval(&mut after, T0 + 19 * MIN);
    assert_eq!(states(&after, 0)[0].0, RuleAlertState::Pending);
    let fired = w.eval(&mut after, T0 + 20 * MIN);
    assert_eq!(states(&after, 0)[0].0, RuleAlertState::Firing);
    assert!(fired[0].notify);

    // Stopped at T0+8m (7 m to go, less than the grace period): it fires 10 m after
    // the restoration.
    let w = World::new();
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - MIN,
        T0 + 40 * MIN,
        0.0,
    );
    let mut before = group(rules, true);
    for m in 0..=8 {
        w.eval(&mut before, T0 + m * MIN);
    }
    let mut after = group(rules, false);
    w.eval(&mut after, T0 + 10 * MIN);
    w.eval(&mut after, T0 + 11 * MIN);
    after.restore_for_state(T0 + 11 * MIN, &w.ctx());
    assert_eq!(
        states(&after, 0),
        [(RuleAlertState::Pending, T0 + 11 * MIN + 10 * MIN - 15 * MIN)]
    );
    w.eval(&mut after, T0 + 20 * MIN);
    assert_eq!(states(&after, 0)[0].0, RuleAlertState::Pending);
    w.eval(&mut after, T0 + 21 * MIN);
    assert_eq!(states(&after, 0)[0].0, RuleAlertState::Firing);

    // A `for` shorter than the grace period is not restored: pending starts again.
    let mut short = group(DOWN, false);
    w.eval(&mut short, T0 + 30 * MIN);
    short.restore_for_state(T0 + 30 * MIN, &w.ctx());
    assert_eq!(
        states(&short, 0),
        [(RuleAlertState::Pending, T0 + 30 * MIN)]
    );
}

#[test]
fn a_firing_alert_from_before_a_restart_is_not_notified_again() {
    let w = World::new();
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - MIN,
        T0 + 10 * MIN,
        0.0,
    );
    let mut before = group(DOWN, true);
    w.eval(&mut before, T0);
    assert!(w.eval(&mut before, T0 + 2 * MIN)[0].notify);
    let stored: Vec<_> = before.rules[0].stored.values().cloned().collect();
    assert_eq!(stored[0].state, AlertState::Firing);

    let mut after = group(DOWN, false);
    assert!(after.adopt(&stored[0]));
    // Pending again in memory (its `for` is below the grace period), firing in the store.
    assert!(w.eval(&mut after, T0 + 4 * MIN).is_empty());
    assert!(w.eval(&mut after, T0 + 5 * MIN).is_empty());
    after.restore_for_state(T0 + 5 * MIN, &w.ctx());
    assert!(
        w.eval(&mut after, T0 + 6 * MIN).is_empty(),
        "fires again without a notification"
    );
    assert_eq!(states(&after, 0)[0].0, RuleAlertState::Firing);

    // Had it stopped while Pharos was down, the first evaluation resolves it.
    let mut gone = group(DOWN, false);
    gone.adopt(&stored[0]);
    let r = w.eval(&mut gone, T0 + 30 * MIN);
    assert_eq!(
        (r[0].alert.state, r[0].notify),
        (AlertState::Resolved, true)
    );
}

#[test]
fn a_failing_query_keeps_alerts_and_reports_the_error() {
    let w = World::new();
    w.series(
        &[("__name__", "a"), ("x", "1")],
        T0 - MIN,
        T0 + 10 * MIN,
        1.0,
    );
    let mut g = group(
        "groups:\n  - name: g\n    rules:\n      - alert: Dup\n        expr: '{x=\"1\"}'\n",
        true,
    );
    assert!(w.eval(&mut g, T0)[0].notify);
    // A second series that differs only by name: the same labels once the name is dropped.
    w.series(
        &[("__name__", "b"), ("x", "1")],
        T0 + MIN,
        T0 + 10 * MIN,
        1.0,
    );
    assert!(w.eval(&mut g, T0 + 2 * MIN).is_empty());
    assert_eq!(g.rules[0].health.as_str(), "err");
    assert_eq!(
        g.rules[0].last_error.as_deref(),
        Some("vector contains metrics with the same labelset after applying alert labels")
    );
    assert_eq!(
        states(&g, 0)[0].0,
        RuleAlertState::Firing,
        "kept while the rule fails"
    );
    assert_eq!(g.status().rules[0].last_evaluation, Some(T0 + 2 * MIN));
}

#[test]
fn limits_refuse_too_many_alerts_or_series() {
    let w = World::new();
    for i in 0..3 {
        w.series(
            &[("__name__", "up"), ("instance", &i.to_string())],
            T0 - MIN,
            T0 + MIN,
            0.0,
        );
    }
    let mut g = group(
        "groups:\n  - name: g\n    limit: 2\n    rules:\n      - alert: Down\n        expr: up == 0\n      - record: up:copy\n        expr: up\n",
        true,
    );
    w.eval(&mut g, T0);
    assert_eq!(
        g.rules[0].last_error.as_deref(),
        Some("exceeded limit of 2 with 3 alerts")
    );
    assert!(g.rules[0].active.is_empty());
    assert_eq!(
        g.rules[1].last_error.as_deref(),
        Some("exceeded limit of 2 with 3 series")
    );
    assert!(w.select("up:copy", &[]).is_empty());
}

#[test]
fn query_offset_and_external_labels() {
    let mut w = World::new();
    w.external.insert("cluster".into(), "eu1".into());
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - 10 * MIN,
        T0 - 2 * MIN,
        0.0,
    );
    let mut g = group(
        "groups:\n  - name: g\n    query_offset: 5m\n    rules:\n      - alert: Down\n        expr: up == 0\n        annotations: {where: '{{ $externalLabels.cluster }}'}\n",
        true,
    );
    let writes = w.eval(&mut g, T0);
    assert_eq!(
        writes[0].alert.labels["cluster"], "eu1",
        "external labels go on the alert"
    );
    assert_eq!(writes[0].alert.annotations["where"], "eu1");
    let alerts = w.select("ALERTS", &[]);
    assert_eq!(alerts[0].1[0].t, T0 - 5 * MIN);
    assert!(alerts[0].0.get("cluster").is_none(), "but not on ALERTS");
}

#[test]
fn recorded_series_that_disappear_get_staleness_markers() {
    let w = World::new();
    w.series(&[("__name__", "up"), ("job", "a")], T0 - MIN, T0, 1.0);
    let mut g = group(
        "groups:\n  - name: g\n    rules:\n      - record: job:up\n        expr: up\n",
        true,
    );
    w.eval(&mut g, T0);
    w.eval(&mut g, T0 + 10 * MIN);
    let s = &w.select("job:up", &[])[0].1;
    assert_eq!(s.len(), 2);
    assert!(pharos_model::series::is_stale_marker(s[1].v));
}

#[test]
fn groups_are_aligned_by_a_hash_of_name_and_file() {
    let a = group(
        "groups:\n  - name: a\n    interval: 1m\n    rules: []\n",
        true,
    );
    let b = group(
        "groups:\n  - name: b\n    interval: 1m\n    rules: []\n",
        true,
    );
    let now = T0 + 12_345;
    let (ta, tb) = (a.eval_timestamp(now), b.eval_timestamp(now));
    assert!(ta <= now && now - ta < MIN);
    assert_eq!(
        a.eval_timestamp(now + MIN),
        ta + MIN,
        "one slot per interval"
    );
    assert_eq!(a.eval_timestamp(ta), ta);
    assert_ne!(
        ta.rem_euclid(MIN),
        tb.rem_euclid(MIN),
        "groups spread over the interval"
    );
}

#[test]
fn reload_keeps_the_state_of_unchanged_rules() {
    let w = World::new();
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - MIN,
        T0 + 10 * MIN,
        0.0,
    );
    let mut old = group(DOWN, true);
    w.eval(&mut old, T0);
    let mut new = group(&DOWN.replace("summary", "description"), true);
    let orphans = new.copy_state(old);
    assert!(orphans.is_empty());
    assert_eq!(states(&new, 0), [(RuleAlertState::Pending, T0)]);
    assert!(
        w.eval(&mut new, T0 + 2 * MIN)[0].notify,
        "fires on the old schedule"
    );
}

/// Issue 16: a rule over a metric that was never scraped was shown as a green "ok" with
/// nothing to tell it from a rule whose condition is simply not met.
#[test]
fn a_rule_over_a_metric_that_does_not_exist_names_the_missing_selector() {
    let w = World::new();
    w.series(
        &[("__name__", "up"), ("job", "api")],
        T0 - MIN,
        T0 + 10 * MIN,
        1.0,
    );
    let mut g = group(
        "groups:\n  - name: g\n    rules:\n      - alert: ApiDown\n        expr: up{job=\"api\"} == 0\n      - alert: Typo\n        expr: rate(http_requets_total{job=\"api\"}[5m]) > 1 and on() up{job=\"api\"} == 1\n      - record: job:missing:sum\n        expr: sum(no_such_metric)\n",
        true,
    );
    w.eval(&mut g, T0);
    let status = g.status();
    // Health stays Prometheus's: the query ran.
    assert!(status.rules.iter().all(|r| r.health.as_str() == "ok"));
    assert!(
        status.rules[0].missing_series.is_empty(),
        "up exists: the condition is just not met"
    );
    assert_eq!(
        status.rules[1].missing_series,
        vec!["http_requets_total{job=\"api\"}".to_string()]
    );
    assert_eq!(
        status.rules[2].missing_series,
        vec!["no_such_metric".to_string()]
    );
    // Once the metric exists the hint goes.
    w.series(&[("__name__", "no_such_metric")], T0, T0 + 10 * MIN, 1.0);
    w.eval(&mut g, T0 + MIN);
    assert!(g.status().rules[2].missing_series.is_empty());
}
