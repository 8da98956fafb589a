//! Maintenance windows: while one is active, monitors check and record but do not alert.
//! Windows from the config file change there; those made through the API are stored.

use chrono::Utc;
use pharos_model::access::Permission;
use pharos_model::maintenance::MaintenanceWindow;
use serde::Serialize;

use crate::{App, AppError, Caller};

#[derive(Serialize)]
pub struct WindowView {
    /// `null` for windows from the config file, which are changed there.
    pub id: Option<i64>,
    #[serde(flatten)]
    pub window: MaintenanceWindow,
    pub active: bool,
}

impl App {
    /// The windows not yet over: the config file's, then the stored ones.
    pub async fn maintenance_windows(&self) -> Result<Vec<WindowView>, AppError> {
        let now = Utc::now();
        let stored = self.with_store(move |s| s.maintenance_windows(now)).await?;
        let mut windows: Vec<WindowView> = self
            .engine
            .config_maintenance()
            .into_iter()
            .filter(|w| w.ends_at > now)
            .map(|w| WindowView {
                id: None,
                active: w.starts_at <= now,
                window: w,
            })
            .collect();
        windows.extend(stored.into_iter().map(|(id, w)| WindowView {
            id: Some(id),
            active: w.starts_at <= now,
            window: w,
        }));
        Ok(windows)
    }

    pub async fn create_maintenance(
        &self,
        caller: &Caller,
        w: MaintenanceWindow,
    ) -> Result<WindowView, AppError> {
        caller.require(Permission::Edit, "change maintenance windows")?;
        w.validate().map_err(|e| AppError::invalid(e.to_string()))?;
        let w2 = w.clone();
        let id = self.with_store(move |s| s.create_maintenance(&w2)).await?;
        self.engine.refresh_maintenance().await?;
        tracing::info!(operation = "maintenance_create", maintenance = id, caller = %caller, "maintenance window created");
        let now = Utc::now();
        Ok(WindowView {
            id: Some(id),
            active: w.starts_at <= now && now < w.ends_at,
            window: w,
        })
    }

    pub async fn delete_maintenance(&self, caller: &Caller, id: i64) -> Result<(), AppError> {
        caller.require(Permission::Edit, "change maintenance windows")?;
        self.with_store(move |s| s.delete_maintenance(id)).await?;
        self.engine.refresh_maintenance().await?;
        Ok(())
    }
}
