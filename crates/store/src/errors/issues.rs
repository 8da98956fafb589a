//! Reading issues and their events, and changing an issue's state.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params, params_from_iter};
use serde::Serialize;

use super::{ErrorStore, IssueQuery, decompress};
use crate::{Result, StoreError, from_ms, ms};

#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueStatus {
    Unresolved,
    Resolved,
    Ignored,
}

impl IssueStatus {
    fn parse(s: &str) -> IssueStatus {
        match s {
            "resolved" => IssueStatus::Resolved,
            "ignored" => IssueStatus::Ignored,
            _ => IssueStatus::Unresolved,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct IssueSummary {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub culprit: String,
    pub level: String,
    pub status: IssueStatus,
    /// `new`, `regressed`, `escalating` (back from ignored), or none.
    pub substatus: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Exact, whatever retention has pruned.
    pub count: i64,
    pub users: i64,
    pub first_release: Option<String>,
    pub last_release: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Set when resolved "in the next release": events from this release do not reopen it.
    pub resolved_in_release: Option<String>,
    pub ignore_until: Option<DateTime<Utc>>,
    pub ignore_until_count: Option<i64>,
    pub last_event_id: Option<String>,
    pub assignee: Option<super::Assignee>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TagCount {
    pub value: String,
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TagDistribution {
    pub key: String,
    /// Events that carried this tag.
    pub total: i64,
    pub distinct: i64,
    /// The most common values, most common first.
    pub top: Vec<TagCount>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IssueDetail {
    #[serde(flatten)]
    pub issue: IssueSummary,
    pub tags: Vec<TagDistribution>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EventSummary {
    pub event_id: String,
    pub issue_id: i64,
    pub timestamp: DateTime<Utc>,
    pub received: DateTime<Utc>,
    pub level: String,
    pub environment: Option<String>,
    pub release: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StoredEvent {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub project_id: i64,
    /// The scrubbed event as received.
    pub payload: serde_json::Value,
}

/// What an alert raised by an event says of it: its level, environment and release.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventLabels {
    pub level: String,
    pub environment: Option<String>,
    pub release: Option<String>,
}

/// (hour, events) pairs, oldest first.
pub type HourlyCounts = Vec<(DateTime<Utc>, i64)>;

/// What a person does to an issue.
#[derive(Clone, Debug, PartialEq)]
pub enum IssueChange {
    Resolve {
        in_next_release: bool,
    },
    Unresolve,
    /// Ignore until a time, until N more events, or for ever.
    Ignore {
        until: Option<DateTime<Utc>>,
        more_events: Option<u64>,
    },
}

const ISSUE_COLUMNS: &str = "i.id, i.project_id, i.title, i.culprit, i.level, i.status, i.substatus, i.first_seen, i.last_seen, i.times_seen, i.users, i.first_release, i.last_release, i.resolved_at, i.resolved_in_release, i.ignore_until, i.ignore_until_count, i.last_event_id, i.assignee_id, i.assignee_name";

fn issue_row(r: &Row<'_>) -> rusqlite::Result<IssueSummary> {
    Ok(IssueSummary {
        id: r.get(0)?,
        project_id: r.get(1)?,
        title: r.get(2)?,
        culprit: r.get(3)?,
        level: r.get(4)?,
        status: IssueStatus::parse(&r.get::<_, String>(5)?),
        substatus: r.get(6)?,
        first_seen: from_ms(r.get(7)?),
        last_seen: from_ms(r.get(8)?),
        count: r.get(9)?,
        users: r.get(10)?,
        first_release: r.get(11)?,
        last_release: r.get(12)?,
        resolved_at: r.get::<_, Option<i64>>(13)?.map(from_ms),
        resolved_in_release: r.get(14)?,
        ignore_until: r.get::<_, Option<i64>>(15)?.map(from_ms),
        ignore_until_count: r.get(16)?,
        last_event_id: r.get(17)?,
        assignee: match (
            r.get::<_, Option<i64>>(18)?,
            r.get::<_, Option<String>>(19)?,
        ) {
            (Some(id), name) => Some(super::Assignee {
                id,
                name: name.unwrap_or_default(),
            }),
            _ => None,
        },
    })
}

const EVENT_COLUMNS: &str = "event_id, issue_id, timestamp, received, level, environment, release";

fn event_row(r: &Row<'_>) -> rusqlite::Result<EventSummary> {
    Ok(EventSummary {
        event_id: r.get(0)?,
        issue_id: r.get(1)?,
        timestamp: from_ms(r.get(2)?),
        received: from_ms(r.get(3)?),
        level: r.get(4)?,
        environment: r.get(5)?,
        release: r.get(6)?,
    })
}

impl ErrorStore {
    pub fn issues(&self, q: &IssueQuery, page: u32, per_page: u32) -> Result<Page<IssueSummary>> {
        let (filter, params) = q.to_sql();
        let offset = (page.max(1) - 1) as i64 * per_page as i64;
        self.read(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT count(*) FROM issues i WHERE {filter}"),
                params_from_iter(params.iter()),
                |r| r.get(0),
            )?;
            let sql = format!(
                "SELECT {ISSUE_COLUMNS} FROM issues i WHERE {filter} ORDER BY {} LIMIT {per_page} OFFSET {offset}",
                q.order_by()
            );
            let items = c
                .prepare(&sql)?
                .query_map(params_from_iter(params.iter()), issue_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page {
                items,
                total: total as u64,
                page: page.max(1),
                per_page,
            })
        })
    }

    pub fn issue(&self, id: i64) -> Result<IssueDetail> {
        self.read(|c| {
            let issue = c
                .query_row(
                    &format!("SELECT {ISSUE_COLUMNS} FROM issues i WHERE i.id = ?1"),
                    [id],
                    issue_row,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("issue {id}")))?;
            let mut stmt = c.prepare_cached(
                "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tags WHERE issue_id = ?1 ORDER BY key, times_seen DESC, value",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    TagCount {
                        value: r.get(1)?,
                        count: r.get(2)?,
                        first_seen: from_ms(r.get(3)?),
                        last_seen: from_ms(r.get(4)?),
                    },
                ))
            })?;
            let mut tags: Vec<TagDistribution> = Vec::new();
            for row in rows {
                let (key, value) = row?;
                if tags.last().is_none_or(|t| t.key != key) {
                    tags.push(TagDistribution {
                        key,
                        total: 0,
                        distinct: 0,
                        top: Vec::new(),
                    });
                }
                let t = tags.last_mut().expect("pushed above");
                t.total += value.count;
                t.distinct += 1;
                if t.top.len() < 10 {
                    t.top.push(value);
                }
            }
            Ok(IssueDetail { issue, tags })
        })
    }

    /// Events per hour for each issue since `since`, for sparklines.
    #[allow(clippy::type_complexity)]
    pub fn hourly_counts(
        &self,
        issues: &[i64],
        since: DateTime<Utc>,
    ) -> Result<HashMap<i64, HourlyCounts>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT hour, count FROM issue_hourly WHERE issue_id = ?1 AND hour >= ?2 ORDER BY hour",
            )?;
            let mut out = HashMap::new();
            for id in issues {
                let rows = stmt
                    .query_map(params![id, ms(since)], |r| Ok((from_ms(r.get(0)?), r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                out.insert(*id, rows);
            }
            Ok(out)
        })
    }

