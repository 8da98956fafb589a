use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::series::{SampleSink, SeriesSample, is_stale_marker};
use pharos_model::{Alert, AlertState, LogEntry, LogLevel, LogSource};
use pharos_store::Store;
use tokio::sync::broadcast;

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

#[test]
fn seed_004_lists_load_as_written_and_fire_with_their_severities() {
    let loaded = rules(SEED_004);
    assert_eq!(loaded.len(), 4);
    assert_eq!(loaded[0].patterns.len(), 7);
    assert_eq!(loaded[0].window, Duration::from_secs(600));
    assert_eq!(loaded[1].max, 1);
    assert_eq!(loaded[2].min_level, Some(LogLevel::Error));

    let e = engine(SEED_004);
    e.observe(&[
        line("bot", Some(LogLevel::Error), "Traceback (most recent call last):\n  File \"app.py\"\nTypeError: Object of type Decimal is not JSON serializable", 0),
        line("bot", Some(LogLevel::Warning), "Queue full, rejecting update", 0),
        line("bot", Some(LogLevel::Info), "everything is fine", 0),
        line("bot", Some(LogLevel::Warning), "Insufficient balance for user 42", 0),
    ]);
    let changes = e.engine.tick(at(1));
    assert!(changes.iter().all(|(a, _)| a.ends_at.is_none()));
    let mut got: Vec<_> = changes
        .into_iter()
        .map(|(a, _)| {
            let l = |k: &str| a.labels.get(k).cloned().unwrap_or_default();
            (
                a.state,
                l("alertname"),
                l("pattern"),
                l("severity"),
                l("service"),
            )
        })
        .collect();
    got.sort_by(|a, b| (&a.1, &a.2, &a.4).cmp(&(&b.1, &b.2, &b.4)));
    assert_eq!(
        got,
        vec![
            firing(
                "forbidden_log_patterns",
                "Decimal.*is not JSON serializable",
                "P0",
                "bot"
            ),
            firing("forbidden_log_patterns", "Queue full", "P2", "bot"),
        ]
    );
}

#[test]
fn forbidden_fires_on_the_first_match_stays_while_matches_continue_and_resolves_after_silence() {
    let e = engine(
        r#"
- name: forbidden
  kind: forbidden
  patterns: ["OID.*out of range"]
  resolve_after: 1m
"#,
    );
    assert_eq!(e.tick(0), vec![]);
    e.observe(&[line(
        "bot",
        None,
        "advisory lock: OID 4294967296 out of range",
        10,
    )]);
    assert_eq!(
        e.tick(10),
        vec![firing("forbidden", "OID.*out of range", "critical", "bot")]
    );
    // Matches keep it firing without new notifications.
    e.observe(&[line("bot", None, "OID 5 out of range", 50)]);
    assert_eq!(e.tick(60), vec![]);
    assert_eq!(e.tick(109), vec![]);
    assert_eq!(
        e.tick(110),
        vec![resolved(
            "forbidden",
            "OID.*out of range",
            "critical",
            "bot"
        )]
    );
    assert_eq!(e.tick(200), vec![]);
    // A new match is a new alert.
    e.observe(&[line("bot", None, "OID 6 out of range", 300)]);
    assert_eq!(
        e.tick(300),
        vec![firing("forbidden", "OID.*out of range", "critical", "bot")]
    );
}

