//! Heartbeat monitors (healthchecks.io style): pings become results, and the absence of a
//! ping past its deadline becomes a down result. Pure functions; the scheduler calls them.

use chrono::{DateTime, Duration, Utc};
use pharos_model::monitor::{HeartbeatCheck, parse_cron};
use pharos_model::{MonitorId, MonitorState, Outcome, PingKind, ProbeResult};
use pharos_store::MonitorStatus;

fn grace(check: &HeartbeatCheck) -> Duration {
    Duration::from_std(check.grace.as_duration()).unwrap_or(Duration::zero())
}

/// When the next ping is due after `after`, without grace.
fn next_expected(check: &HeartbeatCheck, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(period) = check.period {
        return Some(after + Duration::from_std(period.as_duration()).ok()?);
    }
    let cron = parse_cron(check.schedule.as_deref()?).ok()?;
    let tz: chrono_tz::Tz = check.timezone.parse().ok()?;
    let next = cron
        .find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()?;
    Some(next.with_timezone(&Utc))
}

/// When the monitor becomes overdue: `None` while it has never pinged (a new heartbeat
/// waits for its first ping without alerting) or while the schedule cannot be computed.
pub fn deadline(check: &HeartbeatCheck, status: &MonitorStatus) -> Option<DateTime<Utc>> {
    let last_ping = status.last_ping_at;
    if let Some(start) = status.last_start_at
        && last_ping.is_none_or(|p| p < start)
    {
        return Some(start + grace(check));
    }
    let last_ping = last_ping?;
    let mut due = next_expected(check, last_ping)? + grace(check);
    // Already reported overdue: the next missed-ping result is one period later.
    if status.state == MonitorState::Down
        && status.last_outcome.as_deref() == Some("down")
        && let Some(checked) = status.last_check_at.filter(|c| *c >= due)
    {
        due = next_expected(check, checked)?.max(checked + Duration::seconds(1));
    }
    Some(due)
}

/// The result a ping stands for; `None` for `/start`, which only opens a run.
pub fn ping_result(
    monitor: &MonitorId,
    kind: PingKind,
    status: &MonitorStatus,
    now: DateTime<Utc>,
    message: Option<String>,
) -> Option<ProbeResult> {
    let (outcome, error) = match kind {
        PingKind::Start => return None,
        PingKind::Success | PingKind::ExitCode(0) => (Outcome::Up, None),
        PingKind::Fail => (
            Outcome::Down,
            Some("the job reported failure (/fail)".to_string()),
        ),
        PingKind::ExitCode(code) => (
            Outcome::Down,
            Some(format!("the job exited with code {code}")),
        ),
    };
    let error = match (error, message) {
        (Some(e), Some(m)) => Some(format!("{e}: {m}")),
        (e, _) => e,
    };
    // With a /start before it, the latency is how long the job ran.
    let run_ms = status
        .last_start_at
        .filter(|s| status.last_ping_at.is_none_or(|p| p < *s))
        .map(|s| (now - s).num_milliseconds() as f64);
    Some(ProbeResult {
        monitor: monitor.clone(),
        at: now,
        outcome,
        latency_ms: run_ms,
        status_code: None,
        error,
        tls_days_left: None,
        numbers: Vec::new(),
    })
}

/// The down result for a missed deadline.
pub fn overdue_result(
    monitor: &MonitorId,
    check: &HeartbeatCheck,
    status: &MonitorStatus,
    now: DateTime<Utc>,
) -> ProbeResult {
    let started = status
        .last_start_at
        .filter(|s| status.last_ping_at.is_none_or(|p| p < *s));
    let error = match (started, status.last_ping_at) {
        (Some(s), _) => format!(
            "started at {} but did not finish within the grace time of {}",
            s.to_rfc3339(),
            check.grace
        ),
        (None, Some(p)) => {
            let expected = match (&check.schedule, check.period) {
                (Some(s), _) => format!("on schedule {s} ({})", check.timezone),
                (None, Some(p)) => format!("every {p}"),
                (None, None) => String::new(),
            };
            format!(
                "no ping since {} (expected {expected}, grace {})",
                p.to_rfc3339(),
                check.grace
            )
        }
        (None, None) => "no ping received yet".to_string(),
    };
    ProbeResult {
        monitor: monitor.clone(),
        at: now,
        outcome: Outcome::Down,
        latency_ms: None,
        status_code: None,
        error: Some(error),
        tls_days_left: None,
        numbers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> HeartbeatCheck {
        serde_json::from_str(json).unwrap()
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::seconds(secs)
    }

    #[test]
    fn seed_004_lock_heartbeat_every_30s_alert_after_60s() {
        let c = check(r#"{"period": "30s", "grace": "30s"}"#);
        let mut s = MonitorStatus::new("lock".parse().unwrap(), t(0));
        assert_eq!(
            deadline(&c, &s),
            None,
            "a new heartbeat waits for its first ping"
        );
        s.last_ping_at = Some(t(100));
        assert_eq!(deadline(&c, &s), Some(t(160)));
    }

    #[test]
    fn a_started_job_must_finish_within_grace() {
        let c = check(r#"{"period": "1h", "grace": "5m"}"#);
        let mut s = MonitorStatus::new("job".parse().unwrap(), t(0));
        s.last_ping_at = Some(t(0));
        s.last_start_at = Some(t(1000));
        assert_eq!(deadline(&c, &s), Some(t(1300)));
        let r = ping_result(&s.monitor, PingKind::Success, &s, t(1060), None).unwrap();
        assert_eq!(r.latency_ms, Some(60_000.0));
    }

    #[test]
    fn cron_schedule_in_a_time_zone() {
        // Daily at 02:00 in Berlin (UTC+1 in January) is 01:00 UTC.
        let c = check(r#"{"schedule": "0 2 * * *", "timezone": "Europe/Berlin", "grace": "10m"}"#);
        let mut s = MonitorStatus::new("backup".parse().unwrap(), t(0));
        let jan_1_noon = "2026-01-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        s.last_ping_at = Some(jan_1_noon);
        assert_eq!(
            deadline(&c, &s),
            Some("2026-01-02T01:10:00Z".parse().unwrap())
        );
    }

    #[test]
    fn exit_codes() {
        let s = MonitorStatus::new("job".parse().unwrap(), t(0));
        assert_eq!(
            ping_result(&s.monitor, PingKind::ExitCode(0), &s, t(1), None)
                .unwrap()
                .outcome,
            Outcome::Up
        );
        let r = ping_result(
            &s.monitor,
            PingKind::ExitCode(2),
            &s,
            t(1),
            Some("disk full".into()),
        )
        .unwrap();
        assert_eq!(r.outcome, Outcome::Down);
        assert_eq!(
            r.error.as_deref(),
            Some("the job exited with code 2: disk full")
        );
        assert!(ping_result(&s.monitor, PingKind::Start, &s, t(1), None).is_none());
    }

    #[test]
    fn overdue_repeats_once_per_period() {
        let c = check(r#"{"period": "30s", "grace": "30s"}"#);
        let mut s = MonitorStatus::new("lock".parse().unwrap(), t(0));
        s.last_ping_at = Some(t(0));
        s.state = MonitorState::Down;
        s.last_outcome = Some("down".into());
        s.last_check_at = Some(t(60));
        assert_eq!(deadline(&c, &s), Some(t(90)));
    }
}
