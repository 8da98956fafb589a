//! The notification log, Alertmanager's `nflog`: for each group key and receiver, the
//! firing and resolved alert fingerprints last notified and when. A flush's deliveries and
//! its log rows are written in one transaction, so after a restart the dispatcher rebuilds
//! its groups from the stored alerts and sends only what the log says is new.

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState};
use rusqlite::{Row, params};

use crate::deliveries::{NewDelivery, insert_delivery};
use crate::{Result, Store, StoreError, from_ms, ms};

#[derive(Clone, Debug, PartialEq)]
pub struct NotificationLogEntry {
    pub group_key: String,
    pub receiver: String,
    pub firing: Vec<String>,
    pub resolved: Vec<String>,
    pub notified_at: DateTime<Utc>,
}

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<NotificationLogEntry> {
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let s: String = r.get(i)?;
        serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok(NotificationLogEntry {
        group_key: r.get(0)?,
        receiver: r.get(1)?,
        firing: list(2)?,
        resolved: list(3)?,
        notified_at: from_ms(r.get(4)?),
    })
}

impl Store {
    pub fn notification_log(&self) -> Result<Vec<NotificationLogEntry>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT group_key, receiver, firing, resolved, notified_at FROM notification_log",
            )?;
            let rows = stmt.query_map([], entry_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Queues a flush's deliveries (no alert changes: the alerts were stored when they
    /// changed) and records what was notified, in one transaction.
    pub fn queue_notifications(
        &self,
        deliveries: &[NewDelivery],
        log: &[NotificationLogEntry],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let encoded = log
            .iter()
            .map(|e| {
                Ok((
                    serde_json::to_string(&e.firing)?,
                    serde_json::to_string(&e.resolved)?,
                ))
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|c| {
            let tx = c.transaction()?;
            for d in deliveries {
                insert_delivery(&tx, d, now)?;
            }
            for (e, (firing, resolved)) in log.iter().zip(&encoded) {
                tx.execute(
                    "INSERT INTO notification_log(group_key, receiver, firing, resolved, notified_at) VALUES(?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(group_key, receiver) DO UPDATE SET firing = excluded.firing, resolved = excluded.resolved, notified_at = excluded.notified_at",
                    params![e.group_key, e.receiver, firing, resolved, ms(e.notified_at)],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Forgets groups last notified before `before` with nothing firing (Alertmanager keeps
    /// its log 5 days); a group still firing keeps its row so it is never re-notified early.
    pub fn prune_notification_log(&self, before: DateTime<Utc>) -> Result<usize> {
        self.write(|c| {
            Ok(c.execute(
                "DELETE FROM notification_log WHERE notified_at < ?1 AND firing = '[]'",
                [ms(before)],
            )?)
        })
    }

    /// What the dispatcher rebuilds its groups from after a restart: every open alert and
    /// the alerts resolved since `resolved_since`, oldest change first. (Kept beside the
    /// log it is read with rather than in `alerts.rs`.)
    pub fn alerts_for_dispatch(&self, resolved_since: DateTime<Utc>) -> Result<Vec<Alert>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT fingerprint, labels, annotations, state, starts_at, ends_at, generator_url, updated_at
                 FROM alerts WHERE state != 'resolved' OR updated_at >= ?1 ORDER BY updated_at, id",
            )?;
            let rows = stmt.query_map([ms(resolved_since)], |r| {
                let json = |i: usize| -> rusqlite::Result<pharos_model::Labels> {
                    let s: String = r.get(i)?;
                    serde_json::from_str(&s).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            i,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })
                };
                Ok(Alert {
                    fingerprint: r.get(0)?,
                    labels: json(1)?,
                    annotations: json(2)?,
                    state: AlertState::parse(&r.get::<_, String>(3)?)
                        .unwrap_or(AlertState::Firing),
                    starts_at: from_ms(r.get(4)?),
                    ends_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
                    generator_url: r.get(6)?,
                    updated_at: from_ms(r.get(7)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_and_log_commit_together() {
        let (store, _dir) = crate::temp_store();
        let now = Utc::now();
        let d = NewDelivery {
            receiver: "ops".into(),
            alert_fingerprint: "{}:{alertname=\"Down\"}".into(),
            status: "firing".into(),
            payload: "{}".into(),
        };
        let e = NotificationLogEntry {
            group_key: d.alert_fingerprint.clone(),
            receiver: "ops".into(),
            firing: vec!["abc".into()],
            resolved: vec![],
            notified_at: now,
        };
        store
            .queue_notifications(std::slice::from_ref(&d), std::slice::from_ref(&e), now)
            .unwrap();
        let mut e2 = e.clone();
        e2.firing.clear();
        e2.resolved = vec!["abc".into()];
        store.queue_notifications(&[d], &[e2.clone()], now).unwrap();
        let log = store.notification_log().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].resolved, vec!["abc".to_string()]);
        assert_eq!(store.list_deliveries(None, 10).unwrap().len(), 2);
        assert_eq!(
            store
                .prune_notification_log(now + chrono::Duration::seconds(1))
                .unwrap(),
            1
        );
    }
}