#[test]
fn rate_limited_fires_while_more_than_max_are_in_the_window() {
    let e = engine(
        r#"
- name: rate_limited_log_patterns
  kind: rate_limited
  patterns: ["Duplicate update_id", "Model not found"]
  max: 1
  per: 30s
"#,
    );
    // One every 30 s is allowed.
    e.observe(&[line("bot", None, "Duplicate update_id 7", 0)]);
    assert_eq!(e.tick(1), vec![]);
    e.observe(&[line("bot", None, "Duplicate update_id 8", 31)]);
    assert_eq!(e.tick(31), vec![]);
    // Two within 30 s is not.
    e.observe(&[line("bot", None, "Duplicate update_id 9", 40)]);
    assert_eq!(
        e.tick(40),
        vec![firing(
            "rate_limited_log_patterns",
            "Duplicate update_id",
            "warning",
            "bot"
        )]
    );
    let status = e.engine.status();
    assert_eq!(status[0].state, "firing");
    assert_eq!(status[0].patterns[0].matches_in_window, 2);
    assert_eq!(status[0].patterns[0].matches_total, 3);
    assert_eq!(
        status[0].last_match.as_ref().unwrap().line,
        "Duplicate update_id 9"
    );
    // The match at 31 leaves the window at 61.
    assert_eq!(e.tick(60), vec![]);
    assert_eq!(
        e.tick(61),
        vec![resolved(
            "rate_limited_log_patterns",
            "Duplicate update_id",
            "warning",
            "bot"
        )]
    );
    assert_eq!(e.engine.status()[0].state, "inactive");
}

#[test]
fn threshold_fires_on_the_eleventh_error_in_ten_minutes_and_ignores_lower_levels() {
    let e = engine(
        r#"
- name: error_burst
  kind: threshold
  max: 10
  per: 10m
"#,
    );
    let errors: Vec<LogEntry> = (0..10)
        .map(|i| line("bot", Some(LogLevel::Error), "API timeout", i * 30))
        .collect();
    e.observe(&errors);
    e.observe(&[
        line("bot", Some(LogLevel::Warning), "Insufficient balance", 300),
        line("bot", None, "no level", 300),
    ]);
    assert_eq!(e.tick(300), vec![]);
    e.observe(&[line("bot", Some(LogLevel::Critical), "lock lost", 301)]);
    assert_eq!(
        e.tick(301),
        vec![firing("error_burst", "", "critical", "bot")]
    );
    // The first error (t=0) leaves the 10 minute window at 600.
    assert_eq!(e.tick(599), vec![]);
    assert_eq!(
        e.tick(600),
        vec![resolved("error_burst", "", "critical", "bot")]
    );
}

#[test]
fn each_pattern_and_each_service_is_its_own_alert() {
    let e = engine(
        r#"
- name: forbidden
  kind: forbidden
  severity: warning
  patterns:
    - pattern: "Database connection lost"
      severity: critical
    - "connection"
"#,
    );
    e.observe(&[
        line("bot", None, "Database connection lost", 0),
        line("worker", None, "Database connection lost", 0),
    ]);
    let mut got = e.tick(0);
    got.sort_by(|a, b| (&a.1, &a.2, &a.4).cmp(&(&b.1, &b.2, &b.4)));
    assert_eq!(
        got,
        vec![
            firing("forbidden", "Database connection lost", "critical", "bot"),
            firing(
                "forbidden",
                "Database connection lost",
                "critical",
                "worker"
            ),
            firing("forbidden", "connection", "warning", "bot"),
            firing("forbidden", "connection", "warning", "worker"),
        ]
    );
}

#[test]
fn filters_take_service_level_and_logger_hierarchy() {
    let e = engine(
        r#"
- name: db_errors
  kind: forbidden
  service: bot
  level: warning
  logger: app.db
  patterns: ["lost"]
"#,
    );
    let with_logger = |service: &str, level, logger: Option<&str>| {
        let mut l = line(service, level, "connection lost", 0);
        l.logger = logger.map(String::from);
        l
    };
    e.observe(&[
        with_logger("worker", Some(LogLevel::Error), Some("app.db")),
        with_logger("bot", Some(LogLevel::Info), Some("app.db")),
        with_logger("bot", None, Some("app.db")),
        with_logger("bot", Some(LogLevel::Error), Some("app.dbx")),
        with_logger("bot", Some(LogLevel::Error), None),
    ]);
    assert_eq!(e.tick(0), vec![]);
    e.observe(&[with_logger(
        "bot",
        Some(LogLevel::Warning),
        Some("app.db.pool"),
    )]);
    assert_eq!(
        e.tick(1),
        vec![firing("db_errors", "lost", "critical", "bot")]
    );
}

