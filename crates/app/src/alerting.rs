//! Routing, silences and alerts from outside (Alertmanager's API v2, the silences page):
//! the operations over the dispatcher, with who may do what. The dispatcher itself is
//! `pharos_notify::dispatch`.

use pharos_model::access::Permission;
use pharos_notify::dispatch::DispatchError;
use pharos_store::StoreError;

pub use pharos_notify::dispatch::matchers::{matcher, parse_matchers};
pub use pharos_notify::dispatch::silences::op_of;
pub use pharos_notify::dispatch::{AlertView, GroupView, PostedAlert, Silence, SilenceState};
pub use pharos_store::{SilenceMatcher, SilenceRecord};

use crate::{App, AppError, Caller};

impl From<DispatchError> for AppError {
    fn from(e: DispatchError) -> AppError {
        match e {
            DispatchError::Invalid { ref field, .. } => AppError::Invalid {
                field: Some(field.clone()),
                message: e.to_string(),
            },
            DispatchError::Store(s @ (StoreError::NotFound(_) | StoreError::Conflict(_))) => {
                AppError::from(s)
            }
            other => {
                tracing::error!(operation = "alerting", error_type = "store", error = %other, "alerting operation failed");
                AppError::Internal(other.to_string())
            }
        }
    }
}

impl App {
    /// Alerts from outside (a Prometheus, a script): every alert is checked first (one
    /// bad alert refuses them all, as Alertmanager does), then stored and routed.
    pub async fn post_alerts(
        &self,
        caller: &Caller,
        posted: Vec<PostedAlert>,
    ) -> Result<(), AppError> {
        caller.require(Permission::IngestAlerts, "post alerts")?;
        Ok(self.alerting.post_alerts(posted).await?)
    }

    /// Every alert the dispatcher holds, with its muting and receivers.
    pub fn alert_views(&self) -> Vec<AlertView> {
        self.alerting.alerts()
    }

    pub fn alert_groups(&self) -> Vec<GroupView> {
        self.alerting.groups()
    }

    /// The dispatcher's time (which tests move by hand) and every silence.
    pub fn silences(&self) -> (chrono::DateTime<chrono::Utc>, Vec<Silence>) {
        (self.alerting.now(), self.alerting.silences())
    }

    /// Creates or replaces a silence; a silence names who made it and why.
    pub async fn put_silence(
        &self,
        caller: &Caller,
        record: SilenceRecord,
    ) -> Result<String, AppError> {
        caller.require(Permission::Edit, "change silences")?;
        if record.created_by.trim().is_empty() {
            return Err(AppError::invalid_field(
                "createdBy",
                "missing (who made the silence)",
            ));
        }
        if record.comment.trim().is_empty() {
            return Err(AppError::invalid_field(
                "comment",
                "missing (why the silence exists)",
            ));
        }
        Ok(self.alerting.put_silence(record).await?)
    }

    pub async fn expire_silence(&self, caller: &Caller, id: &str) -> Result<(), AppError> {
        caller.require(Permission::Edit, "change silences")?;
        Ok(self.alerting.expire_silence(id).await?)
    }

    /// The routing sections as an `alertmanager.yml`, for `amtool config routes`.
    pub fn routing_config(&self) -> String {
        self.alerting.routing().original.clone()
    }

    /// The receivers routes name.
    pub fn routed_receivers(&self) -> Vec<String> {
        self.alerting.routing().receivers.clone()
    }
}
