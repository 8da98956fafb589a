//! The log rules' tests. Here: seed 004's rule lists and the helpers every file shares (an
//! engine over a store in a temporary directory with a recording series sink, lines at
//! fixed times, alert changes as comparable tuples). One file per rule kind, and one each
//! for loading the section, the counters, reloads and restarts, and throughput.

mod counters;
mod forbidden;
mod lifecycle;
mod loading;
mod rate_limited;
mod threshold;
mod throughput;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::series::{SampleSink, SeriesSample};
use pharos_model::{AlertState, LogEntry, LogLevel, LogSource};
use pharos_store::Store;

use super::*;

/// Seed 004's lists as written, with the P0/P1/P2 of its comments as severities.
const SEED_004: &str = r#"
- name: forbidden_log_patterns
  kind: forbidden
  severity: critical
  patterns:
    - pattern: "Decimal.*is not JSON serializable"
      severity: P0
    - pattern: "OID.*out of range"
      severity: P0
    - pattern: "Error handling request"
      severity: P1
    - pattern: "Lock acquisition failed"
      severity: P1
    - pattern: "Queue full"
      severity: P2
    - pattern: "Database connection lost"
      severity: P0
    - pattern: "Webhook timeout"
      severity: P1
  resolve_after: 10m
- name: rate_limited_log_patterns
  kind: rate_limited
  patterns: ["Duplicate update_id", "Insufficient balance", "Model not found"]
  max: 1
  per: 30s
  severity: warning
- name: error_burst
  kind: threshold
  level: ERROR
  max: 10
  per: 10m
  severity: critical
- name: slow_requests
  kind: count
  patterns: ["Slow request detected"]
"#;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

fn specs(yaml: &str) -> Vec<LogRuleSpec> {
    pharos_model::yaml::from_yaml(yaml).unwrap_or_else(|e| panic!("{e:?}"))
}

fn rules(yaml: &str) -> Vec<LogRule> {
    validate_rules(&specs(yaml)).unwrap_or_else(|e| panic!("{e}"))
}

fn rule_error(yaml: &str) -> String {
    validate_rules(&specs(yaml)).unwrap_err().to_string()
}

fn line(service: &str, level: Option<LogLevel>, message: &str, secs: i64) -> LogEntry {
    let mut e = LogEntry::new(service, LogSource::Http, at(secs), message);
    e.level = level;
    e
}

#[derive(Default)]
struct RecordingSink(Mutex<Vec<SeriesSample>>);

impl SampleSink for RecordingSink {
    fn write(&self, samples: Vec<SeriesSample>) {
        self.0.lock().unwrap().extend(samples);
    }
}

impl RecordingSink {
    fn take(&self) -> Vec<SeriesSample> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

fn temp_store() -> Arc<Store> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pharos-log-rules-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Arc::new(Store::open(&dir).unwrap())
}

fn engine_with(yaml: &str, series_interval: Duration) -> (Arc<LogRules>, Arc<RecordingSink>) {
    let sink = Arc::new(RecordingSink::default());
    let store = temp_store();
    let engine = LogRules::new(
        store.clone(),
        AlertSink::new(store, Arc::new(crate::publish::NoDispatcher)),
        sink.clone(),
        LogRuleSettings {
            external_url: "http://pharos.example:9800/".into(),
            series_interval,
        },
    );
    engine.set_rules(rules(yaml));
    (engine, sink)
}

fn engine(yaml: &str) -> LogRulesUnderTest {
    let (engine, _sink) = engine_with(yaml, Duration::from_secs(15));
    LogRulesUnderTest { engine }
}

struct LogRulesUnderTest {
    engine: Arc<LogRules>,
}

impl LogRulesUnderTest {
    fn observe(&self, lines: &[LogEntry]) {
        self.engine.observe(lines);
    }

    /// `(state, alertname, pattern, severity, service)` of each change at `secs`.
    fn tick(&self, secs: i64) -> Vec<(AlertState, String, String, String, String)> {
        self.engine
            .tick(at(secs))
            .into_iter()
            .map(|(a, notify)| {
                assert!(notify, "every log rule change notifies");
                let l = |k: &str| a.labels.get(k).cloned().unwrap_or_default();
                (
                    a.state,
                    l("alertname"),
                    l("pattern"),
                    l("severity"),
                    l("service"),
                )
            })
            .collect()
    }
}

fn firing(
    name: &str,
    pattern: &str,
    severity: &str,
    service: &str,
) -> (AlertState, String, String, String, String) {
    (
        AlertState::Firing,
        name.into(),
        pattern.into(),
        severity.into(),
        service.into(),
    )
}

fn resolved(
    name: &str,
    pattern: &str,
    severity: &str,
    service: &str,
) -> (AlertState, String, String, String, String) {
    (
        AlertState::Resolved,
        name.into(),
        pattern.into(),
        severity.into(),
        service.into(),
    )
}