#[test]
fn alerts_carry_the_line_count_window_and_a_link_to_the_log_explorer() {
    let e = engine(
        r#"
- name: rate_limited
  kind: rate_limited
  patterns: ["Model not found"]
  max: 1
  per: 30s
  labels: {team: bots}
  annotations: {runbook_url: "https://wiki/models"}
"#,
    );
    let long = format!("Model not found: {}", "x".repeat(2000));
    e.observe(&[
        line("bot api", None, "Model not found: gpt-9", 0),
        line("bot api", None, &long, 5),
    ]);
    let changes = e.engine.tick(at(5));
    let a = &changes[0].0;
    assert_eq!(a.labels.get("team").unwrap(), "bots");
    assert_eq!(
        a.annotations.get("runbook_url").unwrap(),
        "https://wiki/models"
    );
    assert_eq!(a.annotations.get("count").unwrap(), "2");
    assert_eq!(a.annotations.get("window").unwrap(), "30s");
    let kept = a.annotations.get("line").unwrap();
    assert!(kept.len() <= alert::LINE_LIMIT + '…'.len_utf8() && kept.ends_with('…'));
    assert!(
        a.annotations
            .get("description")
            .unwrap()
            .contains("Model not found: xxx")
    );
    assert_eq!(
        a.annotations.get("summary").unwrap(),
        "\"Model not found\" logged 2 times in 30s by bot api (limit 1)"
    );
    assert_eq!(
        a.generator_url,
        "http://pharos.example:9800/logs?q=service%3D%22bot+api%22+%2FModel+not+found%2F\
         &from=2027-01-15T07%3A59%3A35Z&to=2027-01-15T08%3A00%3A05Z"
    );
    assert_eq!(a.starts_at, at(5));
}

#[test]
fn reload_keeps_state_of_unchanged_rules_and_resolves_changed_and_removed_ones() {
    let yaml = r#"
- name: forbidden
  kind: forbidden
  patterns: ["Queue full"]
- name: burst
  kind: threshold
  max: 0
  per: 1m
- name: gone
  kind: forbidden
  patterns: ["Webhook timeout"]
"#;
    let e = engine(yaml);
    e.observe(&[
        line("bot", Some(LogLevel::Error), "Queue full", 0),
        line("bot", Some(LogLevel::Error), "Webhook timeout", 0),
    ]);
    let mut got = e.tick(0);
    got.sort_by(|a, b| (&a.1, &a.2, &a.4).cmp(&(&b.1, &b.2, &b.4)));
    assert_eq!(got.len(), 3);

    e.engine.set_rules(rules(
        r#"
- name: forbidden
  kind: forbidden
  patterns: ["Queue full"]
- name: burst
  kind: threshold
  max: 5
  per: 1m
"#,
    ));
    let changes = e.engine.tick(at(1));
    assert!(changes.iter().all(|(a, _)| a.ends_at == Some(at(1))));
    let mut got: Vec<_> = changes
        .into_iter()
        .map(|(a, _)| {
            let l = |k: &str| a.labels.get(k).cloned().unwrap_or_default();
            (
                a.state,
                l("alertname"),
                l("pattern"),
                l("severity"),
                l("service"),
            )
        })
        .collect();
    got.sort_by(|a, b| (&a.1, &a.2, &a.4).cmp(&(&b.1, &b.2, &b.4)));
    assert_eq!(
        got,
        vec![
            resolved("burst", "", "critical", "bot"),
            resolved("gone", "Webhook timeout", "critical", "bot"),
        ],
        "the unchanged rule keeps its alert without a new notification"
    );
    let status = e.engine.status();
    assert_eq!(status[0].state, "firing");
    assert_eq!(status[0].matches_total, 1);
    assert_eq!(status[1].matches_total, 0, "a changed rule starts over");
}

