//! Maintenance windows: times during which chosen monitors keep checking and recording
//! but raise no alerts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ModelError;
use crate::monitor::MonitorId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    pub name: String,
    /// Monitors covered; empty means every monitor.
    #[serde(default)]
    pub monitors: Vec<MonitorId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl MaintenanceWindow {
    pub fn covers(&self, monitor: &MonitorId, at: DateTime<Utc>) -> bool {
        at >= self.starts_at
            && at < self.ends_at
            && (self.monitors.is_empty() || self.monitors.contains(monitor))
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        if self.name.trim().is_empty() {
            return Err(ModelError::WindowWithoutName);
        }
        if self.ends_at <= self.starts_at {
            return Err(ModelError::WindowEndsFirst);
        }
        Ok(())
    }
}
