//! Searching what happened: alert occurrences (resolved ones too) by state, time and
//! text, notifications by receiver, outcome, group and time, and each integration's
//! recent delivery record, which the readiness check and the receivers page judge.
//!
//! Label matchers (regexes, negations) are the caller's: it passes a predicate, and the
//! scan here stops as soon as a page is full, so a selective search costs one page.

use chrono::{DateTime, Utc};
use pharos_model::AlertState;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

use crate::alerts::{self, AlertRecord};
use crate::deliveries::{self, Delivery};
use crate::{Result, Store, from_ms, ms};

/// The part of an alert search SQLite does; matchers are applied by the caller.
#[derive(Clone, Debug, Default)]
pub struct AlertSearch {
    /// Any of these states; empty means all.
    pub states: Vec<AlertState>,
    /// Case-insensitive substring of the labels' or annotations' names and values.
    pub text: Option<String>,
    /// Occurrences active at some point in `[since, until]`.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default)]
pub struct DeliverySearch {
    /// A receiver (every integration of it: `ops`, `ops/slack0`) or one integration.
    pub receiver: Option<String>,
    pub outcome: Option<String>,
    /// Any of these group keys (the `alert_fingerprint` column).
    pub groups: Vec<String>,
    /// Queued in `[since, until]`.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One integration's recent record, for deciding whether it is failing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntegrationRecord {
    pub integration: String,
    /// Failed attempts in the deliveries queued since the newest delivered one.
    pub failed_attempts_since_success: u64,
    pub last_success_at: Option<DateTime<Utc>>,
    /// The newest failed attempt's error and response code.
    pub last_error: Option<String>,
    pub last_response_status: Option<u16>,
    /// The oldest delivery still owed (pending), if any.
    pub oldest_pending_since: Option<DateTime<Utc>>,
    /// Finished in the window given: delivered and failed for good.
    pub delivered: u64,
    pub failed: u64,
}

/// `%` and `_` are literal in a search, not wildcards.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn like_pattern(text: &str) -> String {
    format!("%{}%", like_escape(text))
}

/// Rows read per query while filling a page with a caller's predicate.
const SCAN_BATCH: i64 = 500;

impl Store {
    /// Occurrences matching `search` and `keep`, newest first: the page at `offset`, and
    /// whether more follow.
    pub fn search_alerts(
        &self,
        search: &AlertSearch,
        keep: &dyn Fn(&AlertRecord) -> bool,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<AlertRecord>, bool)> {
        let mut sql = format!("SELECT {} FROM alerts WHERE id < ?", alerts::COLUMNS);
        let mut args: Vec<Value> = vec![Value::Null];
        if !search.states.is_empty() {
            sql.push_str(&format!(
                " AND state IN ({})",
                vec!["?"; search.states.len()].join(", ")
            ));
            args.extend(
                search
                    .states
                    .iter()
                    .map(|s| Value::Text(s.as_str().to_string())),
            );
        }
        if let Some(t) = search.text.as_deref().filter(|t| !t.is_empty()) {
            sql.push_str(" AND (labels || annotations) LIKE ? ESCAPE '\\'");
            args.push(Value::Text(like_pattern(t)));
        }
        if let Some(until) = search.until {
            sql.push_str(" AND starts_at <= ?");
            args.push(Value::Integer(ms(until)));
        }
        if let Some(since) = search.since {
            // An open occurrence is active now whatever its (expected) end says.
            sql.push_str(" AND (state != 'resolved' OR coalesce(ends_at, updated_at) >= ?)");
            args.push(Value::Integer(ms(since)));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(Value::Integer(SCAN_BATCH));

        let mut skipped = 0;
        let mut page = Vec::new();
        let mut before = i64::MAX;
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            loop {
                args[0] = Value::Integer(before);
                let rows: Vec<AlertRecord> = stmt
                    .query_map(params_from_iter(args.iter()), alerts::from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                let exhausted = (rows.len() as i64) < SCAN_BATCH;
                for r in rows {
                    before = r.id;
                    if !keep(&r) {
                        continue;
                    }
                    if skipped < offset {
                        skipped += 1;
                        continue;
                    }
                    if page.len() == limit {
                        return Ok((page, true));
                    }
                    page.push(r);
                }
                if exhausted {
                    return Ok((page, false));
                }
            }
        })
    }

