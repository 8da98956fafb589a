//! Incidents and their timelines: one incident per dispatcher group while it fires, with
//! every alert change, acknowledgement, note, escalation step and resolution as a timeline
//! event. Rows are never pruned with alerts, so the history stays searchable.
//!
//! An escalation step's deliveries, the step reached and its timeline event are written
//! in one transaction that also checks the incident is still open and at the step the
//! caller saw: an acknowledgement that wins the race stops the step, and a restart never
//! sends a step twice.

use chrono::{DateTime, Utc};
use pharos_model::{Alert, Labels};
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::deliveries::{NewDelivery, insert_delivery};
use crate::{Result, Store, StoreError, from_ms, ms};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentState> {
        match s {
            "open" => Some(IncidentState::Open),
            "acknowledged" => Some(IncidentState::Acknowledged),
            "resolved" => Some(IncidentState::Resolved),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct IncidentRecord {
    pub id: i64,
    /// The dispatcher group this incident is for (route path and group labels).
    pub group_key: String,
    /// The route's receiver (level 1).
    pub receiver: String,
    pub title: String,
    pub group_labels: Labels,
    pub severity: String,
    pub state: IncidentState,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `None` when it resolved by itself (every alert resolved).
    pub resolved_by: Option<String>,
    /// The escalation policy's name, when the route has one.
    pub escalation: Option<String>,
    /// How many entries of the policy's sequence (steps × passes) have been handled.
    pub escalation_step: u32,
    /// The group's alerts as last seen, firing and resolved.
    pub alerts: Vec<Alert>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IncidentEvent {
    pub id: i64,
    pub incident_id: i64,
    pub at: DateTime<Utc>,
    /// `opened`, `alert_firing`, `alert_resolved`, `escalated`, `acknowledged`, `note`,
    /// `resolved`, `reopened`.
    pub kind: String,
    pub actor: Option<String>,
    pub text: String,
}

/// A timeline event to write (the incident and id are filled in by the store).
#[derive(Clone, Debug)]
pub struct NewIncidentEvent {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: Option<String>,
    pub text: String,
}

impl NewIncidentEvent {
    pub fn new(at: DateTime<Utc>, kind: &str, text: impl Into<String>) -> NewIncidentEvent {
        NewIncidentEvent {
            at,
            kind: kind.to_string(),
            actor: None,
            text: text.into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewIncident {
    pub group_key: String,
    pub receiver: String,
    pub title: String,
    pub group_labels: Labels,
    pub severity: String,
    pub escalation: Option<String>,
    pub escalation_step: u32,
    pub alerts: Vec<Alert>,
    pub opened_at: DateTime<Utc>,
}

/// `GET /api/v1/incidents?state=&q=&from=&to=&page=`
#[derive(Clone, Debug, Default)]
pub struct IncidentQuery {
    pub state: Option<IncidentState>,
    /// Words that must all appear in the alert names, labels, annotations or notes.
    pub text: Option<String>,
    /// Opened at or after.
    pub from: Option<DateTime<Utc>>,
    /// Opened before.
    pub to: Option<DateTime<Utc>>,
    pub offset: u64,
    pub limit: u64,
}

const COLUMNS: &str = "id, group_key, receiver, title, group_labels, severity, state, opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, escalation, escalation_step, alerts";

fn json_col<T: serde::de::DeserializeOwned>(r: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<IncidentRecord> {
    Ok(IncidentRecord {
        id: r.get(0)?,
        group_key: r.get(1)?,
        receiver: r.get(2)?,
        title: r.get(3)?,
        group_labels: json_col(r, 4)?,
        severity: r.get(5)?,
        state: IncidentState::parse(&r.get::<_, String>(6)?).unwrap_or(IncidentState::Open),
        opened_at: from_ms(r.get(7)?),
        acknowledged_at: r.get::<_, Option<i64>>(8)?.map(from_ms),
        acknowledged_by: r.get(9)?,
        resolved_at: r.get::<_, Option<i64>>(10)?.map(from_ms),
        resolved_by: r.get(11)?,
        escalation: r.get(12)?,
        escalation_step: r.get(13)?,
        alerts: json_col(r, 14)?,
    })
}

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<IncidentEvent> {
    Ok(IncidentEvent {
        id: r.get(0)?,
        incident_id: r.get(1)?,
        at: from_ms(r.get(2)?),
        kind: r.get(3)?,
        actor: r.get(4)?,
        text: r.get(5)?,
    })
}

/// What text search looks in: alert names, labels and annotations, lower-cased.
fn search_text(title: &str, alerts: &[Alert]) -> String {
    let mut out = title.to_lowercase();
    for a in alerts {
        for (k, v) in a.labels.iter().chain(&a.annotations) {
            out.push(' ');
            out.push_str(&k.to_lowercase());
            out.push('=');
            out.push_str(&v.to_lowercase());
        }
    }
    out
}

fn encode<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn insert_events(c: &rusqlite::Connection, id: i64, events: &[NewIncidentEvent]) -> Result<()> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO incident_events(incident_id, at, kind, actor, text) VALUES(?1, ?2, ?3, ?4, ?5)",
    )?;
    for e in events {
        stmt.execute(params![id, ms(e.at), e.kind, e.actor, e.text])?;
    }
    Ok(())
}

fn get(c: &rusqlite::Connection, id: i64) -> Result<IncidentRecord> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))
}

/// `%`, `_` and `\` are literal in a search word.
fn like_pattern(word: &str) -> String {
    let mut p = String::from("%");
    for ch in word.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

impl Store {
    /// Opens an incident with its first events.
    pub fn open_incident(
        &self,
        n: &NewIncident,
        events: &[NewIncidentEvent],
    ) -> Result<IncidentRecord> {
        let labels = encode(&n.group_labels)?;
        let alerts = encode(&n.alerts)?;
        let search = search_text(&n.title, &n.alerts);
        self.write(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO incidents(group_key, receiver, title, group_labels, severity, state, opened_at, escalation, escalation_step, alerts, search)
                 VALUES(?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?9, ?10)",
                params![n.group_key, n.receiver, n.title, labels, n.severity, ms(n.opened_at), n.escalation, n.escalation_step, alerts, search],
            )?;
            let id = tx.last_insert_rowid();
            insert_events(&tx, id, events)?;
            let record = get(&tx, id)?;
            tx.commit()?;
            Ok(record)
        })
    }

    /// The newest incident of each of these groups.
    pub fn latest_incidents(&self, group_keys: &[String]) -> Result<Vec<IncidentRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM incidents WHERE group_key = ?1 ORDER BY id DESC LIMIT 1"
            ))?;
            let mut out = Vec::new();
            for k in group_keys {
                if let Some(r) = stmt.query_row([k], from_row).optional()? {
                    out.push(r);
                }
            }
            Ok(out)
        })
    }

    /// Incidents not resolved, oldest first.
    pub fn unresolved_incidents(&self) -> Result<Vec<IncidentRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM incidents WHERE state != 'resolved' ORDER BY id"
            ))?;
            let rows = stmt.query_map([], from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Records the group's alerts as now seen, with the events that tell what changed;
    /// `resolve_at` resolves the incident (every alert resolved).
    pub fn update_incident_alerts(
        &self,
        id: i64,
        alerts: &[Alert],
        events: &[NewIncidentEvent],
        resolve_at: Option<DateTime<Utc>>,
    ) -> Result<IncidentRecord> {
        let encoded = encode(&alerts)?;
        self.write(|c| {
            let tx = c.transaction()?;
            let current = get(&tx, id)?;
            let search = search_text(&current.title, alerts);
            tx.execute(
                "UPDATE incidents SET alerts = ?2, search = ?3 WHERE id = ?1",
                params![id, encoded, search],
            )?;
            insert_events(&tx, id, events)?;
            if let Some(at) = resolve_at
                && current.state != IncidentState::Resolved
            {
                tx.execute(
                    "UPDATE incidents SET state = 'resolved', resolved_at = ?2 WHERE id = ?1",
                    params![id, ms(at)],
                )?;
                insert_events(
                    &tx,
                    id,
                    &[NewIncidentEvent::new(
                        at,
                        "resolved",
                        "resolved: every alert of the group resolved",
                    )],
                )?;
            }
            let record = get(&tx, id)?;
            tx.commit()?;
            Ok(record)
        })
    }

    /// Acknowledges an open incident. Acknowledging twice is not an error (two people
    /// clicking the same link); the first acknowledgement is kept. A resolved incident
    /// cannot be acknowledged.
    pub fn acknowledge_incident(
        &self,
        id: i64,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<IncidentRecord> {
        self.write(|c| {
            let tx = c.transaction()?;
            let current = get(&tx, id)?;
            match current.state {
                IncidentState::Resolved => {
                    return Err(StoreError::Conflict(format!(
                        "incident {id} is already resolved"
                    )));
                }
                IncidentState::Acknowledged => return Ok(current),
                IncidentState::Open => {}
            }
            tx.execute(
                "UPDATE incidents SET state = 'acknowledged', acknowledged_at = ?2, acknowledged_by = ?3 WHERE id = ?1",
                params![id, ms(at), who],
            )?;
            insert_events(
                &tx,
                id,
                &[NewIncidentEvent {
                    at,
                    kind: "acknowledged".into(),
                    actor: Some(who.to_string()),
                    text: format!("acknowledged by {who}"),
                }],
            )?;
            let record = get(&tx, id)?;
            tx.commit()?;
            Ok(record)
        })
    }

    /// Resolves an incident by hand.
    pub fn resolve_incident(
        &self,
        id: i64,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<IncidentRecord> {
        self.write(|c| {
            let tx = c.transaction()?;
            let current = get(&tx, id)?;
            if current.state == IncidentState::Resolved {
                return Ok(current);
            }
            tx.execute(
                "UPDATE incidents SET state = 'resolved', resolved_at = ?2, resolved_by = ?3 WHERE id = ?1",
                params![id, ms(at), who],
            )?;
            insert_events(
                &tx,
                id,
                &[NewIncidentEvent {
                    at,
                    kind: "resolved".into(),
                    actor: Some(who.to_string()),
                    text: format!("resolved by {who}"),
                }],
            )?;
            let record = get(&tx, id)?;
            tx.commit()?;
            Ok(record)
        })
    }

    pub fn add_incident_note(
        &self,
        id: i64,
        who: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<IncidentEvent> {
        self.write(|c| {
            let tx = c.transaction()?;
            get(&tx, id)?;
            insert_events(
                &tx,
                id,
                &[NewIncidentEvent {
                    at,
                    kind: "note".into(),
                    actor: Some(who.to_string()),
                    text: text.to_string(),
                }],
            )?;
            let event_id = tx.last_insert_rowid();
            let event = tx.query_row(
                "SELECT id, incident_id, at, kind, actor, text FROM incident_events WHERE id = ?1",
                [event_id],
                event_from_row,
            )?;
            tx.commit()?;
            Ok(event)
        })
    }

    /// Queues an escalation step's deliveries and records the step reached, only if the
    /// incident is still open and at `from_step`. Returns false (and writes nothing) when
    /// someone acknowledged or resolved it, or another pass already moved it on.
    pub fn record_escalation(
        &self,
        id: i64,
        from_step: u32,
        to_step: u32,
        deliveries: &[NewDelivery],
        event: Option<&NewIncidentEvent>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.write(|c| {
            let tx = c.transaction()?;
            let changed = tx.execute(
                "UPDATE incidents SET escalation_step = ?3 WHERE id = ?1 AND state = 'open' AND escalation_step = ?2",
                params![id, from_step, to_step],
            )?;
            if changed == 0 {
                return Ok(false);
            }
            for d in deliveries {
                insert_delivery(&tx, d, now)?;
            }
            if let Some(e) = event {
                insert_events(&tx, id, std::slice::from_ref(e))?;
            }
            tx.commit()?;
            Ok(true)
        })
    }

    pub fn get_incident(&self, id: i64) -> Result<IncidentRecord> {
        self.read(|c| get(c, id))
    }

    pub fn incident_events(&self, id: i64) -> Result<Vec<IncidentEvent>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, incident_id, at, kind, actor, text FROM incident_events WHERE incident_id = ?1 ORDER BY at, id",
            )?;
            let rows = stmt.query_map([id], event_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Incidents matching the query, newest first, and how many match in all.
    pub fn list_incidents(&self, q: &IncidentQuery) -> Result<(Vec<IncidentRecord>, u64)> {
        let mut clauses = vec!["1 = 1".to_string()];
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = q.state {
            args.push(s.as_str().to_string().into());
            clauses.push(format!("state = ?{}", args.len()));
        }
        if let Some(from) = q.from {
            args.push(ms(from).into());
            clauses.push(format!("opened_at >= ?{}", args.len()));
        }
        if let Some(to) = q.to {
            args.push(ms(to).into());
            clauses.push(format!("opened_at < ?{}", args.len()));
        }
        for word in q
            .text
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
        {
            args.push(like_pattern(&word).into());
            let n = args.len();
            clauses.push(format!(
                "(search LIKE ?{n} ESCAPE '\\' OR EXISTS (SELECT 1 FROM incident_events e WHERE e.incident_id = incidents.id AND e.kind = 'note' AND lower(e.text) LIKE ?{n} ESCAPE '\\'))"
            ));
        }
        let filter = clauses.join(" AND ");
        let limit = q.limit.clamp(1, 500) as i64;
        let offset = q.offset as i64;
        self.read(|c| {
            let total: u64 = c.query_row(
                &format!("SELECT count(*) FROM incidents WHERE {filter}"),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(0),
            )?;
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM incidents WHERE {filter} ORDER BY (state = 'resolved'), opened_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), from_row)?;
            Ok((rows.collect::<rusqlite::Result<_>>()?, total))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::AlertState;

    fn alert(name: &str, state: AlertState) -> Alert {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), name.into());
        labels.insert("service".into(), "api".into());
        Alert {
            fingerprint: Alert::fingerprint_of(&labels),
            labels,
            annotations: Labels::new(),
            state,
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: String::new(),
            updated_at: Utc::now(),
        }
    }

    fn new_incident(name: &str) -> NewIncident {
        NewIncident {
            group_key: format!("{{}}:{{alertname={name:?}}}"),
            receiver: "ops".into(),
            title: name.into(),
            group_labels: Labels::new(),
            severity: "critical".into(),
            escalation: Some("default".into()),
            escalation_step: 1,
            alerts: vec![alert(name, AlertState::Firing)],
            opened_at: Utc::now(),
        }
    }

    #[test]
    fn lifecycle_and_search() {
        let (store, _dir) = crate::temp_store();
        let now = Utc::now();
        let a = store
            .open_incident(
                &new_incident("MonitorDown"),
                &[NewIncidentEvent::new(now, "opened", "opened")],
            )
            .unwrap();
        let b = store
            .open_incident(&new_incident("HighErrorRate"), &[])
            .unwrap();
        store
            .add_incident_note(b.id, "alice", "Postgres pool exhausted", now)
            .unwrap();
        let acked = store.acknowledge_incident(a.id, "bob", now).unwrap();
        assert_eq!(acked.state, IncidentState::Acknowledged);
        // The first acknowledgement stays.
        let again = store.acknowledge_incident(a.id, "carol", now).unwrap();
        assert_eq!(again.acknowledged_by.as_deref(), Some("bob"));
        // Escalation stops once acknowledged.
        assert!(!store.record_escalation(a.id, 1, 2, &[], None, now).unwrap());
        assert!(store.record_escalation(b.id, 1, 2, &[], None, now).unwrap());
        assert!(!store.record_escalation(b.id, 1, 2, &[], None, now).unwrap());

        let search = |text: &str, state| {
            store
                .list_incidents(&IncidentQuery {
                    text: Some(text.into()),
                    state,
                    limit: 10,
                    ..IncidentQuery::default()
                })
                .unwrap()
        };
        assert_eq!(search("monitordown", None).1, 1);
        assert_eq!(search("service=api", None).1, 2);
        assert_eq!(search("postgres pool", None).0[0].id, b.id);
        assert_eq!(search("100%", None).1, 0);
        assert_eq!(search("", Some(IncidentState::Acknowledged)).1, 1);

        let mut resolved = b.alerts.clone();
        resolved[0].state = AlertState::Resolved;
        let r = store
            .update_incident_alerts(b.id, &resolved, &[], Some(now))
            .unwrap();
        assert_eq!(r.state, IncidentState::Resolved);
        assert!(r.resolved_by.is_none());
        assert!(store.acknowledge_incident(b.id, "x", now).is_err());
        let kinds: Vec<String> = store
            .incident_events(b.id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["note", "resolved"]);
        assert_eq!(store.unresolved_incidents().unwrap().len(), 1);
        assert_eq!(
            store
                .latest_incidents(std::slice::from_ref(&a.group_key))
                .unwrap()[0]
                .id,
            a.id
        );
    }
}