    pub fn issue_events(&self, issue: i64, page: u32, per_page: u32) -> Result<Page<EventSummary>> {
        let offset = (page.max(1) - 1) as i64 * per_page as i64;
        self.read(|c| {
            let total: i64 = c.query_row(
                "SELECT count(*) FROM events WHERE issue_id = ?1",
                [issue],
                |r| r.get(0),
            )?;
            let items = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE issue_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(params![issue, per_page, offset], event_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page {
                items,
                total: total as u64,
                page: page.max(1),
                per_page,
            })
        })
    }

    /// One stored event; `project` narrows the lookup when the caller knows it.
    pub fn event(&self, project: Option<i64>, event_id: &str) -> Result<StoredEvent> {
        let id = event_id.replace('-', "").to_ascii_lowercase();
        self.read(|c| {
            let row = c
                .query_row(
                    &format!("SELECT {EVENT_COLUMNS}, project_id, payload FROM events WHERE event_id = ?1 AND (?2 IS NULL OR project_id = ?2) LIMIT 1"),
                    params![id, project],
                    |r| Ok((event_row(r)?, r.get::<_, i64>(7)?, r.get::<_, Vec<u8>>(8)?)),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("event {event_id}")))?;
            Ok(StoredEvent {
                summary: row.0,
                project_id: row.1,
                payload: decompress(&row.2)?,
            })
        })
    }

    /// The newest stored event of an issue (`None` once retention pruned them all).
    pub fn latest_event(&self, issue: i64) -> Result<Option<StoredEvent>> {
        let id: Option<String> = self.read(|c| {
            Ok(c.query_row(
                "SELECT event_id FROM events WHERE issue_id = ?1 ORDER BY timestamp DESC, id DESC LIMIT 1",
                [issue],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        id.map(|id| self.event(None, &id)).transpose()
    }

    pub fn change_issue(&self, id: i64, change: &IssueChange, now: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            let n = match change {
                IssueChange::Resolve { in_next_release } => c.execute(
                    "UPDATE issues SET status = 'resolved', substatus = NULL, resolved_at = ?2, resolved_in_release = CASE WHEN ?3 THEN coalesce(last_release, '') ELSE NULL END, ignore_until = NULL, ignore_until_count = NULL WHERE id = ?1",
                    params![id, ms(now), in_next_release],
                )?,
                IssueChange::Unresolve => c.execute(
                    "UPDATE issues SET status = 'unresolved', substatus = NULL, resolved_at = NULL, resolved_in_release = NULL, ignore_until = NULL, ignore_until_count = NULL WHERE id = ?1",
                    [id],
                )?,
                IssueChange::Ignore { until, more_events } => c.execute(
                    "UPDATE issues SET status = 'ignored', substatus = NULL, resolved_at = NULL, resolved_in_release = NULL, ignore_until = ?2, ignore_until_count = CASE WHEN ?3 IS NULL THEN NULL ELSE times_seen + ?3 END WHERE id = ?1",
                    params![id, until.map(ms), more_events.map(|n| n as i64)],
                )?,
            };
            if n == 0 {
                return Err(StoreError::NotFound(format!("issue {id}")));
            }
            Ok(())
        })
    }

    /// Ignored issues whose "ignore until" time has passed go back to unresolved.
    pub fn wake_ignored_issues(&self, now: DateTime<Utc>) -> Result<usize> {
        self.write(|c| {
            Ok(c.execute(
                "UPDATE issues SET status = 'unresolved', substatus = 'escalating', ignore_until = NULL, ignore_until_count = NULL WHERE status = 'ignored' AND ignore_until IS NOT NULL AND ignore_until <= ?1",
                [ms(now)],
            )?)
        })
    }

    /// `(project, issue, events)` that arrived in the minute starting at `minute`, for
    /// rate alerts.
    pub fn counts_in_minute(&self, minute: DateTime<Utc>) -> Result<Vec<(i64, i64, i64)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT i.project_id, m.issue_id, m.count FROM issue_minutely m JOIN issues i ON i.id = m.issue_id WHERE m.minute = ?1",
            )?;
            let rows = stmt
                .query_map([ms(minute)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// The level, environment and release of the newest stored event of each issue (or,
    /// with `by_project`, of each project), for the labels of rate alerts.
    pub fn newest_event_labels(
        &self,
        ids: &[i64],
        by_project: bool,
    ) -> Result<HashMap<i64, EventLabels>> {
        let sql = if by_project {
            "SELECT level, environment, release FROM events WHERE project_id = ?1 ORDER BY id DESC LIMIT 1"
        } else {
            "SELECT level, environment, release FROM events WHERE issue_id = ?1 ORDER BY id DESC LIMIT 1"
        };
        self.read(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let mut out = HashMap::new();
            for id in ids {
                let found = stmt
                    .query_row([id], |r| {
                        Ok(EventLabels {
                            level: r.get(0)?,
                            environment: r.get(1)?,
                            release: r.get(2)?,
                        })
                    })
                    .optional()?;
                if let Some(l) = found {
                    out.insert(*id, l);
                }
            }
            Ok(out)
        })
    }

    /// Issue states by id, for the alert evaluator.
    pub fn issue_states(&self, ids: &[i64]) -> Result<Vec<IssueSummary>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ISSUE_COLUMNS} FROM issues i WHERE i.id = ?1"
            ))?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(s) = stmt.query_row([id], issue_row).optional()? {
                    out.push(s);
                }
            }
            Ok(out)
        })
    }

    /// Drops payloads older than each project's retention; counts stay.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<usize> {
        let projects = self.projects()?;
        self.write(|c| {
            let mut removed = 0;
            for p in &projects {
                let cutoff = ms(now) - p.settings.retention.as_duration().as_millis() as i64;
                for sql in [
                    "DELETE FROM events WHERE project_id = ?1 AND received < ?2",
                    "DELETE FROM transactions WHERE project_id = ?1 AND received < ?2",
                    "DELETE FROM spans WHERE project_id = ?1 AND received < ?2",
                    "DELETE FROM attachments WHERE project_id = ?1 AND received < ?2",
                    "DELETE FROM sentry_logs WHERE project_id = ?1 AND timestamp < ?2",
                    "DELETE FROM feedback WHERE project_id = ?1 AND received < ?2",
                ] {
                    removed += c.execute(sql, params![p.id, cutoff])?;
                }
            }
            // Minute counts serve rate alerts only; hourly ones keep the history.
            c.execute(
                "DELETE FROM issue_minutely WHERE minute < ?1",
                [ms(now) - 86_400_000],
            )?;
            Ok(removed)
        })
    }
}
