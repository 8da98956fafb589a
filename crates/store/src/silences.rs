//! Silences, as Alertmanager's API shapes them: matchers, author, comment, a start and an
//! end; expiring one sets its end to now. Pharos adds `time_intervals`, a schedule that
//! makes a silence recurring (every night 02:00–03:00 in a time zone, for backups).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::{Result, Store, StoreError, from_ms, ms};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    /// Alertmanager's API: `false` for `!=` / `!~`; absent means `true`.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq)]
pub struct SilenceRecord {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    /// The recurring schedule as JSON (a list of Alertmanager time intervals); `None`
    /// for a silence that holds for its whole span.
    pub time_intervals: Option<serde_json::Value>,
}

const COLUMNS: &str =
    "id, matchers, starts_at, ends_at, updated_at, created_by, comment, time_intervals";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SilenceRecord> {
    let bad = |i: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let matchers: String = r.get(1)?;
    let schedule: Option<String> = r.get(7)?;
    Ok(SilenceRecord {
        id: r.get(0)?,
        matchers: serde_json::from_str(&matchers).map_err(|e| bad(1, e))?,
        starts_at: from_ms(r.get(2)?),
        ends_at: from_ms(r.get(3)?),
        updated_at: from_ms(r.get(4)?),
        created_by: r.get(5)?,
        comment: r.get(6)?,
        time_intervals: schedule
            .map(|s| serde_json::from_str(&s).map_err(|e| bad(7, e)))
            .transpose()?,
    })
}

/// A random version 4 UUID, the shape Alertmanager gives silence ids.
pub fn new_silence_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Store {
    /// Every silence not expired for longer than `expired_since` ago, newest first.
    pub fn list_silences(&self, expired_since: DateTime<Utc>) -> Result<Vec<SilenceRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM silences WHERE ends_at >= ?1 ORDER BY updated_at DESC"
            ))?;
            let rows = stmt.query_map([ms(expired_since)], from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn silence(&self, id: &str) -> Result<Option<SilenceRecord>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM silences WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()?)
        })
    }

    /// Inserts or replaces a silence by id.
    pub fn save_silence(&self, s: &SilenceRecord) -> Result<()> {
        let matchers =
            serde_json::to_string(&s.matchers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let schedule = s
            .time_intervals
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|c| {
            c.execute(
                "INSERT INTO silences(id, matchers, starts_at, ends_at, updated_at, created_by, comment, time_intervals)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at,
                   ends_at = excluded.ends_at, updated_at = excluded.updated_at, created_by = excluded.created_by,
                   comment = excluded.comment, time_intervals = excluded.time_intervals",
                params![s.id, matchers, ms(s.starts_at), ms(s.ends_at), ms(s.updated_at), s.created_by, s.comment, schedule],
            )?;
            Ok(())
        })
    }

    /// Ends a silence now (a pending one never starts). `NotFound` for an unknown id,
    /// `Conflict` when it had already expired, as Alertmanager answers.
    pub fn expire_silence(&self, id: &str, now: DateTime<Utc>) -> Result<SilenceRecord> {
        self.write(|c| {
            let tx = c.transaction()?;
            let found = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM silences WHERE id = ?1"),
                    [id],
                    from_row,
                )
                .optional()?;
            let Some(mut s) = found else {
                return Err(StoreError::NotFound(format!("silence {id}")));
            };
            if s.ends_at <= now {
                return Err(StoreError::Conflict(format!(
                    "silence {id} already expired"
                )));
            }
            s.starts_at = s.starts_at.min(now);
            s.ends_at = now;
            s.updated_at = now;
            tx.execute(
                "UPDATE silences SET starts_at = ?2, ends_at = ?3, updated_at = ?3 WHERE id = ?1",
                params![id, ms(s.starts_at), ms(now)],
            )?;
            tx.commit()?;
            Ok(s)
        })
    }

    /// Drops silences that expired before `before` (Alertmanager keeps them 5 days).
    pub fn prune_silences(&self, before: DateTime<Utc>) -> Result<usize> {
        self.write(|c| Ok(c.execute("DELETE FROM silences WHERE ends_at < ?1", [ms(before)])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_list_and_expire() {
        let (store, _dir) = crate::temp_store();
        let now = from_ms(ms(Utc::now()));
        let s = SilenceRecord {
            id: new_silence_id(),
            matchers: vec![SilenceMatcher {
                name: "alertname".into(),
                value: "Backup.*".into(),
                is_regex: true,
                is_equal: true,
            }],
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            updated_at: now,
            created_by: "ops".into(),
            comment: "nightly backup".into(),
            time_intervals: Some(
                serde_json::json!([{"times": [{"start_time": "02:00", "end_time": "03:00"}]}]),
            ),
        };
        assert_eq!(s.id.len(), 36);
        store.save_silence(&s).unwrap();
        assert_eq!(store.silence(&s.id).unwrap().as_ref(), Some(&s));
        let later = now + chrono::Duration::minutes(5);
        let expired = store.expire_silence(&s.id, later).unwrap();
        assert_eq!(expired.ends_at.timestamp_millis(), later.timestamp_millis());
        assert!(matches!(
            store.expire_silence(&s.id, later),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.expire_silence("nope", later),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.list_silences(now).unwrap().len(), 1);
        assert_eq!(
            store
                .prune_silences(later + chrono::Duration::seconds(1))
                .unwrap(),
            1
        );
        assert!(
            store
                .list_silences(now - chrono::Duration::days(9))
                .unwrap()
                .is_empty()
        );
    }
}
