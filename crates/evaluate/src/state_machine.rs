//! The monitor state machine: how a sequence of check results becomes up, degraded or
//! down, honouring `failures_before_down`, `down_after` and `successes_before_up`.
//! Pure: no clock, no I/O, so every rule is tested directly.

use pharos_model::{MonitorSpec, MonitorState, Outcome, ProbeResult};
use pharos_store::MonitorStatus;

/// Folds one result into the status; returns the previous state when the state changed.
pub fn apply(
    spec: &MonitorSpec,
    status: &mut MonitorStatus,
    result: &ProbeResult,
) -> Option<MonitorState> {
    let before = status.state;
    status.last_check_at = Some(result.at);
    status.last_outcome = Some(result.outcome.as_str().to_string());
    status.last_latency_ms = result.latency_ms;
    status.last_error = result.error.clone();

    if result.outcome.is_up() {
        status.consecutive_successes = status.consecutive_successes.saturating_add(1);
        status.consecutive_failures = 0;
        status.failing_since = None;
        let target = if result.outcome == Outcome::Degraded {
            MonitorState::Degraded
        } else {
            MonitorState::Up
        };
        let recovered = before != MonitorState::Down
            || status.consecutive_successes >= spec.successes_before_up;
        if recovered {
            status.state = target;
        }
    } else {
        status.consecutive_failures = status.consecutive_failures.saturating_add(1);
        status.consecutive_successes = 0;
        let since = *status.failing_since.get_or_insert(result.at);
        let enough_failures = status.consecutive_failures >= spec.failures_before_down;
        let long_enough = spec.down_after.is_none_or(|d| {
            result
                .at
                .signed_duration_since(since)
                .to_std()
                .unwrap_or_default()
                >= d.as_duration()
        });
        if enough_failures && long_enough {
            status.state = MonitorState::Down;
        }
    }
    if status.state != before {
        status.state_since = result.at;
        Some(before)
    } else {
        None
    }
}

/// Failing but not yet down: the alert is pending.
pub fn is_failing(status: &MonitorStatus) -> bool {
    status.state != MonitorState::Down && status.consecutive_failures > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn spec(extra: &str) -> MonitorSpec {
        serde_json::from_str(&format!(
            r#"{{"name": "api", "http": {{"url": "http://127.0.0.1:1"}} {extra}}}"#
        ))
        .unwrap()
    }

    fn result(outcome: Outcome, secs: i64) -> ProbeResult {
        ProbeResult {
            monitor: "api".parse().unwrap(),
            at: chrono::DateTime::UNIX_EPOCH + Duration::seconds(secs),
            outcome,
            latency_ms: Some(1.0),
            status_code: None,
            error: None,
            tls_days_left: None,
            numbers: vec![],
        }
    }

    fn run(spec: &MonitorSpec, outcomes: &[(Outcome, i64)]) -> Vec<MonitorState> {
        let mut status = MonitorStatus::new("api".parse().unwrap(), Utc::now());
        outcomes
            .iter()
            .map(|(o, t)| {
                apply(spec, &mut status, &result(*o, *t));
                status.state
            })
            .collect()
    }

    use MonitorState::*;
    use Outcome as O;

    #[test]
    fn seed_004_three_failures_before_down() {
        let s = spec(r#", "failures_before_down": 3"#);
        let states = run(
            &s,
            &[
                (O::Up, 0),
                (O::Down, 60),
                (O::Down, 120),
                (O::Down, 180),
                (O::Up, 240),
            ],
        );
        assert_eq!(states, vec![Up, Up, Up, Down, Up]);
    }

    #[test]
    fn seed_001_down_for_two_minutes() {
        let s = spec(r#", "down_after": "2m""#);
        let states = run(
            &s,
            &[(O::Down, 0), (O::Down, 60), (O::Down, 119), (O::Down, 120)],
        );
        assert_eq!(states, vec![Unknown, Unknown, Unknown, Down]);
    }

    #[test]
    fn successes_before_up() {
        let s = spec(r#", "successes_before_up": 2"#);
        let states = run(
            &s,
            &[
                (O::Down, 0),
                (O::Up, 1),
                (O::Down, 2),
                (O::Up, 3),
                (O::Up, 4),
            ],
        );
        assert_eq!(states, vec![Down, Down, Down, Down, Up]);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let s = spec(r#", "failures_before_down": 2"#);
        let states = run(
            &s,
            &[
                (O::Up, 0),
                (O::Down, 1),
                (O::Up, 2),
                (O::Down, 3),
                (O::Down, 4),
            ],
        );
        assert_eq!(states, vec![Up, Up, Up, Up, Down]);
    }

    #[test]
    fn degraded_is_its_own_state() {
        let s = spec("");
        let states = run(&s, &[(O::Up, 0), (O::Degraded, 1), (O::Up, 2)]);
        assert_eq!(states, vec![Up, Degraded, Up]);
    }
}
