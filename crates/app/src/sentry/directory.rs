//! Which public key belongs to which project, and each project's quota: read from the
//! store on start and after every project or key change, so that ingest never queries
//! the database to authenticate.

use std::collections::HashMap;
use std::sync::Mutex;

use pharos_model::project::ProjectLimits;
use pharos_store::errors::Project;

#[derive(Debug, Clone)]
pub struct ProjectInfo {
    pub id: i64,
    pub name: String,
    /// Events per minute (0 = unlimited).
    pub rate_limit: u32,
    pub limits: ProjectLimits,
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

/// Events accepted per project in the current minute, against each project's quota.
#[derive(Debug, Default)]
pub struct Quota {
    used: Mutex<HashMap<i64, (i64, u32)>>,
}

impl Quota {
    /// Takes up to `wanted` events from the project's quota for this minute; returns how
    /// many were granted and, when short, the seconds until the quota refills.
    pub fn take(&self, project: &ProjectInfo, wanted: u32, now_s: i64) -> (u32, Option<u64>) {
        if project.rate_limit == 0 || wanted == 0 {
            return (wanted, None);
        }
        let minute = now_s - now_s.rem_euclid(60);
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let slot = used.entry(project.id).or_insert((minute, 0));
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        let granted = wanted.min(project.rate_limit.saturating_sub(slot.1));
        slot.1 += granted;
        let retry = (granted < wanted).then(|| (minute + 60 - now_s).max(1) as u64);
        (granted, retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_refills_each_minute() {
        let q = Quota::default();
        let p = ProjectInfo {
            id: 1,
            name: "p".into(),
            rate_limit: 3,
            limits: ProjectLimits::default(),
        };
        assert_eq!(q.take(&p, 2, 120), (2, None));
        assert_eq!(q.take(&p, 2, 130), (1, Some(50)));
        assert_eq!(q.take(&p, 1, 150), (0, Some(30)));
        assert_eq!(q.take(&p, 1, 180), (1, None));
    }
}
