//! Scrape jobs made through the API (`/api/v1/scrape_jobs`), so they survive restarts.
//! Config jobs are not stored: the file is their home. The store keeps a job's JSON with
//! its credentials replaced by a placeholder, and the credentials sealed by the caller
//! in a separate column; it never sees them in clear.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use crate::{Result, Store, StoreError, from_ms, ms};

#[derive(Clone, Debug)]
pub struct ScrapeJobRecord {
    pub name: String,
    /// The job as its `scrape_configs` entry in JSON, credentials redacted.
    pub spec: serde_json::Value,
    /// The credentials, sealed; empty when the job has none.
    pub sealed_secrets: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScrapeJobRecord> {
    let spec: String = r.get(1)?;
    Ok(ScrapeJobRecord {
        name: r.get(0)?,
        spec: serde_json::from_str(&spec).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?,
        sealed_secrets: r.get(2)?,
        created_at: from_ms(r.get(3)?),
        updated_at: from_ms(r.get(4)?),
    })
}

const COLUMNS: &str = "name, spec, sealed_secrets, created_at, updated_at";

impl Store {
    /// Saves a new API scrape job; an existing name is a conflict.
    pub fn create_scrape_job(
        &self,
        name: &str,
        spec: &serde_json::Value,
        sealed_secrets: &[u8],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let spec = spec.to_string();
        self.write(|c| {
            let n = c.execute(
                "INSERT INTO scrape_jobs(name, spec, sealed_secrets, created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?4) ON CONFLICT(name) DO NOTHING",
                params![name, spec, sealed_secrets, ms(now)],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(format!(
                    "a scrape job named {name:?} already exists"
                )));
            }
            Ok(())
        })
    }

    /// Replaces an API scrape job's definition.
    pub fn update_scrape_job(
        &self,
        name: &str,
        spec: &serde_json::Value,
        sealed_secrets: &[u8],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let spec = spec.to_string();
        self.write(|c| {
            let n = c.execute(
                "UPDATE scrape_jobs SET spec = ?2, sealed_secrets = ?3, updated_at = ?4 WHERE name = ?1",
                params![name, spec, sealed_secrets, ms(now)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("scrape job {name:?}")));
            }
            Ok(())
        })
    }

    pub fn delete_scrape_job(&self, name: &str) -> Result<()> {
        self.write(|c| {
            if c.execute("DELETE FROM scrape_jobs WHERE name = ?1", [name])? == 0 {
                return Err(StoreError::NotFound(format!("scrape job {name:?}")));
            }
            Ok(())
        })
    }

    pub fn scrape_job(&self, name: &str) -> Result<Option<ScrapeJobRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM scrape_jobs WHERE name = ?1"),
                [name],
                record,
            )
            .optional()?)
        })
    }

    /// Every API scrape job by name (a few dozen at most: no paging).
    pub fn scrape_jobs(&self) -> Result<Vec<ScrapeJobRecord>> {
        self.read(|c| {
            let mut stmt =
                c.prepare(&format!("SELECT {COLUMNS} FROM scrape_jobs ORDER BY name"))?;
            Ok(stmt
                .query_map([], record)?
                .collect::<rusqlite::Result<_>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrape_jobs_are_created_once_updated_and_deleted() {
        let dir = std::env::temp_dir().join(format!("pharos-store-scrape-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let now = Utc::now();
        let spec = json!({"job_name": "app", "static_configs": [{"targets": ["a:1"]}]});
        store
            .create_scrape_job("app", &spec, b"sealed", now)
            .unwrap();
        assert!(matches!(
            store.create_scrape_job("app", &spec, b"", now),
            Err(StoreError::Conflict(_))
        ));
        let changed = json!({"job_name": "app", "scrape_interval": "5s"});
        store.update_scrape_job("app", &changed, b"", now).unwrap();
        let got = store.scrape_job("app").unwrap().unwrap();
        assert_eq!(got.spec, changed);
        assert!(got.sealed_secrets.is_empty());
        assert_eq!(store.scrape_jobs().unwrap().len(), 1);
        store.delete_scrape_job("app").unwrap();
        assert!(matches!(
            store.delete_scrape_job("app"),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.update_scrape_job("app", &changed, b"", now),
            Err(StoreError::NotFound(_))
        ));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
