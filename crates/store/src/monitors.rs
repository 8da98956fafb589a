//! Monitors (their definitions, from the config file or the API) and their current status.
//! Once a [`MonitorSealer`] is set, an API monitor's credentials (what
//! `MonitorSpec::secrets` names) are stored sealed beside its redacted definition and put
//! back when it is read, so `pharos.db` never holds them in clear.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pharos_model::{MonitorId, MonitorSpec, MonitorState};
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::{Result, Store, StoreError, from_ms, ms};

/// A monitor and its current status (none before its first check).
pub type MonitorWithStatus = (MonitorRecord, Option<MonitorStatus>);

/// Where a monitor was defined: config monitors are changed by editing the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorSource {
    Config,
    Api,
}

#[derive(Clone, Debug)]
pub struct MonitorRecord {
    pub spec: MonitorSpec,
    pub source: MonitorSource,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the state machine remembers between checks; survives restarts so that a monitor
/// that was down and notified is not notified again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitorStatus {
    pub monitor: MonitorId,
    pub state: MonitorState,
    pub state_since: DateTime<Utc>,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_check_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<String>,
    pub last_latency_ms: Option<f64>,
    pub last_error: Option<String>,
    pub last_ping_at: Option<DateTime<Utc>>,
    pub last_start_at: Option<DateTime<Utc>>,
}

