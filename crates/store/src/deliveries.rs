//! The delivery log: every notification queued for a receiver, its attempts and outcome.
//! Queued rows are the notification queue itself, so a restart resumes pending deliveries.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};
use serde::Serialize;

use crate::{Result, Store, from_ms, ms};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOutcome {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Pending => "pending",
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Failed => "failed",
        }
    }
}

/// A notification to queue: `payload` is exactly what the receiver will be sent.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub receiver: String,
    pub alert_fingerprint: String,
    /// `firing` or `resolved`
    pub status: String,
    pub payload: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub receiver: String,
    pub alert_fingerprint: String,
    pub status: String,
    #[serde(skip)]
    pub payload: String,
    pub outcome: DeliveryOutcome,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub response_status: Option<u16>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub(crate) const COLUMNS: &str = "id, receiver, alert_fingerprint, status, payload, outcome, attempts, last_error, response_status, next_attempt_at, created_at, finished_at";

pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let outcome: String = r.get(5)?;
    Ok(Delivery {
        id: r.get(0)?,
        receiver: r.get(1)?,
        alert_fingerprint: r.get(2)?,
        status: r.get(3)?,
        payload: r.get(4)?,
        outcome: match outcome.as_str() {
            "delivered" => DeliveryOutcome::Delivered,
            "failed" => DeliveryOutcome::Failed,
            _ => DeliveryOutcome::Pending,
        },
        attempts: r.get(6)?,
        last_error: r.get(7)?,
        response_status: r.get(8)?,
        next_attempt_at: from_ms(r.get(9)?),
        created_at: from_ms(r.get(10)?),
        finished_at: r.get::<_, Option<i64>>(11)?.map(from_ms),
    })
}

pub(crate) fn insert_delivery(
    c: &rusqlite::Connection,
    n: &NewDelivery,
    now: DateTime<Utc>,
) -> Result<()> {
    c.execute(
        "INSERT INTO deliveries(receiver, alert_fingerprint, status, payload, outcome, attempts, next_attempt_at, created_at) VALUES(?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
        params![n.receiver, n.alert_fingerprint, n.status, n.payload, ms(now)],
    )?;
    Ok(())
}

impl Store {
    /// Pending deliveries whose next attempt is due, oldest first.
    pub fn due_deliveries(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<Delivery>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM deliveries WHERE outcome = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![ms(now), limit as i64], from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// When the next pending delivery is due, to sleep until then.
    pub fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(|c| {
            let v: Option<i64> = c.query_row(
                "SELECT min(next_attempt_at) FROM deliveries WHERE outcome = 'pending'",
                [],
                |r| r.get(0),
            )?;
            Ok(v.map(from_ms))
        })
    }

    /// Records one attempt: delivered, failed for good, or pending again at `retry_at`.
    pub fn record_delivery_attempt(
        &self,
        id: i64,
        outcome: DeliveryOutcome,
        error: Option<&str>,
        response_status: Option<u16>,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let finished = (outcome != DeliveryOutcome::Pending).then(|| ms(now));
        self.write(|c| {
            c.execute(
                "UPDATE deliveries SET outcome = ?2, attempts = attempts + 1, last_error = ?3, response_status = ?4, next_attempt_at = ?5, finished_at = ?6 WHERE id = ?1",
                params![id, outcome.as_str(), error, response_status, ms(retry_at), finished],
            )?;
            Ok(())
        })
    }

    /// Records a notification sent outside the queue (a test notification sent on
    /// request): one attempt, already finished, so the worker never picks it up.
    pub fn record_sent_delivery(
        &self,
        n: &NewDelivery,
        delivered: bool,
        error: Option<&str>,
        response_status: Option<u16>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let outcome = if delivered {
            DeliveryOutcome::Delivered
        } else {
            DeliveryOutcome::Failed
        };
        self.write(|c| {
            c.execute(
                "INSERT INTO deliveries(receiver, alert_fingerprint, status, payload, outcome, attempts, last_error, response_status, next_attempt_at, created_at, finished_at) VALUES(?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?8, ?8)",
                params![n.receiver, n.alert_fingerprint, n.status, n.payload, outcome.as_str(), error, response_status, ms(now)],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn list_deliveries(&self, fingerprint: Option<&str>, limit: u64) -> Result<Vec<Delivery>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM deliveries WHERE ?1 IS NULL OR alert_fingerprint = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![fingerprint, limit as i64], from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}
