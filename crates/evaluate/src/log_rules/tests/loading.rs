//! Loading `logs.rules`: seed 004's lists as written, errors that name the rule and the
//! field, and a spec that serialises back to what loads.

use super::*;

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
