//! Cron check-ins (`sentry_sdk.crons`, `@monitor`) drive a heartbeat monitor: the first
//! check-in that carries a `monitor_config` creates it (`sentry-<project>-<slug>`), later
//! ones update its schedule; `in_progress` is a start ping, `ok` a success, `error` a
//! failure. Since the key that sends them is public, a slug must be one Sentry would make
//! (lowercase letters, digits, `-`, `_`, at most 50) and a project's check-ins create no
//! more than its `limits.check_in_monitors`; beyond that a check-in is dropped and counted
//! (the SDK still gets its usual answer, as from Sentry).

use pharos_ingest::sentry::{CheckIn, CheckInSchedule, CheckInStatus};
use pharos_model::{MonitorCheck, MonitorId, MonitorSpec, PingKind};
use serde_json::json;

use super::directory::ProjectInfo;
use crate::monitors::check_in_prefix;
use crate::{App, Caller};

/// The longest monitor slug Sentry accepts.
pub const MAX_SLUG_LEN: usize = 50;

/// What became of one check-in, as counted in `pharos_sentry_items_total{type="check_in"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckInOutcome {
    Accepted,
    /// A slug Sentry would not make, or a `monitor_config` that is no heartbeat.
    Invalid,
    /// It would have created a monitor beyond the project's `check_in_monitors`.
    MonitorLimit,
    /// For a monitor that does not exist, without a `monitor_config` to create it.
    UnknownMonitor,
}

impl CheckInOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckInOutcome::Accepted => "accepted",
            CheckInOutcome::Invalid => "invalid",
            CheckInOutcome::MonitorLimit => "monitor_limit",
            CheckInOutcome::UnknownMonitor => "unknown_monitor",
        }
    }
}

/// Sentry's slug rules: lowercase ASCII letters, digits, `-` and `_`, 1 to 50 of them.
pub fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub fn monitor_id(project: i64, slug: &str) -> Option<MonitorId> {
    MonitorId::from_name(&format!("{}{slug}", check_in_prefix(project)))
}

/// The heartbeat monitor a check-in's `monitor_config` describes.
fn spec_for(
    project: &ProjectInfo,
    id: &MonitorId,
    c: &CheckIn,
) -> Option<Result<MonitorSpec, String>> {
    let cfg = c.config.as_ref()?;
    let margin = cfg.checkin_margin_min.unwrap_or(1).max(1);
    let mut heartbeat = json!({ "grace": format!("{margin}m") });
    match &cfg.schedule {
        CheckInSchedule::Crontab(expr) => {
            heartbeat["schedule"] = json!(expr);
            heartbeat["timezone"] = json!(cfg.timezone.clone().unwrap_or_else(|| "UTC".into()));
        }
        CheckInSchedule::Interval { seconds } => heartbeat["period"] = json!(format!("{seconds}s")),
    }
    let raw = json!({
        "id": id.as_str(),
        "name": format!("{} / {}", project.name, c.monitor_slug),
        "heartbeat": heartbeat,
        "description": format!("Sentry cron monitor {:?} of project {}", c.monitor_slug, project.name),
        "labels": {"project": project.name, "source": "sentry-crons"},
    });
    Some(serde_json::from_value(raw).map_err(|e| e.to_string()))
}

impl App {
    /// Creates or updates the check-in's heartbeat monitor, then records the check-in as a
    /// ping of it.
    pub(crate) async fn apply_check_in(
        &self,
        caller: &Caller,
        project: &ProjectInfo,
        c: CheckIn,
    ) -> CheckInOutcome {
        let id = match monitor_id(project.id, &c.monitor_slug) {
            Some(id) if valid_slug(&c.monitor_slug) => id,
            _ => {
                tracing::debug!(
                    operation = "check_in",
                    project = project.id,
                    error_type = "invalid",
                    "check-in dropped: its monitor slug is not lowercase letters, digits, '-' and '_' (at most 50)"
                );
                return CheckInOutcome::Invalid;
            }
        };
        // Held from counting to creating, so concurrent check-ins cannot pass the cap.
        let creating = self.errors.check_in_monitors.lock().await;
        let existing = {
            let id = id.clone();
            self.with_store(move |s| s.monitor(&id))
                .await
                .ok()
                .flatten()
        };
        match (existing, spec_for(project, &id, &c)) {
            (_, Some(Err(e))) => {
                tracing::warn!(operation = "check_in", monitor = %id, error_type = "invalid", error = %e, "check-in monitor_config refused");
            }
            (None, Some(Ok(spec))) => {
                let prefix = check_in_prefix(project.id);
                let made = self
                    .with_store(move |s| s.count_monitors_with_id_prefix(&prefix))
                    .await
                    .unwrap_or(u64::MAX);
                if made >= u64::from(project.limits.check_in_monitors) {
                    // Counted, and shown on the project page; a line each would let the
                    // public key flood the log.
                    tracing::debug!(
                        operation = "check_in",
                        project = project.id,
                        error_type = "monitor_limit",
                        limit = project.limits.check_in_monitors,
                        "check-in dropped: the project's check-ins have created as many monitors as limits.check_in_monitors allows"
                    );
                    return CheckInOutcome::MonitorLimit;
                }
                if let Err(e) = self.create_monitor(caller, spec).await {
                    tracing::warn!(operation = "check_in", monitor = %id, error = %e, "cannot create the check-in monitor");
                    return CheckInOutcome::Invalid;
                }
            }
            (Some((record, _)), Some(Ok(spec))) => {
                let changed = match (&record.spec.check, &spec.check) {
                    (MonitorCheck::Heartbeat(a), MonitorCheck::Heartbeat(b)) => {
                        a.schedule != b.schedule
                            || a.period != b.period
                            || a.grace != b.grace
                            || a.timezone != b.timezone
                    }
                    _ => false,
                };
                if changed && let Err(e) = self.change_monitor(caller, spec).await {
                    tracing::warn!(operation = "check_in", monitor = %id, error = %e, "cannot update the check-in monitor");
                }
            }
            (None, None) => {
                // Sentry also ignores check-ins for monitors it does not know and that bring no
                // config to create them from.
                tracing::debug!(operation = "check_in", monitor = %id, "check-in for an unknown monitor without monitor_config");
                return CheckInOutcome::UnknownMonitor;
            }
            (Some(_), None) => {}
        }
        drop(creating);
        let Some(token) = self.engine.heartbeat_token(&id) else {
            return CheckInOutcome::UnknownMonitor;
        };
        let kind = match c.status {
            CheckInStatus::InProgress => PingKind::Start,
            CheckInStatus::Ok => PingKind::Success,
            CheckInStatus::Error => PingKind::Fail,
        };
        let message = c
            .duration_s
            .map(|d| format!("check-in {:?} after {d:.3}s", c.status));
        if let Err(e) = self.engine.ping(&token, kind, message).await {
            tracing::warn!(operation = "check_in", monitor = %id, error = ?e, "check-in not recorded");
        }
        CheckInOutcome::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_sentrys_rules() {
        for ok in ["nightly-backup", "job_1", "a", &"x".repeat(50)] {
            assert!(valid_slug(ok), "{ok}");
        }
        for bad in [
            "",
            "WE GOT HACKED visit evil.example",
            "Nightly",
            "job.1",
            "job/1",
            &"x".repeat(51),
            "ünïcode",
        ] {
            assert!(!valid_slug(bad), "{bad}");
        }
    }
}