impl MonitorStatus {
    pub fn new(monitor: MonitorId, now: DateTime<Utc>) -> Self {
        MonitorStatus {
            monitor,
            state: MonitorState::Unknown,
            state_since: now,
            consecutive_failures: 0,
            consecutive_successes: 0,
            failing_since: None,
            last_check_at: None,
            last_outcome: None,
            last_latency_ms: None,
            last_error: None,
            last_ping_at: None,
            last_start_at: None,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct StatusCounts {
    pub up: u64,
    pub degraded: u64,
    pub down: u64,
    pub unknown: u64,
    pub paused: u64,
}

const STATUS_COLUMNS: &str = "monitor_id, state, state_since, consecutive_failures, consecutive_successes, failing_since, last_check_at, last_outcome, last_latency_ms, last_error, last_ping_at, last_start_at";

fn status_from_row(r: &Row<'_>, offset: usize) -> rusqlite::Result<MonitorStatus> {
    let id: String = r.get(offset)?;
    let state: String = r.get(offset + 1)?;
    let opt_time = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(r.get::<_, Option<i64>>(offset + i)?.map(from_ms))
    };
    Ok(MonitorStatus {
        monitor: id.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        state: state.parse().unwrap_or(MonitorState::Unknown),
        state_since: from_ms(r.get(offset + 2)?),
        consecutive_failures: r.get(offset + 3)?,
        consecutive_successes: r.get(offset + 4)?,
        failing_since: opt_time(5)?,
        last_check_at: opt_time(6)?,
        last_outcome: r.get(offset + 7)?,
        last_latency_ms: r.get(offset + 8)?,
        last_error: r.get(offset + 9)?,
        last_ping_at: opt_time(10)?,
        last_start_at: opt_time(11)?,
    })
}

/// Seals and opens an API monitor's credentials, bound to its id; the key lives outside
/// the store (in the data directory, `secrets.key`).
pub trait MonitorSealer: Send + Sync {
    fn seal(
        &self,
        monitor: &MonitorId,
        secrets: &BTreeMap<String, String>,
    ) -> std::result::Result<Vec<u8>, String>;
    fn open(
        &self,
        monitor: &MonitorId,
        sealed: &[u8],
    ) -> std::result::Result<BTreeMap<String, String>, String>;
}

/// Monitors with their status, if they have one yet.

/// The columns [`record_from_row`] reads, in its order.
const RECORD_COLUMNS: &str = "spec, source, created_at, updated_at, sealed_secrets";
/// How many columns [`record_from_row`] reads.
const RECORD_WIDTH: usize = 5;

/// A stored monitor and its sealed credentials (empty when it has none).
fn record_from_row(r: &Row<'_>) -> rusqlite::Result<(MonitorRecord, Vec<u8>)> {
    let spec: String = r.get(0)?;
    let source: String = r.get(1)?;
    let rec = MonitorRecord {
        spec: serde_json::from_str(&spec).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        source: if source == "config" {
            MonitorSource::Config
        } else {
            MonitorSource::Api
        },
        created_at: from_ms(r.get(2)?),
        updated_at: from_ms(r.get(3)?),
    };
    Ok((rec, r.get(4)?))
}

fn spec_json(spec: &MonitorSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// From now on, API monitors' credentials are stored sealed by `sealer`; those stored
    /// in clear by an older version are sealed now. Set once, at start.
    pub fn seal_monitor_secrets_with(&self, sealer: Arc<dyn MonitorSealer>) -> Result<()> {
        if self.monitor_sealer.set(sealer).is_err() {
            return Ok(());
        }
        let in_clear: Vec<MonitorRecord> = self
            .all_monitors()?
            .into_iter()
            .filter(|r| r.source == MonitorSource::Api && r.spec.has_secrets())
            .collect();
        if in_clear.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(in_clear.len());
        for rec in &in_clear {
            let (json, sealed) = self.stored_form(&rec.spec)?;
            rows.push((rec.spec.id.as_str().to_string(), json, sealed));
        }
        self.write(|c| {
            // Overwrite the old rows' bytes rather than leave them in free pages.
            c.execute_batch("PRAGMA secure_delete = ON")?;
            let tx = c.transaction()?;
            for (id, json, sealed) in &rows {
                tx.execute(
                    "UPDATE monitors SET spec = ?2, sealed_secrets = ?3 WHERE id = ?1",
                    params![id, json, sealed],
                )?;
            }
            tx.commit()?;
            c.execute_batch("PRAGMA secure_delete = OFF")?;
            // The write-ahead log still holds the old rows until it is checkpointed.
            let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            Ok(())
        })
    }

    /// The definition as stored and its sealed credentials: redacted and sealed once a
    /// sealer is set, as given before.
    fn stored_form(&self, spec: &MonitorSpec) -> Result<(String, Vec<u8>)> {
        let secrets = spec.secrets();
        match self.monitor_sealer.get() {
            Some(sealer) if !secrets.is_empty() => {
                let sealed = sealer
                    .seal(&spec.id, &secrets)
                    .map_err(|e| StoreError::Corrupt(format!("cannot seal credentials: {e}")))?;
                Ok((spec_json(&spec.redacted())?, sealed))
            }
            _ => Ok((spec_json(spec)?, Vec::new())),
        }
    }

    /// The record with its sealed credentials put back; one that cannot be opened (the key
    /// changed) stays redacted, with a warning.
    fn opened(&self, (mut rec, sealed): (MonitorRecord, Vec<u8>)) -> MonitorRecord {
        if sealed.is_empty() {
            return rec;
        }
        let Some(sealer) = self.monitor_sealer.get() else {
            return rec;
        };
        match sealer.open(&rec.spec.id, &sealed) {
            Ok(secrets) => rec.spec.restore_secrets(&secrets),
            Err(e) => tracing::warn!(
                operation = "monitor_secrets_open",
                monitor = %rec.spec.id,
                error = %e,
                "a monitor's stored credentials cannot be opened; it runs without them"
            ),
        }
        rec
    }

    /// Creates a monitor through the API; an existing id is a conflict.
    pub fn create_monitor(&self, spec: &MonitorSpec, now: DateTime<Utc>) -> Result<()> {
        let (json, sealed) = self.stored_form(spec)?;
        self.write(|c| {
            let n = c.execute(
                "INSERT INTO monitors(id, name, source, spec, created_at, updated_at, sealed_secrets) VALUES(?1, ?2, 'api', ?3, ?4, ?4, ?5) ON CONFLICT(id) DO NOTHING",
                params![spec.id.as_str(), spec.name, json, ms(now), sealed],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!("a monitor with id {:?} already exists", spec.id.as_str())));
            }
            Ok(())
        })
    }

