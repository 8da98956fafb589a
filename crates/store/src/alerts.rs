//! Alerts, one row per occurrence: an alert that resolves and fires again gets a new row,
//! so the list shows history as well as what is firing now.

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState};
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::{Result, Store, StoreError, from_ms, ms};

#[derive(Clone, Debug, Serialize)]
pub struct AlertRecord {
    pub id: i64,
    #[serde(flatten)]
    pub alert: Alert,
}

pub(crate) const COLUMNS: &str =
    "id, fingerprint, labels, annotations, state, starts_at, ends_at, generator_url, updated_at";

pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<AlertRecord> {
    let json = |i: usize| -> rusqlite::Result<pharos_model::Labels> {
        let s: String = r.get(i)?;
        serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok(AlertRecord {
        id: r.get(0)?,
        alert: Alert {
            fingerprint: r.get(1)?,
            labels: json(2)?,
            annotations: json(3)?,
            state: AlertState::parse(&r.get::<_, String>(4)?).unwrap_or(AlertState::Firing),
            starts_at: from_ms(r.get(5)?),
            ends_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
            generator_url: r.get(7)?,
            updated_at: from_ms(r.get(8)?),
        },
    })
}

impl Store {
    /// The open (pending or firing) occurrence of an alert, if any.
    pub fn open_alert(&self, fingerprint: &str) -> Result<Option<AlertRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM alerts WHERE fingerprint = ?1 AND state != 'resolved' ORDER BY id DESC LIMIT 1"),
                [fingerprint],
                from_row,
            )
            .optional()?)
        })
    }

    /// Saves an alert's new state.
    pub fn save_alert(&self, alert: &Alert) -> Result<i64> {
        let row = AlertRow::new(alert)?;
        self.write(|c| {
            let tx = c.transaction()?;
            let id = upsert_alert(&tx, alert, &row)?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// Saves many alert changes in one transaction: 10,000 alerts posted at once to
    /// `/api/v2/alerts`, or a rule firing for 10,000 series, are one commit, not 10,000.
    pub fn save_alerts(&self, changes: &[&Alert]) -> Result<()> {
        let rows = changes
            .iter()
            .map(|a| AlertRow::new(a))
            .collect::<Result<Vec<_>>>()?;
        self.write(|c| {
            let tx = c.transaction()?;
            for (alert, row) in changes.iter().zip(&rows) {
                upsert_alert(&tx, alert, row)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Open alerts first, then the most recently changed, newest first.
    pub fn list_alerts(&self, state: Option<AlertState>, limit: u64) -> Result<Vec<AlertRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alerts WHERE ?1 IS NULL OR state = ?1
                 ORDER BY (state = 'resolved'), updated_at DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(
                params![state.map(AlertState::as_str), limit as i64],
                from_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Open alerts of one label value (e.g. every alert of one monitor).
    pub fn alerts_with_label(
        &self,
        name: &str,
        value: &str,
        limit: u64,
    ) -> Result<Vec<AlertRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alerts WHERE json_extract(labels, '$.' || ?1) = ?2 ORDER BY id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![name, value, limit as i64], from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// How many alerts are pending and firing now.
    pub fn open_alert_counts(&self) -> Result<(u64, u64)> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT coalesce(sum(state = 'pending'), 0), coalesce(sum(state = 'firing'), 0) FROM alerts WHERE state != 'resolved'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
    }

    pub fn alert_updated_since(&self, since: DateTime<Utc>) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM alerts WHERE updated_at >= ?1",
                [ms(since)],
                |r| r.get(0),
            )?)
        })
    }
}

/// An alert's JSON columns, serialized before the write lock is taken.
struct AlertRow {
    labels: String,
    annotations: String,
}

impl AlertRow {
    fn new(alert: &Alert) -> Result<AlertRow> {
        let json = |l: &pharos_model::Labels| {
            serde_json::to_string(l).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        Ok(AlertRow {
            labels: json(&alert.labels)?,
            annotations: json(&alert.annotations)?,
        })
    }
}

/// Updates the open occurrence of the alert, or starts a new one; returns its row id.
fn upsert_alert(tx: &rusqlite::Transaction<'_>, alert: &Alert, row: &AlertRow) -> Result<i64> {
    let open: Option<i64> = tx
        .query_row(
            "SELECT id FROM alerts WHERE fingerprint = ?1 AND state != 'resolved' ORDER BY id DESC LIMIT 1",
            [&alert.fingerprint],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match open {
        Some(id) => {
            tx.execute(
                "UPDATE alerts SET labels = ?2, annotations = ?3, state = ?4, starts_at = ?5, ends_at = ?6, generator_url = ?7, updated_at = ?8 WHERE id = ?1",
                params![id, row.labels, row.annotations, alert.state.as_str(), ms(alert.starts_at), alert.ends_at.map(ms), alert.generator_url, ms(alert.updated_at)],
            )?;
            id
        }
        None => {
            tx.execute(
                "INSERT INTO alerts(fingerprint, labels, annotations, state, starts_at, ends_at, generator_url, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![alert.fingerprint, row.labels, row.annotations, alert.state.as_str(), ms(alert.starts_at), alert.ends_at.map(ms), alert.generator_url, ms(alert.updated_at)],
            )?;
            tx.last_insert_rowid()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(i: usize, state: AlertState) -> Alert {
        let labels: pharos_model::Labels = [
            ("alertname".to_string(), "Posted".to_string()),
            ("i".to_string(), i.to_string()),
        ]
        .into_iter()
        .collect();
        Alert {
            fingerprint: Alert::fingerprint_of(&labels),
            labels,
            annotations: Default::default(),
            state,
            starts_at: DateTime::UNIX_EPOCH,
            ends_at: None,
            generator_url: String::new(),
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_batch_of_alert_changes_updates_open_occurrences_and_starts_new_ones() {
        let (store, dir) = crate::temp_store();
        let firing: Vec<Alert> = (0..1000).map(|i| alert(i, AlertState::Firing)).collect();
        let firing: Vec<&Alert> = firing.iter().collect();
        store.save_alerts(&firing).unwrap();
        assert_eq!(store.open_alert_counts().unwrap(), (0, 1000));
        // The same alerts again: the open rows are updated, not duplicated.
        store.save_alerts(&firing).unwrap();
        assert_eq!(store.open_alert_counts().unwrap(), (0, 1000));
        let resolved: Vec<Alert> = (0..400).map(|i| alert(i, AlertState::Resolved)).collect();
        let resolved: Vec<&Alert> = resolved.iter().collect();
        store.save_alerts(&resolved).unwrap();
        assert_eq!(store.open_alert_counts().unwrap(), (0, 600));
        // Firing again after resolving is a new occurrence.
        store.save_alerts(&firing[..1]).unwrap();
        assert_eq!(store.open_alert_counts().unwrap(), (0, 601));
        assert_eq!(store.list_alerts(None, 5000).unwrap().len(), 1001);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
