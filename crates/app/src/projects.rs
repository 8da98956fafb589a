//! Error-tracking projects and their DSN keys: creating, changing and deleting projects,
//! adding and revoking keys (the key directory ingest checks is refreshed after each
//! change), and what a project's page and API show (release health, SDK client reports,
//! SDK logs).

use chrono::{DateTime, Duration, Utc};
use pharos_model::HumanDuration;
use pharos_model::inbound_filters::InboundFilters;
use pharos_model::project::{ErrorAlertSettings, ProjectLimits, ProjectSettings, validate_name};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use pharos_store::errors::{ClientReportRow, Project, ProjectSource, ReleaseHealth};

use crate::document::{merge_patch, parse_json};
use crate::{App, AppError, Caller};

/// How far back release health looks.
const RELEASE_WINDOW_DAYS: i64 = 90;
/// SDK log records shown per project.
const SDK_LOGS_SHOWN: u32 = 200;

#[derive(Serialize)]
pub struct KeyView {
    pub public_key: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// What to set `SENTRY_DSN` to.
    pub dsn: String,
}

#[derive(Serialize)]
pub struct ProjectView {
    pub id: i64,
    pub name: String,
    pub platform: Option<String>,
    pub source: ProjectSource,
    /// The DSN of the first active key.
    pub dsn: Option<String>,
    /// Where an OpenTelemetry exporter sends this project's spans (OTLP/HTTP), with a key in
    /// `X-Sentry-Auth: sentry sentry_key=<key>`.
    pub otlp_traces_endpoint: String,
    pub keys: Vec<KeyView>,
    #[serde(flatten)]
    pub settings: ProjectSettings,
    pub created_at: DateTime<Utc>,
    /// What the project uses of its limits (on the single project's answer and page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ProjectUsage>,
}

/// What a project uses of its disk budget and check-in monitors.
#[derive(Serialize, Clone, Debug)]
pub struct ProjectUsage {
    /// Bytes its stored event payloads (compressed) and attachments take.
    pub disk_used_bytes: u64,
    /// `limits.disk_budget_mb` in bytes; 0 for none.
    pub disk_budget_bytes: u64,
    /// Heartbeat monitors its check-ins have created.
    pub check_in_monitors: u64,
}

/// `http://<key>@<host:port>[/prefix]/<project>` from Pharos's external URL.
pub fn dsn(external_url: &str, key: &str, project: i64) -> String {
    match url::Url::parse(external_url) {
        Ok(mut u) => {
            let _ = u.set_username(key);
            let prefix = u.path().trim_end_matches('/').to_string();
            u.set_path(&format!("{prefix}/{project}"));
            u.set_query(None);
            u.to_string()
        }
        Err(_) => format!("http://{key}@127.0.0.1:9800/{project}"),
    }
}

impl ProjectView {
    /// The project with each key's DSN under `external_url`.
    pub fn new(p: Project, external_url: &str) -> ProjectView {
        let keys: Vec<KeyView> = p
            .keys
            .into_iter()
            .map(|k| KeyView {
                dsn: dsn(external_url, &k.public_key, p.id),
                public_key: k.public_key,
                label: k.label,
                created_at: k.created_at,
                revoked_at: k.revoked_at,
            })
            .collect();
        ProjectView {
            otlp_traces_endpoint: format!(
                "{}/api/{}/integration/otlp/v1/traces/",
                external_url.trim_end_matches('/'),
                p.id
            ),
            id: p.id,
            name: p.name,
            platform: p.platform,
            source: p.source,
            dsn: keys
                .iter()
                .find(|k| k.revoked_at.is_none())
                .map(|k| k.dsn.clone()),
            keys,
            settings: p.settings,
            created_at: p.created_at,
            usage: None,
        }
    }
}

/// A project as the API creates and patches it.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default = "ProjectSettings::default_retention")]
    pub retention: HumanDuration,
    #[serde(default = "ProjectSettings::default_rate_limit")]
    pub rate_limit: u32,
    #[serde(default)]
    pub limits: ProjectLimits,
    #[serde(default)]
    pub alerts: ErrorAlertSettings,
    /// Events not to store, by environment, release (glob) or error message (glob or
    /// `re:` regex).
    #[serde(default)]
    pub filters: InboundFilters,
}

impl NewProject {
    pub fn named(name: String, platform: Option<String>) -> NewProject {
        let d = ProjectSettings::default();
        NewProject {
            name,
            platform,
            retention: d.retention,
            rate_limit: d.rate_limit,
            limits: d.limits,
            alerts: d.alerts,
            filters: d.filters,
        }
    }

    fn settings(&self) -> ProjectSettings {
        ProjectSettings {
            retention: self.retention,
            rate_limit: self.rate_limit,
            limits: self.limits.clone(),
            alerts: self.alerts.clone(),
            filters: self.filters.clone(),
        }
    }
}

impl App {
    pub async fn projects(&self) -> Result<Vec<Project>, AppError> {
        self.with_store(|s| s.errors().projects()).await
    }

