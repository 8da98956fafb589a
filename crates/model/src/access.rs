//! Who may do what: the roles people sign in with, the scopes API tokens carry, and the
//! permission each operation and route needs. One vocabulary for the store, the
//! application layer, the HTTP edge and SECURITY.md.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a route or an operation needs from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read anything: pages, the JSON API, the Prometheus and log query APIs.
    Read,
    /// Change monitors, maintenance windows, silences, issues, incidents and dashboards.
    Edit,
    /// Users, tokens, projects and their keys, receivers, scrape jobs, config reload.
    Admin,
    /// Push logs: Loki push, OTLP logs, `POST /api/v1/logs`.
    IngestLogs,
    /// Prometheus remote_write.
    IngestMetrics,
    /// Post alerts to Alertmanager's API v2.
    IngestAlerts,
    /// Upload JavaScript source maps with `sentry-cli` (Sentry's `/api/0/` upload routes).
    UploadSourceMaps,
    /// Push OpenTelemetry spans: OTLP `POST /v1/traces`.
    IngestTraces,
    /// Post, update and delete incidents and maintenance on the public status pages.
    StatusPosts,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::Read,
        Permission::Edit,
        Permission::Admin,
        Permission::IngestLogs,
        Permission::IngestMetrics,
        Permission::IngestAlerts,
        Permission::UploadSourceMaps,
        Permission::IngestTraces,
        Permission::StatusPosts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Edit => "edit",
            Permission::Admin => "admin",
            Permission::IngestLogs => "logs ingest",
            Permission::IngestMetrics => "metrics ingest",
            Permission::IngestAlerts => "alerts ingest",
            Permission::UploadSourceMaps => "source maps upload",
            Permission::IngestTraces => "traces ingest",
            Permission::StatusPosts => "status posts",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a person signed in with a name and password may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads every page and API; changes nothing.
    Viewer,
    /// A viewer who also changes monitors, silences, issues, incidents and dashboards.
    Editor,
    /// Everything, users and tokens included.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    pub fn allows(self, p: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Editor => matches!(
                p,
                Permission::Read | Permission::Edit | Permission::StatusPosts
            ),
            Role::Viewer => p == Permission::Read,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: one of viewer, editor, admin"))
    }
}

/// What an API token may be used for. A token carries one or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Loki push, OTLP logs and `POST /api/v1/logs`.
    #[serde(rename = "logs:write")]
    LogsWrite,
    /// Prometheus remote_write.
    #[serde(rename = "metrics:write")]
    MetricsWrite,
    /// OTLP traces (`POST /v1/traces`); a service without a project gets one.
    #[serde(rename = "traces:write")]
    TracesWrite,
    /// Alertmanager API v2 `POST /api/v2/alerts` (a Prometheus sending its alerts).
    #[serde(rename = "alerts:write")]
    AlertsWrite,
    /// `sentry-cli sourcemaps upload` (and `releases new` / `finalize`).
    #[serde(rename = "sourcemaps:write")]
    SourceMapsWrite,
    /// Incidents and maintenance on the status pages (a bot or a deploy script posting).
    #[serde(rename = "status:write")]
    StatusWrite,
    /// Every read: the Prometheus HTTP API and log queries (Grafana), the JSON API.
    #[serde(rename = "read")]
    Read,
    /// Everything the admin token can do.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::LogsWrite,
        Scope::MetricsWrite,
        Scope::TracesWrite,
        Scope::AlertsWrite,
        Scope::SourceMapsWrite,
        Scope::StatusWrite,
        Scope::Read,
        Scope::Admin,
    ];

    pub fn allows(self, p: Permission) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Read => p == Permission::Read,
            Scope::LogsWrite => p == Permission::IngestLogs,
            Scope::MetricsWrite => p == Permission::IngestMetrics,
            Scope::TracesWrite => p == Permission::IngestTraces,
            Scope::AlertsWrite => p == Permission::IngestAlerts,
            Scope::SourceMapsWrite => p == Permission::UploadSourceMaps,
            Scope::StatusWrite => p == Permission::StatusPosts,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::LogsWrite => "logs:write",
            Scope::MetricsWrite => "metrics:write",
            Scope::TracesWrite => "traces:write",
            Scope::AlertsWrite => "alerts:write",
            Scope::SourceMapsWrite => "sourcemaps:write",
            Scope::StatusWrite => "status:write",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scope::LogsWrite => "push logs (Loki push, OTLP, /api/v1/logs)",
            Scope::MetricsWrite => "Prometheus remote_write",
            Scope::TracesWrite => "push OpenTelemetry traces (OTLP /v1/traces)",
            Scope::AlertsWrite => "post alerts (Alertmanager API v2)",
            Scope::SourceMapsWrite => "upload source maps (sentry-cli)",
            Scope::StatusWrite => "post incidents and maintenance on status pages",
            Scope::Read => "read everything (Grafana, the query APIs)",
            Scope::Admin => "everything, as the admin token",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown scope {s:?}: one of logs:write, metrics:write, traces:write, alerts:write, sourcemaps:write, status:write, read, admin"
                )
            })
    }
}

/// A person who signs in with a name and password.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// An API token as listed: never its secret, which is shown once when created.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The token's first characters, so a person can tell which one a shipper holds.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How a browser session was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// A user's name and password: the user's role, ended when the user changes.
    Password,
    /// The admin token: every permission.
    AdminToken,
    /// An OpenID Connect provider: the role its claim gave at sign-in.
    Oidc,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Password => "password",
            SessionKind::AdminToken => "admin_token",
            SessionKind::Oidc => "oidc",
        }
    }

    /// An unknown kind (a newer Pharos's) reads as a password session, never as admin.
    pub fn parse(s: &str) -> SessionKind {
        match s {
            "admin_token" => SessionKind::AdminToken,
            "oidc" => SessionKind::Oidc,
            _ => SessionKind::Password,
        }
    }
}

/// A signed-in browser session as the store keeps it (the id only as a digest).
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub kind: SessionKind,
    /// The user's row for a password session.
    pub user_id: Option<i64>,
    pub user_name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_and_scopes_do_not() {
        assert!(Role::Viewer.allows(Permission::Read));
        assert!(!Role::Viewer.allows(Permission::Edit));
        assert!(Role::Editor.allows(Permission::Edit));
        assert!(!Role::Editor.allows(Permission::Admin));
        assert!(!Role::Editor.allows(Permission::IngestLogs));
        assert!(Permission::ALL.iter().all(|p| Role::Admin.allows(*p)));
        assert!(Scope::LogsWrite.allows(Permission::IngestLogs));
        assert!(!Scope::LogsWrite.allows(Permission::Read));
        assert!(!Scope::Read.allows(Permission::IngestLogs));
        assert!(Scope::SourceMapsWrite.allows(Permission::UploadSourceMaps));
        assert!(!Scope::SourceMapsWrite.allows(Permission::Read));
        assert!(!Role::Editor.allows(Permission::UploadSourceMaps));
        assert!(Permission::ALL.iter().all(|p| Scope::Admin.allows(*p)));
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
        }
        assert!("owner".parse::<Role>().is_err());
    }
}
