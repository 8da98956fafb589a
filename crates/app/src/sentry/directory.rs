//! Which public key belongs to which project, with the project's limits: read from the
//! store on start and after every project or key change, so that ingest never queries
//! the database to authenticate.

use std::collections::HashMap;
use std::sync::Arc;

use pharos_model::inbound_filters::InboundFilters;

use pharos_model::project::ProjectLimits;
use pharos_store::errors::Project;

#[derive(Debug, Clone)]
pub struct ProjectInfo {
    pub id: i64,
    pub name: String,
    /// Events per minute (0 = unlimited).
    pub rate_limit: u32,
    pub limits: ProjectLimits,
    /// Shared: a project's info is cloned for every request.
    pub filters: Arc<InboundFilters>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyState {
    Active,
    Revoked,
}

#[derive(Debug, Default)]
pub struct Directory {
    keys: HashMap<String, (i64, KeyState)>,
    projects: HashMap<i64, ProjectInfo>,
}

#[derive(Debug, PartialEq)]
pub enum AuthError {
    NoKey,
    UnknownProject,
    UnknownKey,
    Revoked,
    WrongProject,
}

impl AuthError {
    pub fn message(&self) -> &'static str {
        match self {
            AuthError::NoKey => {
                "missing authentication: send X-Sentry-Auth: Sentry sentry_key=<key> (the DSN's public key)"
            }
            AuthError::UnknownProject => "unknown project id in the URL",
            AuthError::UnknownKey => "invalid public key",
            AuthError::Revoked => "this public key has been revoked",
            AuthError::WrongProject => "the public key does not belong to this project",
        }
    }
}

impl Directory {
    pub fn from_projects(projects: &[Project]) -> Directory {
        let mut d = Directory::default();
        for p in projects {
            d.projects.insert(
                p.id,
                ProjectInfo {
                    id: p.id,
                    name: p.name.clone(),
                    rate_limit: p.settings.rate_limit,
                    limits: p.settings.limits.clone(),
                    filters: Arc::new(p.settings.filters.clone()),
                },
            );
            for k in &p.keys {
                let state = if k.revoked_at.is_some() {
                    KeyState::Revoked
                } else {
                    KeyState::Active
                };
                d.keys.insert(k.public_key.clone(), (p.id, state));
            }
        }
        d
    }

    /// The project an active key belongs to, for endpoints whose URL names the project by
    /// slug rather than by DSN id (the user-feedback endpoint).
    pub fn project_of_key(&self, key: &str) -> Result<ProjectInfo, AuthError> {
        match self.keys.get(key) {
            None => Err(AuthError::UnknownKey),
            Some((_, KeyState::Revoked)) => Err(AuthError::Revoked),
            Some((p, _)) => self
                .projects
                .get(p)
                .cloned()
                .ok_or(AuthError::UnknownProject),
        }
    }

    /// The project named `name`, in any case (OTLP exports name their service, not a
    /// project id).
    pub fn project_named(&self, name: &str) -> Option<ProjectInfo> {
        self.projects
            .values()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    pub fn project_count(&self) -> usize {
        self.projects.len()
    }

    pub fn authenticate(&self, project: i64, key: Option<&str>) -> Result<ProjectInfo, AuthError> {
        let info = self
            .projects
            .get(&project)
            .ok_or(AuthError::UnknownProject)?;
        let key = key.ok_or(AuthError::NoKey)?;
        match self.keys.get(key) {
            None => Err(AuthError::UnknownKey),
            Some((_, KeyState::Revoked)) => Err(AuthError::Revoked),
            Some((p, _)) if *p != project => Err(AuthError::WrongProject),
            Some(_) => Ok(info.clone()),
        }
    }
}