    pub async fn project(&self, id: i64) -> Result<Project, AppError> {
        self.with_store(move |s| s.errors().project(id)).await
    }

    /// What the project uses of its disk budget and check-in monitors, measured now.
    pub async fn project_usage(&self, p: &Project) -> Result<ProjectUsage, AppError> {
        let prefix = crate::monitors::check_in_prefix(p.id);
        let check_in_monitors = self
            .with_store(move |s| s.count_monitors_with_id_prefix(&prefix))
            .await?;
        Ok(ProjectUsage {
            disk_used_bytes: self.stored_payload_bytes(p.id).await?,
            disk_budget_bytes: p.settings.limits.disk_budget_mb.saturating_mul(1024 * 1024),
            check_in_monitors,
        })
    }

    pub async fn create_project(
        &self,
        caller: &Caller,
        p: NewProject,
    ) -> Result<Project, AppError> {
        caller.require_admin("create projects")?;
        validate_name(&p.name).map_err(|e| AppError::invalid_field("name", e))?;
        let id = self
            .with_store(move |s| {
                s.errors().create_project(
                    p.name.trim(),
                    p.platform.as_deref(),
                    &p.settings(),
                    Utc::now(),
                )
            })
            .await?;
        self.refresh_projects().await?;
        tracing::info!(operation = "project_create", project = id, caller = %caller, "project created");
        self.project(id).await
    }

    /// A JSON merge patch over `{name, platform, retention, rate_limit, limits, alerts,
    /// filters}`; config
    /// projects change only in the file.
    pub async fn patch_project(
        &self,
        caller: &Caller,
        id: i64,
        body: &[u8],
    ) -> Result<Project, AppError> {
        caller.require_admin("change projects")?;
        let current = self.project(id).await?;
        if current.source == ProjectSource::Config {
            return Err(AppError::Conflict(format!(
                "project {id} is defined in the config file; change it there and reload"
            )));
        }
        let patch: Value = parse_json(body)?;
        let mut doc = serde_json::to_value(NewProject {
            name: current.name,
            platform: current.platform,
            retention: current.settings.retention,
            rate_limit: current.settings.rate_limit,
            limits: current.settings.limits,
            alerts: current.settings.alerts,
            filters: current.settings.filters,
        })
        .map_err(|e| AppError::Internal(e.to_string()))?;
        merge_patch(&mut doc, &patch);
        let next: NewProject = parse_json(doc.to_string().as_bytes())?;
        validate_name(&next.name).map_err(|e| AppError::invalid_field("name", e))?;
        self.with_store(move |s| {
            s.errors().update_project(
                id,
                next.name.trim(),
                next.platform.as_deref(),
                &next.settings(),
            )
        })
        .await?;
        self.refresh_projects().await?;
        self.project(id).await
    }

    pub async fn delete_project(&self, caller: &Caller, id: i64) -> Result<(), AppError> {
        caller.require_admin("delete projects")?;
        self.with_store(move |s| s.errors().delete_project(id))
            .await?;
        self.refresh_projects().await?;
        tracing::info!(operation = "project_delete", project = id, caller = %caller, "project deleted");
        Ok(())
    }

    /// A new DSN key for the project; returns its public key.
    pub async fn add_project_key(
        &self,
        caller: &Caller,
        id: i64,
        label: Option<String>,
    ) -> Result<String, AppError> {
        caller.require_admin("add project keys")?;
        let key = self
            .with_store(move |s| s.errors().add_key(id, label.as_deref(), Utc::now()))
            .await?;
        self.refresh_projects().await?;
        Ok(key)
    }

    /// Revokes a key: SDKs still using it are refused from now on.
    pub async fn revoke_project_key(
        &self,
        caller: &Caller,
        id: i64,
        key: String,
    ) -> Result<(), AppError> {
        caller.require_admin("revoke project keys")?;
        self.with_store(move |s| s.errors().revoke_key(id, &key, Utc::now()))
            .await?;
        self.refresh_projects().await?;
        tracing::info!(operation = "key_revoke", project = id, caller = %caller, "project key revoked");
        Ok(())
    }

    pub async fn release_health(&self, id: i64) -> Result<Vec<ReleaseHealth>, AppError> {
        let since = Utc::now() - Duration::days(RELEASE_WINDOW_DAYS);
        self.with_store(move |s| s.errors().release_health(id, since))
            .await
    }

    pub async fn client_reports(&self, id: i64) -> Result<Vec<ClientReportRow>, AppError> {
        self.with_store(move |s| s.errors().client_reports(id))
            .await
    }

    pub async fn sdk_logs(&self, id: i64) -> Result<Vec<Value>, AppError> {
        self.with_store(move |s| s.errors().sentry_logs(id, SDK_LOGS_SHOWN))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::dsn;

    #[test]
    fn dsn_from_the_external_url() {
        assert_eq!(
            dsn("http://127.0.0.1:9800", "abc", 42),
            "http://abc@127.0.0.1:9800/42"
        );
        assert_eq!(
            dsn("https://pharos.example.com/mon/", "abc", 7),
            "https://abc@pharos.example.com/mon/7"
        );
    }
}
