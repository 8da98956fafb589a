//! Forbidden patterns: firing on the first match, resolving after a quiet `resolve_after`,
//! one alert per pattern and service, and the service / level / logger filters.

use super::*;

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
