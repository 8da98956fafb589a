//! What people do to issues beside resolving them: assigning them to a user, commenting,
//! and merging two issues into one (events, counts, tags and users move; the merged
//! issue's fingerprint hash becomes an alias, so its new events land in the kept issue).
//! Each action leaves a row in the issue's activity, its timeline.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::ErrorStore;
use crate::{Result, StoreError, from_ms, ms};

/// The most comments one issue keeps; beyond it a comment is refused, not a row dropped.
pub const MAX_COMMENTS_PER_ISSUE: i64 = 1000;
/// The most activity rows shown at once, newest kept.
pub const ACTIVITY_LIMIT: u32 = 200;

/// Who an issue is assigned to: a user of `pharos.db`, named as when it was assigned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assignee {
    pub id: i64,
    pub name: String,
}

/// What happened to an issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Comment,
    Assigned,
    Unassigned,
    /// Another issue was merged into this one.
    Merged,
    /// Resolved, ignored or reopened by a person.
    StatusChanged,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Comment => "comment",
            ActivityKind::Assigned => "assigned",
            ActivityKind::Unassigned => "unassigned",
            ActivityKind::Merged => "merged",
            ActivityKind::StatusChanged => "status_changed",
        }
    }

    fn parse(s: &str) -> ActivityKind {
        match s {
            "comment" => ActivityKind::Comment,
            "assigned" => ActivityKind::Assigned,
            "unassigned" => ActivityKind::Unassigned,
            "merged" => ActivityKind::Merged,
            _ => ActivityKind::StatusChanged,
        }
    }
}

/// One row of an issue's timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Activity {
    pub id: i64,
    pub issue_id: i64,
    pub at: DateTime<Utc>,
    /// The signed-in user or API token that acted, as the caller named it.
    pub actor: String,
    pub kind: ActivityKind,
    /// The comment, the assignee's name, the merged issue, the new status.
    pub body: Option<String>,
}

fn add_activity(
    tx: &Transaction<'_>,
    issue: i64,
    at: DateTime<Utc>,
    actor: &str,
    kind: ActivityKind,
    body: Option<&str>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO issue_activity(issue_id, at, actor, kind, body) VALUES(?1, ?2, ?3, ?4, ?5)",
        params![issue, ms(at), actor, kind.as_str(), body],
    )?;
    Ok(())
}