    /// Deliveries matching `search`, newest first: the page at `offset`, and whether more
    /// follow.
    pub fn search_deliveries(
        &self,
        search: &DeliverySearch,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Delivery>, bool)> {
        let mut sql = format!("SELECT {} FROM deliveries WHERE 1 = 1", deliveries::COLUMNS);
        let mut args: Vec<Value> = Vec::new();
        if let Some(r) = &search.receiver {
            sql.push_str(" AND (receiver = ? OR receiver LIKE ? ESCAPE '\\')");
            args.push(Value::Text(r.clone()));
            args.push(Value::Text(format!("{}/%", like_escape(r))));
        }
        if let Some(o) = &search.outcome {
            sql.push_str(" AND outcome = ?");
            args.push(Value::Text(o.clone()));
        }
        if !search.groups.is_empty() {
            sql.push_str(&format!(
                " AND alert_fingerprint IN ({})",
                vec!["?"; search.groups.len()].join(", ")
            ));
            args.extend(search.groups.iter().cloned().map(Value::Text));
        }
        if let Some(since) = search.since {
            sql.push_str(" AND created_at >= ?");
            args.push(Value::Integer(ms(since)));
        }
        if let Some(until) = search.until {
            sql.push_str(" AND created_at <= ?");
            args.push(Value::Integer(ms(until)));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ? OFFSET ?");
        args.push(Value::Integer(limit as i64 + 1));
        args.push(Value::Integer(offset as i64));
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows: Vec<Delivery> = stmt
                .query_map(params_from_iter(args.iter()), deliveries::from_row)?
                .collect::<rusqlite::Result<_>>()?;
            let more = rows.len() > limit;
            rows.truncate(limit);
            Ok((rows, more))
        })
    }

    /// Each integration's record: its failures since it last delivered something, and
    /// what it finished since `window_start`.
    pub fn integration_records(
        &self,
        integrations: &[String],
        window_start: DateTime<Utc>,
    ) -> Result<Vec<IntegrationRecord>> {
        self.read(|c| {
            let mut last_ok = c.prepare_cached(
                "SELECT id, finished_at FROM deliveries WHERE receiver = ?1 AND outcome = 'delivered' ORDER BY id DESC LIMIT 1",
            )?;
            // Order of queueing stands in for order of attempts (attempt times are not
            // kept): deliveries to one integration are sent oldest first, so the rows
            // after the newest delivered one hold the failures that followed it.
            let mut since_ok = c.prepare_cached(
                "SELECT attempts, last_error, response_status
                 FROM deliveries WHERE receiver = ?1 AND id > ?2 AND created_at >= ?3 AND outcome != 'delivered' AND attempts > 0
                 ORDER BY id DESC",
            )?;
            let mut pending = c.prepare_cached(
                "SELECT min(created_at) FROM deliveries WHERE receiver = ?1 AND outcome = 'pending'",
            )?;
            let mut finished = c.prepare_cached(
                "SELECT coalesce(sum(outcome = 'delivered'), 0), coalesce(sum(outcome = 'failed'), 0)
                 FROM deliveries WHERE receiver = ?1 AND created_at >= ?2",
            )?;
            let mut out = Vec::with_capacity(integrations.len());
            for name in integrations {
                let (ok_id, ok_at): (i64, Option<i64>) = last_ok
                    .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok((0, None)),
                        e => Err(e),
                    })?;
                let mut rec = IntegrationRecord {
                    integration: name.clone(),
                    last_success_at: ok_at.map(from_ms),
                    ..IntegrationRecord::default()
                };
                let mut rows = since_ok.query(rusqlite::params![name, ok_id, ms(window_start)])?;
                let mut newest = true;
                while let Some(r) = rows.next()? {
                    let attempts: u64 = r.get(0)?;
                    rec.failed_attempts_since_success += attempts;
                    if newest {
                        newest = false;
                        rec.last_error = r.get(1)?;
                        rec.last_response_status = r.get(2)?;
                    }
                }
                rec.oldest_pending_since = pending
                    .query_row([name], |r| r.get::<_, Option<i64>>(0))?
                    .map(from_ms);
                let (delivered, failed) = finished
                    .query_row(rusqlite::params![name, ms(window_start)], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                rec.delivered = delivered;
                rec.failed = failed;
                out.push(rec);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeliveryOutcome, NewDelivery};
    use pharos_model::{Alert, Labels};

    fn alert(name: &str, state: AlertState, at: DateTime<Utc>) -> Alert {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), name.into());
        labels.insert("severity".into(), "critical".into());
        Alert {
            fingerprint: Alert::fingerprint_of(&labels),
            labels,
            annotations: Labels::new(),
            state,
            starts_at: at,
            ends_at: (state == AlertState::Resolved).then_some(at),
            generator_url: String::new(),
            updated_at: at,
        }
    }

    #[test]
    fn alert_search_pages_through_resolved_occurrences() {
        let (store, _dir) = crate::temp_store();
        let t0 = Utc::now() - chrono::Duration::hours(2);
        for i in 0..7 {
            let at = t0 + chrono::Duration::minutes(i);
            store
                .save_alert(&alert("DiskFull", AlertState::Firing, at))
                .unwrap();
            store
                .save_alert(&alert("DiskFull", AlertState::Resolved, at))
                .unwrap();
        }
        store
            .save_alert(&alert("Other_50%", AlertState::Firing, Utc::now()))
            .unwrap();
        let all = |_: &AlertRecord| true;
        let s = AlertSearch {
            text: Some("diskfull".into()),
            ..AlertSearch::default()
        };
        let (p1, more) = store.search_alerts(&s, &all, 0, 5).unwrap();
        assert_eq!((p1.len(), more), (5, true));
        let (p2, more) = store.search_alerts(&s, &all, 5, 5).unwrap();
        assert_eq!((p2.len(), more), (2, false));
        assert!(p1[0].id > p2[0].id);
        let literal = AlertSearch {
            text: Some("_50%".into()),
            ..AlertSearch::default()
        };
        assert_eq!(
            store.search_alerts(&literal, &all, 0, 5).unwrap().0.len(),
            1
        );
        let only_firing = AlertSearch {
            states: vec![AlertState::Firing],
            ..AlertSearch::default()
        };
        assert_eq!(
            store
                .search_alerts(&only_firing, &all, 0, 50)
                .unwrap()
                .0
                .len(),
            1
        );
        let later = AlertSearch {
            since: Some(Utc::now() - chrono::Duration::minutes(5)),
            ..AlertSearch::default()
        };
        assert_eq!(store.search_alerts(&later, &all, 0, 50).unwrap().0.len(), 1);
    }

    #[test]
    fn integration_that_failed_then_delivered_has_no_failures_left() {
        let (store, _dir) = crate::temp_store();
        let now = Utc::now();
        let d = |r: &str| NewDelivery {
            receiver: r.into(),
            alert_fingerprint: "{}:{}".into(),
            status: "firing".into(),
            payload: "{}".into(),
        };
        for _ in 0..3 {
            store
                .record_sent_delivery(&d("ops"), false, Some("HTTP 503"), Some(503), now)
                .unwrap();
        }
        let rec = &store
            .integration_records(&["ops".into()], now - chrono::Duration::hours(1))
            .unwrap()[0];
        assert_eq!(rec.failed_attempts_since_success, 3);
        assert_eq!(rec.last_response_status, Some(503));
        store
            .record_sent_delivery(&d("ops"), true, None, Some(200), now)
            .unwrap();
        let rec = &store
            .integration_records(&["ops".into()], now - chrono::Duration::hours(1))
            .unwrap()[0];
        assert_eq!(rec.failed_attempts_since_success, 0);
        assert_eq!((rec.delivered, rec.failed), (1, 3));

        let (page, more) = store
            .search_deliveries(
                &DeliverySearch {
                    receiver: Some("ops".into()),
                    outcome: Some(DeliveryOutcome::Failed.as_str().into()),
                    ..DeliverySearch::default()
                },
                0,
                2,
            )
            .unwrap();
        assert_eq!((page.len(), more), (2, true));
        let (none, _) = store
            .search_deliveries(
                &DeliverySearch {
                    receiver: Some("op".into()),
                    ..DeliverySearch::default()
                },
                0,
                2,
            )
            .unwrap();
        assert!(none.is_empty());
    }
}
