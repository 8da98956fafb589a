//! Maintenance windows created through the API (those in the config file live in memory).

use chrono::{DateTime, Utc};
use pharos_model::maintenance::MaintenanceWindow;
use rusqlite::params;

use crate::{Result, Store, StoreError, from_ms, ms};

impl Store {
    pub fn create_maintenance(&self, w: &MaintenanceWindow) -> Result<i64> {
        let monitors =
            serde_json::to_string(&w.monitors).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|c| {
            c.execute(
                "INSERT INTO maintenance(name, monitors, starts_at, ends_at) VALUES(?1, ?2, ?3, ?4)",
                params![w.name, monitors, ms(w.starts_at), ms(w.ends_at)],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Windows that have not ended yet.
    pub fn maintenance_windows(&self, now: DateTime<Utc>) -> Result<Vec<(i64, MaintenanceWindow)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id, name, monitors, starts_at, ends_at FROM maintenance WHERE ends_at > ?1 ORDER BY starts_at")?;
            let rows = stmt.query_map([ms(now)], |r| {
                let monitors: String = r.get(2)?;
                Ok((
                    r.get(0)?,
                    MaintenanceWindow {
                        name: r.get(1)?,
                        monitors: serde_json::from_str(&monitors).unwrap_or_default(),
                        starts_at: from_ms(r.get(3)?),
                        ends_at: from_ms(r.get(4)?),
                    },
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn delete_maintenance(&self, id: i64) -> Result<()> {
        self.write(|c| {
            if c.execute("DELETE FROM maintenance WHERE id = ?1", [id])? == 0 {
                return Err(StoreError::NotFound(format!("maintenance window {id}")));
            }
            Ok(())
        })
    }
}
