//! Rate-limited patterns: firing while more than `max` matches are in the window, and
//! what their alerts say and link to.

use super::*;

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
