//! Error-tracking projects: what a DSN points at, and the per-project settings (retention,
//! quota, alerts) that the config file and the API share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::inbound_filters::InboundFilters;
use crate::{HumanDuration, ModelError};

/// A project as written in `pharos.yaml` (`projects:`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    /// The number at the end of the DSN (`http://<key>@host:9800/<id>`).
    pub id: u64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Public keys (the DSN's user part). One is generated and kept when none is given.
    #[serde(default)]
    pub keys: Vec<ProjectKeySpec>,
    /// How long event payloads are kept; counts are kept regardless.
    #[serde(default = "default_retention")]
    pub retention: HumanDuration,
    /// Events accepted per minute before SDKs get 429 (0 = no quota).
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
    #[serde(default)]
    pub limits: ProjectLimits,
    #[serde(default)]
    pub alerts: ErrorAlertSettings,
    /// Events not to store: by environment, release or error message.
    #[serde(default, skip_serializing_if = "InboundFilters::is_empty")]
    pub filters: InboundFilters,
}

/// A key as written: a bare string, or `{key, label, revoked}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProjectKeySpec {
    Key(String),
    Full {
        key: String,
        #[serde(default)]
        label: Option<String>,
        #[serde(default)]
        revoked: bool,
    },
}

impl ProjectKeySpec {
    pub fn key(&self) -> &str {
        match self {
            ProjectKeySpec::Key(k) | ProjectKeySpec::Full { key: k, .. } => k,
        }
    }
    pub fn revoked(&self) -> bool {
        matches!(self, ProjectKeySpec::Full { revoked: true, .. })
    }
    pub fn label(&self) -> Option<&str> {
        match self {
            ProjectKeySpec::Full { label, .. } => label.as_deref(),
            ProjectKeySpec::Key(_) => None,
        }
    }
}

/// Settings a project has whether it came from the config or the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// How long event payloads are kept; counts are kept regardless.
    #[serde(default = "default_retention")]
    pub retention: HumanDuration,
    /// Events accepted per minute before SDKs get 429 (0 = no quota).
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
    #[serde(default)]
    pub limits: ProjectLimits,
    #[serde(default)]
    pub alerts: ErrorAlertSettings,
    #[serde(default, skip_serializing_if = "InboundFilters::is_empty")]
    pub filters: InboundFilters,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            retention: default_retention(),
            rate_limit: default_rate_limit(),
            limits: ProjectLimits::default(),
            alerts: ErrorAlertSettings::default(),
            filters: InboundFilters::default(),
        }
    }
}

/// What a project's public key (shipped in apps, so public) can make Pharos keep, beside
/// the error events of `rate_limit`. Quotas are per minute; 0 means none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectLimits {
    /// Transactions (and their spans) accepted per minute.
    pub transactions_per_minute: u32,
    /// Session updates and session aggregates accepted per minute.
    pub sessions_per_minute: u32,
    /// SDK log records accepted per minute.
    pub logs_per_minute: u32,
    /// Cron check-ins accepted per minute.
    pub check_ins_per_minute: u32,
    /// User feedback (feedback items and user reports) accepted per minute.
    pub feedback_per_minute: u32,
    /// Attachment bytes accepted per minute, in MiB.
    pub attachment_mb_per_minute: u32,
    /// Disk the project's event payloads and attachments may take, in MiB; beyond it new
    /// ones are refused until retention frees room (0 = no budget).
    pub disk_budget_mb: u64,
    /// Heartbeat monitors this project's cron check-ins may create.
    pub check_in_monitors: u32,
    /// Transaction names and issues with series of their own in the metrics; the rest
    /// are counted under `<other>`.
    pub series: u32,
}

impl Default for ProjectLimits {
    fn default() -> Self {
        ProjectLimits {
            transactions_per_minute: 6000,
            sessions_per_minute: 6000,
            logs_per_minute: 60_000,
            check_ins_per_minute: 600,
            feedback_per_minute: 60,
            attachment_mb_per_minute: 100,
            disk_budget_mb: 1024,
            check_in_monitors: 50,
            series: 100,
        }
    }
}

impl ProjectSettings {
    pub fn default_retention() -> HumanDuration {
        HumanDuration::from_secs(30 * 86400)
    }

    pub fn default_rate_limit() -> u32 {
        6000
    }
}

fn default_retention() -> HumanDuration {
    ProjectSettings::default_retention()
}

fn default_rate_limit() -> u32 {
    ProjectSettings::default_rate_limit()
}

/// When errors and transactions raise alerts (through the one alert model).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorAlertSettings {
    /// Alert on the first event of a new issue.
    #[serde(default = "yes")]
    pub new_issue: bool,
    /// Alert when a resolved issue gets a new event.
    #[serde(default = "yes")]
    pub regression: bool,
    /// Alert while the whole project gets more than this many events per minute
    /// (seed 001: > 10 errors / minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_per_minute: Option<u32>,
    /// Alert while one issue gets more than this many events per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_events_per_minute: Option<u32>,
    /// Alert while a transaction's p95 duration over the last 5 minutes is above this
    /// (seed 001: 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_p95: Option<HumanDuration>,
    /// Extra labels on this project's alerts (`severity`, `team`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

impl Default for ErrorAlertSettings {
    fn default() -> Self {
        ErrorAlertSettings {
            new_issue: true,
            regression: true,
            events_per_minute: None,
            issue_events_per_minute: None,
            transaction_p95: None,
            labels: BTreeMap::new(),
        }
    }
}

impl ProjectSpec {
    pub fn settings(&self) -> ProjectSettings {
        ProjectSettings {
            retention: self.retention,
            rate_limit: self.rate_limit,
            limits: self.limits.clone(),
            alerts: self.alerts.clone(),
            filters: self.filters.clone(),
        }
    }

    /// Checks what serde cannot: a usable name and DSN id, keys that fit in a DSN.
    pub fn validate(&self) -> Result<(), ModelError> {
        let in_field = |field: String, e: ModelError| ModelError::ProjectField {
            field,
            source: Box::new(e),
        };
        if self.id == 0 {
            return Err(ModelError::ProjectId);
        }
        validate_name(&self.name).map_err(|e| in_field("name".into(), e))?;
        for (i, k) in self.keys.iter().enumerate() {
            validate_key(k.key()).map_err(|e| in_field(format!("keys[{i}]"), e))?;
        }
        Ok(())
    }
}

pub fn validate_name(name: &str) -> Result<(), ModelError> {
    if name.trim().is_empty() || name.len() > 100 {
        return Err(ModelError::NameLength);
    }
    Ok(())
}

pub fn validate_key(key: &str) -> Result<(), ModelError> {
    if key.len() < 8
        || key.len() > 64
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ModelError::KeyShape);
    }
    Ok(())
}