fn require_issue(tx: &Transaction<'_>, id: i64) -> Result<(i64, String, String)> {
    tx.query_row(
        "SELECT project_id, hash, title FROM issues WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("issue {id}")))
}

impl ErrorStore {
    /// Assigns the issue to a user, or to nobody.
    pub fn assign_issue(
        &self,
        id: i64,
        assignee: Option<&Assignee>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            require_issue(&tx, id)?;
            tx.execute(
                "UPDATE issues SET assignee_id = ?2, assignee_name = ?3 WHERE id = ?1",
                params![
                    id,
                    assignee.map(|a| a.id),
                    assignee.map(|a| a.name.as_str())
                ],
            )?;
            match assignee {
                Some(a) => {
                    add_activity(&tx, id, now, actor, ActivityKind::Assigned, Some(&a.name))?
                }
                None => add_activity(&tx, id, now, actor, ActivityKind::Unassigned, None)?,
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Adds a comment to the issue's timeline.
    pub fn comment_on_issue(
        &self,
        id: i64,
        actor: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Activity> {
        self.write(|c| {
            let tx = c.transaction()?;
            require_issue(&tx, id)?;
            let comments: i64 = tx.query_row(
                "SELECT count(*) FROM issue_activity WHERE issue_id = ?1 AND kind = 'comment'",
                [id],
                |r| r.get(0),
            )?;
            if comments >= MAX_COMMENTS_PER_ISSUE {
                return Err(StoreError::Conflict(format!(
                    "issue {id} already has {MAX_COMMENTS_PER_ISSUE} comments"
                )));
            }
            add_activity(&tx, id, now, actor, ActivityKind::Comment, Some(text))?;
            let row = tx.last_insert_rowid();
            tx.commit()?;
            Ok(Activity {
                id: row,
                issue_id: id,
                at: now,
                actor: actor.to_string(),
                kind: ActivityKind::Comment,
                body: Some(text.to_string()),
            })
        })
    }

    /// Notes a status change a person made (resolve, ignore, reopen) on the timeline.
    pub fn note_status_change(
        &self,
        id: i64,
        actor: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            require_issue(&tx, id)?;
            add_activity(
                &tx,
                id,
                now,
                actor,
                ActivityKind::StatusChanged,
                Some(status),
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The issue's timeline, oldest first, at most [`ACTIVITY_LIMIT`] of the newest rows.
    pub fn issue_activity(&self, id: i64) -> Result<Vec<Activity>> {
        self.read(|c| {
            let mut rows = c
                .prepare_cached(
                    "SELECT id, issue_id, at, actor, kind, body FROM issue_activity WHERE issue_id = ?1 ORDER BY id DESC LIMIT ?2",
                )?
                .query_map(params![id, ACTIVITY_LIMIT], |r| {
                    Ok(Activity {
                        id: r.get(0)?,
                        issue_id: r.get(1)?,
                        at: from_ms(r.get(2)?),
                        actor: r.get(3)?,
                        kind: ActivityKind::parse(&r.get::<_, String>(4)?),
                        body: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.reverse();
            Ok(rows)
        })
    }

    /// The issue a merged issue now lives in, if `id` was merged.
    pub fn merged_into(&self, id: i64) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT merged_into FROM merged_issues WHERE issue_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// Merges issue `source` into issue `into` (same project): its events, counts, tags,
    /// users, timeline and aliases move, its hash becomes an alias of `into`, and it is
    /// deleted. One transaction, so ingest never sees half a merge.
    pub fn merge_issues(
        &self,
        source: i64,
        into: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if source == into {
            return Err(StoreError::Conflict(
                "an issue cannot be merged into itself".into(),
            ));
        }
        self.write(|c| {
            let tx = c.transaction()?;
            let (src_project, src_hash, src_title) = require_issue(&tx, source)?;
            let (into_project, _, _) = require_issue(&tx, into)?;
            if src_project != into_project {
                return Err(StoreError::Conflict(format!(
                    "issue {source} is in project {src_project} and issue {into} in project {into_project}; only issues of one project can be merged"
                )));
            }
            for sql in [
                "UPDATE events SET issue_id = ?2 WHERE issue_id = ?1",
                "INSERT INTO issue_tags(issue_id, key, value, times_seen, first_seen, last_seen) SELECT ?2, key, value, times_seen, first_seen, last_seen FROM issue_tags WHERE issue_id = ?1 AND true
                 ON CONFLICT(issue_id, key, value) DO UPDATE SET times_seen = times_seen + excluded.times_seen, first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)",
                "INSERT INTO issue_hourly(issue_id, hour, count) SELECT ?2, hour, count FROM issue_hourly WHERE issue_id = ?1 AND true
                 ON CONFLICT(issue_id, hour) DO UPDATE SET count = count + excluded.count",
                "INSERT INTO issue_minutely(issue_id, minute, count) SELECT ?2, minute, count FROM issue_minutely WHERE issue_id = ?1 AND true
                 ON CONFLICT(issue_id, minute) DO UPDATE SET count = count + excluded.count",
                "INSERT OR IGNORE INTO issue_users(issue_id, user) SELECT ?2, user FROM issue_users WHERE issue_id = ?1",
                "UPDATE issues SET
                    times_seen = times_seen + (SELECT times_seen FROM issues WHERE id = ?1),
                    first_seen = min(first_seen, (SELECT first_seen FROM issues WHERE id = ?1)),
                    last_event_id = CASE WHEN (SELECT last_seen FROM issues WHERE id = ?1) > last_seen THEN (SELECT last_event_id FROM issues WHERE id = ?1) ELSE last_event_id END,
                    last_seen = max(last_seen, (SELECT last_seen FROM issues WHERE id = ?1)),
                    users = (SELECT count(*) FROM issue_users WHERE issue_id = ?2)
                 WHERE id = ?2",
                "UPDATE issue_aliases SET issue_id = ?2 WHERE issue_id = ?1",
                "UPDATE issue_activity SET issue_id = ?2 WHERE issue_id = ?1",
            ] {
                tx.execute(sql, params![source, into])?;
            }
            for sql in [
                "DELETE FROM issue_tags WHERE issue_id = ?1",
                "DELETE FROM issue_hourly WHERE issue_id = ?1",
                "DELETE FROM issue_minutely WHERE issue_id = ?1",
                "DELETE FROM issue_users WHERE issue_id = ?1",
                "DELETE FROM issues WHERE id = ?1",
            ] {
                tx.execute(sql, [source])?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO issue_aliases(project_id, hash, issue_id) VALUES(?1, ?2, ?3)",
                params![src_project, src_hash, into],
            )?;
            // Links to the merged issue (alerts, chat messages) lead to the one kept.
            tx.execute(
                "UPDATE merged_issues SET merged_into = ?2 WHERE merged_into = ?1",
                params![source, into],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO merged_issues(issue_id, merged_into) VALUES(?1, ?2)",
                params![source, into],
            )?;
            let note = format!("#{source} {src_title}");
            add_activity(&tx, into, now, actor, ActivityKind::Merged, Some(&note))?;
            tx.commit()?;
            Ok(())
        })
    }
}
