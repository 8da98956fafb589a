//! Creating, changing and deleting monitors, whoever asks: the API, the UI's form, and
//! Sentry cron check-ins (which describe heartbeat monitors). Config-file monitors change
//! only in the file; these operations refuse them.

use chrono::Utc;
use pharos_model::{MonitorCheck, MonitorId, MonitorSpec};
use pharos_store::{MonitorRecord, MonitorSource};

use crate::{App, AppError, Caller};

/// The id prefix of the heartbeat monitors a project's cron check-ins create.
pub fn check_in_prefix(project: i64) -> String {
    format!("sentry-{project}-")
}

/// What `caller` may do to the monitor `id`: anything as admin; with a project's key only
/// that project's check-in heartbeats.
fn authorize(caller: &Caller, id: &MonitorId, spec: Option<&MonitorSpec>) -> Result<(), AppError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::ProjectKey { project }
            if id.as_str().starts_with(&check_in_prefix(*project))
                && spec.is_none_or(|s| matches!(s.check, MonitorCheck::Heartbeat(_))) =>
        {
            Ok(())
        }
        _ => Err(AppError::Forbidden(format!(
            "the {caller} may not change monitor {:?}",
            id.as_str()
        ))),
    }
}

impl App {
    /// Creates a monitor and starts it.
    pub async fn create_monitor(
        &self,
        caller: &Caller,
        spec: MonitorSpec,
    ) -> Result<MonitorId, AppError> {
        authorize(caller, &spec.id, Some(&spec))?;
        if let MonitorCheck::Heartbeat(h) = &spec.check
            && h.token.is_some()
        {
            return Err(AppError::invalid_field(
                "heartbeat.token",
                "Pharos makes the ping token for monitors created through the API",
            ));
        }
        let id = spec.id.clone();
        self.with_store(move |s| s.create_monitor(&spec, Utc::now()))
            .await?;
        self.engine.reconcile(std::slice::from_ref(&id)).await?;
        tracing::info!(operation = "monitor_create", monitor = %id, caller = %caller, "monitor created");
        Ok(id)
    }

    /// A monitor made through the API or a check-in; config monitors are a conflict (they
    /// change in the file).
    pub async fn changeable_monitor(&self, id: &MonitorId) -> Result<MonitorRecord, AppError> {
        let id2 = id.clone();
        let rec = self
            .with_store(move |s| s.monitor(&id2))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("monitor {:?}", id.as_str())))?;
        if rec.0.source == MonitorSource::Config {
            return Err(AppError::Conflict(format!(
                "monitor {:?} is defined in the config file; change it there and reload",
                id.as_str()
            )));
        }
        Ok(rec.0)
    }

    /// Stores a changed monitor and restarts it with its state kept.
    pub async fn change_monitor(&self, caller: &Caller, spec: MonitorSpec) -> Result<(), AppError> {
        authorize(caller, &spec.id, Some(&spec))?;
        let id = spec.id.clone();
        self.with_store(move |s| s.update_monitor(&spec, Utc::now()))
            .await?;
        self.engine.reconcile(std::slice::from_ref(&id)).await?;
        tracing::info!(operation = "monitor_update", monitor = %id, caller = %caller, "monitor changed");
        Ok(())
    }

    /// Deletes a monitor with its history and stops it.
    pub async fn delete_monitor(&self, caller: &Caller, id: &MonitorId) -> Result<(), AppError> {
        authorize(caller, id, None)?;
        self.changeable_monitor(id).await?;
        let id2 = id.clone();
        self.with_store(move |s| s.delete_monitor(&id2)).await?;
        self.engine.reconcile(&[]).await?;
        tracing::info!(operation = "monitor_delete", monitor = %id, caller = %caller, "monitor deleted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(id: &str) -> MonitorSpec {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "heartbeat": {"period": "1h"}
        }))
        .unwrap()
    }

    #[test]
    fn a_project_key_may_change_only_its_own_check_in_heartbeats() {
        let own = heartbeat("sentry-7-nightly");
        let other = heartbeat("sentry-8-nightly");
        let key = Caller::ProjectKey { project: 7 };
        assert!(authorize(&key, &own.id, Some(&own)).is_ok());
        assert!(authorize(&key, &other.id, Some(&other)).is_err());
        assert!(authorize(&Caller::AnonymousPing, &own.id, Some(&own)).is_err());
        assert!(authorize(&Caller::Admin, &other.id, Some(&other)).is_ok());
    }
}