#[test]
fn counters_are_written_per_service_level_rule_and_pattern() {
    let (engine, sink) = engine_with(SEED_004, Duration::from_secs(15));
    engine.observe(&[
        line(
            "bot",
            Some(LogLevel::Error),
            "Slow request detected: 1200ms",
            0,
        ),
        line("bot", Some(LogLevel::Error), "boom", 0),
        line("bot", None, "plain", 0),
        line(
            "worker",
            Some(LogLevel::Warning),
            "Slow request detected: 900ms",
            0,
        ),
    ]);
    engine.tick(at(0));
    let show = |samples: Vec<SeriesSample>| {
        let mut v: Vec<String> = samples
            .iter()
            .map(|s| format!("{} {} @{}", s.labels, s.v, s.t - t0().timestamp_millis()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        show(sink.take()),
        vec![
            r#"pharos_log_lines_total{level="ERROR", service="bot"} 2 @0"#,
            r#"pharos_log_lines_total{level="WARNING", service="worker"} 1 @0"#,
            r#"pharos_log_lines_total{service="bot"} 1 @0"#,
            r#"pharos_log_rule_matches_total{pattern="Slow request detected", rule="slow_requests", service="bot"} 1 @0"#,
            r#"pharos_log_rule_matches_total{pattern="Slow request detected", rule="slow_requests", service="worker"} 1 @0"#,
            r#"pharos_log_rule_matches_total{rule="error_burst", service="bot"} 2 @0"#,
        ]
    );
    // Not due again before the interval; then monotonic.
    engine.observe(&[line(
        "bot",
        Some(LogLevel::Error),
        "Slow request detected",
        10,
    )]);
    engine.tick(at(10));
    assert!(sink.take().is_empty());
    engine.tick(at(15));
    let again = show(sink.take());
    assert!(
        again.contains(
            &r#"pharos_log_lines_total{level="ERROR", service="bot"} 3 @15000"#.to_string()
        )
    );
    assert!(again.contains(&r#"pharos_log_rule_matches_total{pattern="Slow request detected", rule="slow_requests", service="bot"} 2 @15000"#.to_string()));

    // A removed rule's series end with a staleness marker.
    engine.set_rules(rules(SEED_004).into_iter().take(3).collect());
    engine.tick(at(30));
    let stale: Vec<String> = sink
        .take()
        .into_iter()
        .filter(|s| is_stale_marker(s.v))
        .map(|s| s.labels.to_string())
        .collect();
    assert_eq!(stale.len(), 2);
    assert!(stale.iter().all(|s| s.contains("slow_requests")));
}

#[test]
fn services_beyond_the_cap_share_one_series() {
    let (engine, sink) = engine_with("[]", Duration::from_secs(15));
    let lines: Vec<LogEntry> = (0..MAX_SERVICES + 5)
        .map(|i| line(&format!("svc{i}"), None, "x", 0))
        .collect();
    engine.observe(&lines);
    engine.tick(at(0));
    let samples = sink.take();
    let lines_series: Vec<&SeriesSample> = samples
        .iter()
        .filter(|s| s.labels.metric_name() == Some(series::LINES_TOTAL))
        .collect();
    assert_eq!(lines_series.len(), MAX_SERVICES + 1);
    let other = lines_series
        .iter()
        .find(|s| s.labels.get("service") == Some(OTHER_SERVICE))
        .unwrap();
    assert_eq!(other.v, 5.0);
}

#[test]
fn open_alerts_from_before_a_restart_are_adopted_or_resolved() {
    let yaml = r#"
- name: forbidden
  kind: forbidden
  patterns: ["Queue full"]
  resolve_after: 1m
- name: burst
  kind: threshold
  max: 10
  per: 2m
"#;
    let before = engine(yaml);
    before.observe(&[line("bot", None, "Queue full", 0)]);
    let mut open: Vec<Alert> = before
        .engine
        .tick(at(0))
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    let mut stray = open[0].clone();
    stray
        .labels
        .insert("pattern".into(), "Removed pattern".into());
    stray.fingerprint = Alert::fingerprint_of(&stray.labels);
    open.push(stray);
    let mut unrelated = open[0].clone();
    unrelated.generator_url = "http://pharos/issues/4".into();
    unrelated
        .labels
        .insert("alertname".into(), "NewIssue".into());
    open.push(unrelated);

    let after = engine(yaml);
    let resolved_now = after.engine.adopt(open, at(100));
    assert_eq!(resolved_now.len(), 1);
    assert_eq!(
        resolved_now[0].0.labels.get("pattern").unwrap(),
        "Removed pattern"
    );
    assert_eq!(resolved_now[0].0.state, AlertState::Resolved);
    // Held for one window from the restart, then resolved without a match.
    assert_eq!(after.tick(101), vec![]);
    assert_eq!(after.engine.status()[0].state, "firing");
    assert_eq!(
        after.tick(160),
        vec![resolved("forbidden", "Queue full", "critical", "bot")]
    );
}

#[test]
fn config_errors_name_the_rule_and_the_field() {
    let e = pharos_model::yaml::from_yaml::<Vec<LogRuleSpec>>(
        "- name: a\n  kind: forbidden\n  patterns: [x]\n  resolve_afer: 1m\n",
    )
    .unwrap_err();
    assert!(e.message.contains("unknown field `resolve_afer`"), "{e:?}");
    assert_eq!(e.line, Some(4));
    let e = pharos_model::yaml::from_yaml::<Vec<LogRuleSpec>>(
        "- name: a\n  kind: forbidden\n  patterns:\n    - pattern: x\n      severty: P0\n",
    )
    .unwrap_err();
    assert!(e.message.contains("unknown field `severty`"), "{e:?}");
    let e = pharos_model::yaml::from_yaml::<Vec<LogRuleSpec>>(
        "- name: a\n  kind: threshold\n  level: LOUD\n",
    )
    .unwrap_err();
    assert!(e.message.contains("unknown level"), "{e:?}");

    assert_eq!(
        rule_error("- name: burst\n  kind: threshold\n  per: 10m\n"),
        "logs.rules[0] (burst): max: required by kind threshold"
    );
    assert_eq!(
        rule_error("- name: a\n  kind: forbidden\n  patterns: [x]\n- name: b\n  kind: rate_limited\n  patterns: ['(?<=a)b']\n  max: 1\n  per: 30s\n")
            .split(" (")
            .take(2)
            .collect::<Vec<_>>()
            .join(" ("),
        "logs.rules[1] (b): patterns[0]: invalid regex \"(?<=a)b\": look-around and backreferences are not supported"
    );
    assert!(
        rule_error(
            "- name: a\n  kind: rate_limited\n  patterns: ['(unclosed']\n  max: 1\n  per: 30s\n"
        )
        .starts_with("logs.rules[0] (a): patterns[0]: invalid regex \"(unclosed\"")
    );
    assert_eq!(
        rule_error("- name: a\n  kind: threshold\n  patterns: [x]\n  max: 1\n  per: 1m\n"),
        "logs.rules[0] (a): patterns: a threshold rule counts every line that passes service/level/logger; to count pattern matches use kind rate_limited"
    );
    assert_eq!(
        rule_error("- name: a\n  kind: forbidden\n  patterns: [x]\n  max: 3\n"),
        "logs.rules[0] (a): max: not used by kind forbidden (remove it)"
    );
    assert_eq!(
        rule_error("- name: a\n  kind: count\n  patterns: [{pattern: x, severity: P0}]\n"),
        "logs.rules[0] (a): patterns[0].severity: not used by kind count, which raises no alerts"
    );
    assert_eq!(
        rule_error("- name: a\n  kind: forbidden\n  patterns: [x, x]\n"),
        "logs.rules[0] (a): patterns[1]: \"x\" is listed twice"
    );
    assert_eq!(
        rule_error("- name: a\n  kind: forbidden\n  patterns: [x]\n  labels: {service: y}\n"),
        "logs.rules[0] (a): labels.service: set by the rule itself (severity has its own field)"
    );
    assert_eq!(
        rule_error("- name: a\n  kind: rate_limited\n  patterns: [x]\n  max: 1\n  per: 0s\n"),
        "logs.rules[0] (a): per: must be between 1s and 24h, not 0s"
    );
    assert_eq!(
        rule_error(
            "- name: a\n  kind: forbidden\n  patterns: [x]\n- name: a\n  kind: count\n  patterns: [y]\n"
        ),
        "logs.rules[1] (a): name: another log rule has this name (it is the alertname)"
    );
}

#[test]
fn a_spec_serialises_back_to_what_loads() {
    let specs = specs(SEED_004);
    let yaml = serde_norway::to_string(&specs).unwrap();
    assert_eq!(
        pharos_model::yaml::from_yaml::<Vec<LogRuleSpec>>(&yaml).unwrap(),
        specs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_stores_alerts_and_counts_lagged_batches() {
    let (engine, _sink) = engine_with(
        "- name: forbidden\n  kind: forbidden\n  patterns: [\"Queue full\"]\n",
        Duration::from_secs(15),
    );
    let (tx, rx) = broadcast::channel::<Arc<Vec<LogEntry>>>(1);
    let now = Utc::now();
    let batch = |m: &str| Arc::new(vec![LogEntry::new("bot", LogSource::Http, now, m)]);
    // The receiver is one batch deep: two of these three are skipped.
    tx.send(batch("nothing")).unwrap();
    tx.send(batch("nothing")).unwrap();
    tx.send(batch("Queue full")).unwrap();
    let task = tokio::spawn(engine.clone().run(rx));
    let store = engine.store.clone();
    let mut stored = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = store.clone();
        stored = tokio::task::spawn_blocking(move || s.list_alerts(None, 10))
            .await
            .unwrap()
            .unwrap();
        if !stored.is_empty() {
            break;
        }
    }
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].alert.name(), "forbidden");
    assert!(stored[0].alert.generator_url.contains("/logs?q="));
    assert_eq!(engine.lagged_batches(), 2);
    drop(tx);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

/// `cargo test -p pharos-evaluate --release log_rules_throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn log_rules_throughput() {
    let (engine, _sink) = engine_with(SEED_004, Duration::from_secs(15));
    let messages = [
        "Webhook received update_id=981273 from chat 5512",
        "Generation completed for user 42 in 1234 ms",
        "User balance checked",
        "GET /health 200 3.1ms",
        "Slow request detected: /webhook took 812ms",
        "External API timeout, retrying in 2s (attempt 2)",
        "Insufficient balance for user 77",
        "Starting generation job 88123 model=flux-dev prompt_len=120",
    ];
    let levels = [
        Some(LogLevel::Info),
        Some(LogLevel::Warning),
        Some(LogLevel::Error),
        None,
    ];
    let services = ["bot", "worker", "api"];
    let batch_size = 1000;
    let batches: Vec<Vec<LogEntry>> = (0..1000)
        .map(|b| {
            (0..batch_size)
                .map(|i| {
                    let n = b * batch_size + i;
                    let mut e = line(
                        services[n % 3],
                        levels[n % 4],
                        messages[n % messages.len()],
                        (n / 10_000) as i64,
                    );
                    e.logger = Some("app.handlers".into());
                    e
                })
                .collect()
        })
        .collect();
    let started = std::time::Instant::now();
    for (i, b) in batches.iter().enumerate() {
        engine.observe(b);
        if i % 10 == 0 {
            engine.tick(at((i / 10) as i64));
        }
    }
    let took = started.elapsed();
    let lines = batches.len() * batch_size;
    println!(
        "log rules: {lines} lines in {:.3} s = {:.0} lines/s (seed 004 rules: 4 rules, 11 patterns)",
        took.as_secs_f64(),
        lines as f64 / took.as_secs_f64()
    );
}
