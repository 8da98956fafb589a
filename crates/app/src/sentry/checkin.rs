//! Cron check-ins (`sentry_sdk.crons`, `@monitor`) drive a heartbeat monitor: the first
//! check-in that carries a `monitor_config` creates it (`sentry-<project>-<slug>`), later
//! ones update its schedule; `in_progress` is a start ping, `ok` a success, `error` a
//! failure.

use pharos_ingest::sentry::{CheckIn, CheckInSchedule, CheckInStatus};
use pharos_model::{MonitorCheck, MonitorId, MonitorSpec, PingKind};
use serde_json::json;

use super::directory::ProjectInfo;
use crate::monitors::check_in_prefix;
use crate::{App, Caller};

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
    pub(crate) async fn apply_check_in(&self, caller: &Caller, project: &ProjectInfo, c: CheckIn) {
        let Some(id) = monitor_id(project.id, &c.monitor_slug) else {
            tracing::warn!(
                operation = "check_in",
                error_type = "invalid",
                "check-in monitor slug cannot be a monitor id"
            );
            return;
        };
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
                if let Err(e) = self.create_monitor(caller, spec).await {
                    tracing::warn!(operation = "check_in", monitor = %id, error = %e, "cannot create the check-in monitor");
                    return;
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
                return;
            }
            (Some(_), None) => {}
        }
        let Some(token) = self.engine.heartbeat_token(&id) else {
            return;
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
    }
}
