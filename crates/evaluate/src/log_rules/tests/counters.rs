//! The series written to the metrics store: lines per service and level, matches per rule
//! and pattern, the cap on services, and staleness when a rule goes.

use pharos_model::series::is_stale_marker;

use super::*;

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