    /// Replaces the monitors defined by the config file with `specs`, keeping the status
    /// and history of those that stay. Returns the ids that were removed.
    pub fn sync_config_monitors(
        &self,
        specs: &[MonitorSpec],
        now: DateTime<Utc>,
    ) -> Result<Vec<MonitorId>> {
        let mut jsons = Vec::with_capacity(specs.len());
        for s in specs {
            jsons.push(spec_json(s)?);
        }
        self.write(|c| {
            let tx = c.transaction()?;
            let existing: Vec<String> = {
                let mut stmt = tx.prepare("SELECT id FROM monitors WHERE source = 'config'")?;
                stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            for (spec, json) in specs.iter().zip(&jsons) {
                let source: Option<String> =
                    tx.query_row("SELECT source FROM monitors WHERE id = ?1", [spec.id.as_str()], |r| r.get(0)).optional()?;
                if source.as_deref() == Some("api") {
                    return Err(StoreError::Conflict(format!(
                        "monitor id {:?} in the config file is already used by a monitor created through the API",
                        spec.id.as_str()
                    )));
                }
                tx.execute(
                    "INSERT INTO monitors(id, name, source, spec, created_at, updated_at) VALUES(?1, ?2, 'config', ?3, ?4, ?4)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name, spec = excluded.spec,
                       updated_at = CASE WHEN monitors.spec = excluded.spec THEN monitors.updated_at ELSE excluded.updated_at END",
                    params![spec.id.as_str(), spec.name, json, ms(now)],
                )?;
            }
            let mut removed = Vec::new();
            for id in existing {
                if !specs.iter().any(|s| s.id.as_str() == id) {
                    delete_monitor_rows(&tx, &id)?;
                    if let Ok(id) = id.parse() {
                        removed.push(id);
                    }
                }
            }
            tx.commit()?;
            Ok(removed)
        })
    }

    pub fn update_monitor(&self, spec: &MonitorSpec, now: DateTime<Utc>) -> Result<()> {
        let (json, sealed) = self.stored_form(spec)?;
        self.write(|c| {
            let n = c.execute(
                "UPDATE monitors SET name = ?2, spec = ?3, updated_at = ?4, sealed_secrets = ?5 WHERE id = ?1",
                params![spec.id.as_str(), spec.name, json, ms(now), sealed],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "monitor {:?}",
                    spec.id.as_str()
                )));
            }
            Ok(())
        })
    }

    /// Deletes a monitor with its status, results and roll-ups.
    pub fn delete_monitor(&self, id: &MonitorId) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            if delete_monitor_rows(&tx, id.as_str())? == 0 {
                return Err(StoreError::NotFound(format!("monitor {:?}", id.as_str())));
            }
            tx.commit()?;
            Ok(())
        })
    }

    pub fn monitor(
        &self,
        id: &MonitorId,
    ) -> Result<Option<(MonitorRecord, Option<MonitorStatus>)>> {
        let found = self.read(|c| {
            let rec = c
                .query_row(
                    &format!("SELECT {RECORD_COLUMNS} FROM monitors WHERE id = ?1"),
                    [id.as_str()],
                    record_from_row,
                )
                .optional()?;
            let Some(rec) = rec else { return Ok(None) };
            let status = c
                .query_row(
                    &format!("SELECT {STATUS_COLUMNS} FROM monitor_status WHERE monitor_id = ?1"),
                    [id.as_str()],
                    |r| status_from_row(r, 0),
                )
                .optional()?;
            Ok(Some((rec, status)))
        })?;
        Ok(found.map(|(rec, status)| (self.opened(rec), status)))
    }

    pub fn all_monitors(&self) -> Result<Vec<MonitorRecord>> {
        let rows: Vec<(MonitorRecord, Vec<u8>)> = self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {RECORD_COLUMNS} FROM monitors ORDER BY id"
            ))?;
            Ok(stmt
                .query_map([], record_from_row)?
                .collect::<rusqlite::Result<_>>()?)
        })?;
        Ok(rows.into_iter().map(|r| self.opened(r)).collect())
    }

    /// How many monitors have an id starting with `prefix` (a project's check-in monitors).
    pub fn count_monitors_with_id_prefix(&self, prefix: &str) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM monitors WHERE substr(id, 1, length(?1)) = ?1",
                [prefix],
                |r| r.get(0),
            )?)
        })
    }

    /// One page of monitors in name order, optionally of one state, with the total count.
    pub fn list_monitors(
        &self,
        state: Option<MonitorState>,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<MonitorWithStatus>, u64)> {
        // A case-insensitive substring of the name, id, group or a tag; `%` and `_` are
        // literal.
        let pattern = search.map(str::trim).filter(|t| !t.is_empty()).map(|t| {
            format!(
                "%{}%",
                t.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        const WHERE: &str = "(?1 IS NULL OR coalesce(s.state, 'unknown') = ?1)
            AND (?2 IS NULL OR m.name LIKE ?2 ESCAPE '\\' OR m.id LIKE ?2 ESCAPE '\\'
                 OR coalesce(json_extract(m.spec, '$.group'), '') LIKE ?2 ESCAPE '\\'
                 OR EXISTS (SELECT 1 FROM json_each(m.spec, '$.tags') t WHERE t.value LIKE ?2 ESCAPE '\\'))";
        self.read(|c| {
            let state_filter = state.map(|s| s.as_str().to_string());
            let total: u64 = c.query_row(
                &format!(
                    "SELECT count(*) FROM monitors m LEFT JOIN monitor_status s ON s.monitor_id = m.id WHERE {WHERE}"
                ),
                params![state_filter, pattern],
                |r| r.get(0),
            )?;
            // Grouped monitors first, group by group, so a group stays together across
            // pages; then by name.
            let mut stmt = c.prepare(&format!(
                "SELECT m.spec, m.source, m.created_at, m.updated_at, m.sealed_secrets, {} FROM monitors m
                 LEFT JOIN monitor_status s ON s.monitor_id = m.id
                 WHERE {WHERE}
                 ORDER BY json_extract(m.spec, '$.group') IS NULL, json_extract(m.spec, '$.group'), m.name, m.id
                 LIMIT ?3 OFFSET ?4",
                STATUS_COLUMNS
                    .split(", ")
                    .map(|col| format!("s.{col}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?;
            let rows = stmt
                .query_map(params![state_filter, pattern, limit as i64, offset as i64], |r| {
                    let rec = record_from_row(r)?;
                    let has_status: Option<String> = r.get(RECORD_WIDTH)?;
                    let status = if has_status.is_some() {
                        Some(status_from_row(r, RECORD_WIDTH)?)
                    } else {
                        None
                    };
                    Ok((rec, status))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((rows, total))
        })
        .map(|(rows, total)| {
            let rows = rows
                .into_iter()
                .map(|(rec, status)| (self.opened(rec), status))
                .collect();
            (rows, total)
        })
    }

    pub fn status_counts(&self) -> Result<StatusCounts> {
        self.read(|c| {
            let mut counts = StatusCounts::default();
            let mut stmt = c.prepare(
                "SELECT coalesce(s.state, 'unknown'), count(*) FROM monitors m LEFT JOIN monitor_status s ON s.monitor_id = m.id GROUP BY 1",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
            for row in rows {
                let (state, n) = row?;
                match state.as_str() {
                    "up" => counts.up = n,
                    "degraded" => counts.degraded = n,
                    "down" => counts.down = n,
                    "paused" => counts.paused = n,
                    _ => counts.unknown += n,
                }
            }
            Ok(counts)
        })
    }

    pub fn status(&self, id: &MonitorId) -> Result<Option<MonitorStatus>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {STATUS_COLUMNS} FROM monitor_status WHERE monitor_id = ?1"),
                [id.as_str()],
                |r| status_from_row(r, 0),
            )
            .optional()?)
        })
    }

    pub fn put_status(&self, s: &MonitorStatus) -> Result<()> {
        self.write(|c| put_status(c, s))
    }

    /// The heartbeat token of a monitor, generating and storing one on first use.
    pub fn heartbeat_token(&self, id: &MonitorId, now: DateTime<Utc>) -> Result<String> {
        self.write(|c| {
            let existing: Option<Option<String>> = c
                .query_row(
                    "SELECT heartbeat_token FROM monitor_status WHERE monitor_id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(Some(token)) = existing {
                return Ok(token);
            }
            let token = hex::encode(rand::random::<[u8; 16]>());
            if existing.is_none() {
                put_status(c, &MonitorStatus::new(id.clone(), now))?;
            }
            c.execute(
                "UPDATE monitor_status SET heartbeat_token = ?2 WHERE monitor_id = ?1",
                params![id.as_str(), token],
            )?;
            Ok(token)
        })
    }

    /// Which monitor a stored (generated) heartbeat token belongs to.
    pub fn monitor_by_heartbeat_token(&self, token: &str) -> Result<Option<MonitorId>> {
        self.read(|c| {
            let id: Option<String> = c
                .query_row(
                    "SELECT monitor_id FROM monitor_status WHERE heartbeat_token = ?1",
                    [token],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(id.and_then(|s| s.parse().ok()))
        })
    }
}

pub(crate) fn put_status(c: &rusqlite::Connection, s: &MonitorStatus) -> Result<()> {
    let opt = |t: Option<DateTime<Utc>>| t.map(ms);
    c.execute(
        &format!(
            "INSERT INTO monitor_status({STATUS_COLUMNS}) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT(monitor_id) DO UPDATE SET state = excluded.state, state_since = excluded.state_since,
               consecutive_failures = excluded.consecutive_failures, consecutive_successes = excluded.consecutive_successes,
               failing_since = excluded.failing_since, last_check_at = excluded.last_check_at,
               last_outcome = excluded.last_outcome, last_latency_ms = excluded.last_latency_ms,
               last_error = excluded.last_error, last_ping_at = excluded.last_ping_at, last_start_at = excluded.last_start_at"
        ),
        params![
            s.monitor.as_str(),
            s.state.as_str(),
            ms(s.state_since),
            s.consecutive_failures,
            s.consecutive_successes,
            opt(s.failing_since),
            opt(s.last_check_at),
            s.last_outcome,
            s.last_latency_ms,
            s.last_error,
            opt(s.last_ping_at),
            opt(s.last_start_at),
        ],
    )?;
    Ok(())
}

fn delete_monitor_rows(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<usize> {
    let n = tx.execute("DELETE FROM monitors WHERE id = ?1", [id])?;
    tx.execute("DELETE FROM monitor_status WHERE monitor_id = ?1", [id])?;
    tx.execute("DELETE FROM probe_results WHERE monitor_id = ?1", [id])?;
    tx.execute("DELETE FROM uptime_hourly WHERE monitor_id = ?1", [id])?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_finds_monitors_by_name_tag_or_group_and_lists_groups_together() {
        let (store, _dir) = crate::temp_store();
        let now = Utc::now();
        for (name, extra) in [
            (
                "Zeta web",
                serde_json::json!({"group": "Website", "tags": ["prod"]}),
            ),
            (
                "Alpha db",
                serde_json::json!({"group": "Databases", "tags": ["prod", "pg_main"]}),
            ),
            ("Beta job", serde_json::json!({})),
            ("Gamma web", serde_json::json!({"group": "Website"})),
        ] {
            let mut v = serde_json::json!({"name": name, "tcp": {"address": "db:5432"}});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let spec: MonitorSpec = serde_json::from_value(v).unwrap();
            store.create_monitor(&spec, now).unwrap();
        }
        let names = |search: Option<&str>| {
            let (rows, total) = store.list_monitors(None, search, 0, 10).unwrap();
            assert_eq!(rows.len() as u64, total);
            rows.into_iter()
                .map(|(r, _)| r.spec.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(None),
            ["Alpha db", "Gamma web", "Zeta web", "Beta job"]
        );
        assert_eq!(names(Some("PROD")), ["Alpha db", "Zeta web"]);
        assert_eq!(names(Some("website")), ["Gamma web", "Zeta web"]);
        assert_eq!(names(Some(" job ")), ["Beta job"]);
        // `_` is a literal underscore, not any character ("Alpha db" has "a d").
        assert_eq!(names(Some("a_d")), Vec::<String>::new());
        assert_eq!(names(Some("pg_")), ["Alpha db"]);
    }

    /// Reversible but not clear text: enough to see what reaches the file.
    struct Rot;

    impl MonitorSealer for Rot {
        fn seal(
            &self,
            monitor: &MonitorId,
            secrets: &BTreeMap<String, String>,
        ) -> std::result::Result<Vec<u8>, String> {
            let mut text = serde_json::to_vec(&(monitor.as_str(), secrets)).unwrap();
            text.iter_mut().for_each(|b| *b ^= 0x55);
            Ok(text)
        }

        fn open(
            &self,
            monitor: &MonitorId,
            sealed: &[u8],
        ) -> std::result::Result<BTreeMap<String, String>, String> {
            let text: Vec<u8> = sealed.iter().map(|b| b ^ 0x55).collect();
            let (id, secrets): (String, BTreeMap<String, String>) =
                serde_json::from_slice(&text).map_err(|e| e.to_string())?;
            (id == monitor.as_str())
                .then_some(secrets)
                .ok_or_else(|| "sealed for another monitor".into())
        }
    }

    fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                std::fs::read(e.path())
                    .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn api_monitor_credentials_are_stored_sealed() {
        let (store, dir) = crate::temp_store();
        let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
            "id": "api", "name": "api",
            "http": {"url": "https://example.com/h?api_key=qsecret",
                     "headers": {"Authorization": "Bearer hsecret"}}
        }))
        .unwrap();
        // Stored in clear by a version without sealing, then sealed at the next start.
        store.create_monitor(&spec, Utc::now()).unwrap();
        store.seal_monitor_secrets_with(Arc::new(Rot)).unwrap();
        let other: MonitorSpec = serde_json::from_value(serde_json::json!({
            "id": "other", "name": "other",
            "http": {"url": "https://example.com/", "headers": {"X-Token": "tsecret"}}
        }))
        .unwrap();
        store.create_monitor(&other, Utc::now()).unwrap();
        for secret in ["qsecret", "hsecret", "tsecret"] {
            let found = files_containing(&dir, secret);
            assert!(found.is_empty(), "{secret} in clear in {found:?}");
        }
        let back = store.monitor(&spec.id).unwrap().unwrap().0.spec;
        assert_eq!(back, spec);
        let all = store.all_monitors().unwrap();
        assert!(all.iter().any(|r| r.spec == other), "{all:?}");
        let (page, _) = store.list_monitors(None, None, 0, 10).unwrap();
        assert!(page.iter().any(|(r, _)| r.spec == spec));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
