//! Projects and their public keys. Config projects are synced from `pharos.yaml` (their
//! keys too); API projects are created and changed through the API.

use chrono::{DateTime, Utc};
use pharos_model::project::{ProjectSettings, ProjectSpec};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::ErrorStore;
use crate::{Result, StoreError, from_ms, ms};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectSource {
    Config,
    Api,
}

#[derive(Clone, Debug, Serialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub platform: Option<String>,
    pub source: ProjectSource,
    pub settings: ProjectSettings,
    pub keys: Vec<ProjectKey>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProjectKey {
    pub public_key: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new random public key: 32 hex characters, the shape Sentry uses.
pub fn new_key() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl ErrorStore {
    pub fn projects(&self) -> Result<Vec<Project>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, platform, source, settings, created_at FROM projects ORDER BY id",
            )?;
            let mut projects = stmt
                .query_map([], |r| {
                    let settings: String = r.get(4)?;
                    Ok(Project {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        platform: r.get(2)?,
                        source: if r.get::<_, String>(3)? == "config" {
                            ProjectSource::Config
                        } else {
                            ProjectSource::Api
                        },
                        settings: serde_json::from_str(&settings).unwrap_or_default(),
                        keys: Vec::new(),
                        created_at: from_ms(r.get(5)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut keys = c.prepare_cached(
                "SELECT project_id, public_key, label, created_at, revoked_at FROM project_keys ORDER BY created_at, public_key",
            )?;
            let rows = keys.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    ProjectKey {
                        public_key: r.get(1)?,
                        label: r.get(2)?,
                        created_at: from_ms(r.get(3)?),
                        revoked_at: r.get::<_, Option<i64>>(4)?.map(from_ms),
                    },
                ))
            })?;
            for row in rows {
                let (pid, key) = row?;
                if let Some(p) = projects.iter_mut().find(|p| p.id == pid) {
                    p.keys.push(key);
                }
            }
            Ok(projects)
        })
    }

    pub fn project(&self, id: i64) -> Result<Project> {
        self.projects()?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("project {id}")))
    }

    /// Makes config projects match the file: adds and updates them and their keys, and
    /// removes config projects no longer listed (their events stay until retention).
    pub fn sync_config_projects(&self, specs: &[ProjectSpec], now: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            let existing: Vec<(i64, String)> = tx
                .prepare("SELECT id, source FROM projects")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for spec in specs {
                let id = spec.id as i64;
                if let Some((_, source)) = existing.iter().find(|(e, _)| *e == id)
                    && source != "config"
                {
                    return Err(StoreError::Conflict(format!(
                        "project id {id} is already used by a project created through the API"
                    )));
                }
                let settings = serde_json::to_string(&spec.settings())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.execute(
                    "INSERT INTO projects(id, name, platform, source, settings, created_at) VALUES(?1, ?2, ?3, 'config', ?4, ?5)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name, platform = excluded.platform, settings = excluded.settings",
                    params![id, spec.name, spec.platform, settings, ms(now)],
                )?;
                if spec.keys.is_empty() {
                    let has_key: bool = tx.query_row(
                        "SELECT count(*) > 0 FROM project_keys WHERE project_id = ?1",
                        [id],
                        |r| r.get(0),
                    )?;
                    if !has_key {
                        tx.execute(
                            "INSERT INTO project_keys(public_key, project_id, label, source, created_at) VALUES(?1, ?2, 'default', 'generated', ?3)",
                            params![new_key(), id, ms(now)],
                        )?;
                    }
                } else {
                    // Keys listed in the file are the project's keys; others go.
                    let listed: Vec<&str> = spec.keys.iter().map(|k| k.key()).collect();
                    let current: Vec<String> = tx
                        .prepare("SELECT public_key FROM project_keys WHERE project_id = ?1")?
                        .query_map([id], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?;
                    for k in current.iter().filter(|k| !listed.contains(&k.as_str())) {
                        tx.execute("DELETE FROM project_keys WHERE public_key = ?1", [k])?;
                    }
                    for k in &spec.keys {
                        let owner: Option<i64> = tx
                            .query_row(
                                "SELECT project_id FROM project_keys WHERE public_key = ?1",
                                [k.key()],
                                |r| r.get(0),
                            )
                            .optional()?;
                        if owner.is_some_and(|o| o != id) {
                            return Err(StoreError::Conflict(format!(
                                "key {}… of project {id} already belongs to project {}",
                                &k.key()[..4.min(k.key().len())],
                                owner.unwrap_or_default()
                            )));
                        }
                        let revoked = k.revoked().then(|| ms(now));
                        tx.execute(
                            "INSERT INTO project_keys(public_key, project_id, label, source, created_at, revoked_at) VALUES(?1, ?2, ?3, 'config', ?4, ?5)
                             ON CONFLICT(public_key) DO UPDATE SET label = excluded.label, revoked_at = CASE WHEN excluded.revoked_at IS NULL THEN NULL ELSE coalesce(revoked_at, excluded.revoked_at) END",
                            params![k.key(), id, k.label(), ms(now), revoked],
                        )?;
                    }
                }
            }
            for (id, source) in &existing {
                if source == "config" && !specs.iter().any(|s| s.id as i64 == *id) {
                    tx.execute("DELETE FROM projects WHERE id = ?1", [id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// A project made through the API, with one generated key.
    pub fn create_project(
        &self,
        name: &str,
        platform: Option<&str>,
        settings: &ProjectSettings,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let settings =
            serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|c| {
            let tx = c.transaction()?;
            let taken: bool = tx.query_row(
                "SELECT count(*) > 0 FROM projects WHERE name = ?1",
                [name],
                |r| r.get(0),
            )?;
            if taken {
                return Err(StoreError::Conflict(format!(
                    "a project named {name:?} exists"
                )));
            }
            // API projects number from 1000 up, leaving small ids to the config file.
            let id: i64 = tx.query_row(
                "SELECT max(1000, coalesce(max(id), 0) + 1) FROM projects",
                [],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO projects(id, name, platform, source, settings, created_at) VALUES(?1, ?2, ?3, 'api', ?4, ?5)",
                params![id, name, platform, settings, ms(now)],
            )?;
            tx.execute(
                "INSERT INTO project_keys(public_key, project_id, label, source, created_at) VALUES(?1, ?2, 'default', 'api', ?3)",
                params![new_key(), id, ms(now)],
            )?;
            tx.commit()?;
            Ok(id)
        })
    }

    pub fn update_project(
        &self,
        id: i64,
        name: &str,
        platform: Option<&str>,
        settings: &ProjectSettings,
    ) -> Result<()> {
        let settings =
            serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|c| {
            let n = c.execute(
                "UPDATE projects SET name = ?2, platform = ?3, settings = ?4 WHERE id = ?1 AND source = 'api'",
                params![id, name, platform, settings],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "project {id} does not exist or is defined in the config file"
                )));
            }
            Ok(())
        })
    }

    /// Bytes the project's stored event payloads (compressed), span attributes and
    /// attachments take: what its disk budget counts.
    pub fn payload_bytes(&self, project: i64) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT (SELECT coalesce(sum(length(payload)), 0) FROM events WHERE project_id = ?1)
                      + (SELECT coalesce(sum(size), 0) FROM attachments WHERE project_id = ?1)
                      + (SELECT coalesce(sum(length(attributes)), 0) FROM spans WHERE project_id = ?1)",
                [project],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
    }

    /// Deletes an API project with its issues and events.
    pub fn delete_project(&self, id: i64) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "DELETE FROM projects WHERE id = ?1 AND source = 'api'",
                [id],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "project {id} does not exist or is defined in the config file"
                )));
            }
            tx.execute("DELETE FROM project_keys WHERE project_id = ?1", [id])?;
            for sql in [
                "DELETE FROM issue_tags WHERE issue_id IN (SELECT id FROM issues WHERE project_id = ?1)",
                "DELETE FROM issue_users WHERE issue_id IN (SELECT id FROM issues WHERE project_id = ?1)",
                "DELETE FROM issue_hourly WHERE issue_id IN (SELECT id FROM issues WHERE project_id = ?1)",
                "DELETE FROM issue_minutely WHERE issue_id IN (SELECT id FROM issues WHERE project_id = ?1)",
                "DELETE FROM issue_activity WHERE issue_id IN (SELECT id FROM issues WHERE project_id = ?1)",
                "DELETE FROM issue_aliases WHERE project_id = ?1",
                "DELETE FROM merged_issues WHERE merged_into IN (SELECT id FROM issues WHERE project_id = ?1)",
                "DELETE FROM feedback WHERE project_id = ?1",
                "DELETE FROM issues WHERE project_id = ?1",
                "DELETE FROM events WHERE project_id = ?1",
                "DELETE FROM transactions WHERE project_id = ?1",
                "DELETE FROM spans WHERE project_id = ?1",
                "DELETE FROM sessions WHERE project_id = ?1",
                "DELETE FROM attachments WHERE project_id = ?1",
                "DELETE FROM sentry_logs WHERE project_id = ?1",
                "DELETE FROM client_reports WHERE project_id = ?1",
            ] {
                tx.execute(sql, [id])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    pub fn add_key(&self, project: i64, label: Option<&str>, now: DateTime<Utc>) -> Result<String> {
        let key = new_key();
        self.write(|c| {
            let exists: bool =
                c.query_row("SELECT count(*) > 0 FROM projects WHERE id = ?1", [project], |r| r.get(0))?;
            if !exists {
                return Err(StoreError::NotFound(format!("project {project}")));
            }
            c.execute(
                "INSERT INTO project_keys(public_key, project_id, label, source, created_at) VALUES(?1, ?2, ?3, 'api', ?4)",
                params![key, project, label, ms(now)],
            )?;
            Ok(())
        })?;
        Ok(key)
    }

    /// Revokes a key: SDKs using it get 401 from now on.
    pub fn revoke_key(&self, project: i64, key: &str, now: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            let n = c.execute(
                "UPDATE project_keys SET revoked_at = coalesce(revoked_at, ?3) WHERE project_id = ?1 AND public_key = ?2",
                params![project, key, ms(now)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("key of project {project}")));
            }
            Ok(())
        })
    }
}
