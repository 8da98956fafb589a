//! Level thresholds: more than `max` lines at or above a level in a sliding window.

use super::*;

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
