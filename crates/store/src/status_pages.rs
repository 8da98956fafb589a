//! What the status pages read and keep: incident and maintenance posts with their updates
//! (`status_posts`, `status_post_updates`), and each component's uptime per day, summed
//! from the hourly roll-ups so that 90 days cost at most 90 rows per component.

use chrono::{DateTime, Utc};
use pharos_model::MonitorId;
use pharos_model::status_page::{
    AffectedComponent, MAX_POSTS_PER_PAGE, MAX_UPDATES, PostKind, PostStatus, PostUpdate,
    StatusPost,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Result, Store, StoreError, from_ms, ms};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// One UTC day of a monitor's checks, from `uptime_hourly`.
#[derive(Clone, Debug, PartialEq)]
pub struct DayChecks {
    /// Midnight UTC starting the day.
    pub day: DateTime<Utc>,
    pub checks: u64,
    pub up: u64,
    /// Minutes down, estimated hour by hour: the share of failed checks in an hour times
    /// the minutes of that hour that have passed.
    pub down_minutes: f64,
}

/// A post as made: the first update comes with it.
#[derive(Clone, Debug)]
pub struct NewStatusPost {
    pub page: String,
    pub kind: PostKind,
    pub title: String,
    pub components: Vec<AffectedComponent>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    pub author: String,
    pub first: NewStatusUpdate,
}

#[derive(Clone, Debug)]
pub struct NewStatusUpdate {
    pub status: PostStatus,
    pub message: String,
    pub author: String,
    pub at: DateTime<Utc>,
}

/// Fields of a post that may change after it is made; `None` leaves one as it is.
#[derive(Clone, Debug, Default)]
pub struct StatusPostChange {
    pub title: Option<String>,
    pub components: Option<Vec<AffectedComponent>>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl Store {
    /// Stores a post and its first update in one transaction. A page keeps its last
    /// `MAX_POSTS_PER_PAGE` posts: at the limit the oldest finished one goes (a team must
    /// be able to post during an outage years from now); only a page whose every post is
    /// still open refuses.
    pub fn create_status_post(&self, p: &NewStatusPost) -> Result<i64> {
        let components = serde_json::to_string(&p.components).map_err(corrupt)?;
        self.write(|c| {
            let tx = c.transaction()?;
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM status_posts WHERE page = ?1",
                [&p.page],
                |r| r.get(0),
            )?;
            if count as usize >= MAX_POSTS_PER_PAGE {
                let dropped = tx.execute(
                    "DELETE FROM status_posts WHERE id IN (
                        SELECT id FROM status_posts WHERE page = ?1 AND resolved_at IS NOT NULL
                        ORDER BY resolved_at, id LIMIT ?2)",
                    params![p.page, count - MAX_POSTS_PER_PAGE as i64 + 1],
                )?;
                if dropped == 0 {
                    return Err(StoreError::Conflict(format!(
                        "status page {:?} has {MAX_POSTS_PER_PAGE} posts still open; resolve or delete some first",
                        p.page
                    )));
                }
            }
            let at = ms(p.at);
            let resolved = p.first.status.is_final().then_some(at);
            tx.execute(
                "INSERT INTO status_posts(page, kind, title, components, starts_at, ends_at, created_at, updated_at, resolved_at, created_by)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
                params![
                    p.page,
                    p.kind.as_str(),
                    p.title,
                    components,
                    p.starts_at.map(ms),
                    p.ends_at.map(ms),
                    at,
                    resolved,
                    p.author
                ],
            )?;
            let id = tx.last_insert_rowid();
            insert_update(&tx, id, &p.first)?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// Adds an update to post `id` of `page`; a resolved or completed status resolves the
    /// post, any other reopens it.
    pub fn add_status_update(&self, page: &str, id: i64, u: &NewStatusUpdate) -> Result<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            exists(&tx, page, id)?;
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM status_post_updates WHERE post_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            if count as usize >= MAX_UPDATES {
                return Err(StoreError::Conflict(format!(
                    "post {id} already has {MAX_UPDATES} updates; make a new post"
                )));
            }
            insert_update(&tx, id, u)?;
            let at = ms(u.at);
            tx.execute(
                "UPDATE status_posts SET updated_at = ?2, resolved_at = ?3 WHERE id = ?1",
                params![id, at, u.status.is_final().then_some(at)],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub fn change_status_post(
        &self,
        page: &str,
        id: i64,
        change: &StatusPostChange,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let components = change
            .components
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(corrupt)?;
        self.write(|c| {
            let tx = c.transaction()?;
            exists(&tx, page, id)?;
            tx.execute(
                "UPDATE status_posts SET title = COALESCE(?2, title), components = COALESCE(?3, components),
                 starts_at = COALESCE(?4, starts_at), ends_at = COALESCE(?5, ends_at), updated_at = ?6 WHERE id = ?1",
                params![
                    id,
                    change.title,
                    components,
                    change.starts_at.map(ms),
                    change.ends_at.map(ms),
                    ms(at)
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub fn delete_status_post(&self, page: &str, id: i64) -> Result<()> {
        self.write(|c| {
            if c.execute(
                "DELETE FROM status_posts WHERE page = ?1 AND id = ?2",
                params![page, id],
            )? == 0
            {
                return Err(StoreError::NotFound(format!("status post {id}")));
            }
            Ok(())
        })
    }

    pub fn status_post(&self, page: &str, id: i64) -> Result<Option<StatusPost>> {
        self.read(|c| {
            let post = c
                .query_row(
                    &format!("{SELECT_POST} WHERE page = ?1 AND id = ?2"),
                    params![page, id],
                    post_row,
                )
                .optional()?;
            match post {
                Some(p) => Ok(Some(with_updates(c, p?)?)),
                None => Ok(None),
            }
        })
    }

    /// The posts of `page` a visitor may need, newest first, at most `limit`: those not
    /// over (an open incident, a maintenance not yet completed whose window has not
    /// passed `since`), and those resolved or changed since `since`.
    pub fn status_posts(
        &self,
        page: &str,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StatusPost>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SELECT_POST} WHERE page = ?1 AND (
                    (resolved_at IS NULL AND (ends_at IS NULL OR ends_at >= ?2))
                    OR resolved_at >= ?2 OR updated_at >= ?2)
                 ORDER BY created_at DESC, id DESC LIMIT ?3"
            ))?;
            let posts = stmt
                .query_map(params![page, ms(since), limit as i64], post_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            posts
                .into_iter()
                .map(|p| with_updates(c, p?))
                .collect::<Result<Vec<_>>>()
        })
    }

    /// `id`'s checks per UTC day from the day holding `since` to now, oldest first; days
    /// without checks are left out. Minutes down are estimated per hour as its share of
    /// failed checks times the time that hour has run, and, with `minutes_per_check` (the
    /// monitor's interval), at most the failed checks times it: a monitor made a minute ago
    /// that failed its first checks was not down for the whole hour before it.
    pub fn uptime_days(
        &self,
        id: &MonitorId,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        minutes_per_check: Option<f64>,
    ) -> Result<Vec<DayChecks>> {
        let start = ms(since) - ms(since).rem_euclid(DAY_MS);
        let now_ms = ms(now);
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT hour - (hour % ?3) AS day, SUM(checks), SUM(up),
                        SUM(MIN(CAST(checks - up AS REAL) / checks * MIN(60.0, MAX(0.0, (?4 - hour) / 60000.0)),
                                coalesce(?5 * (checks - up), 1e18)))
                 FROM uptime_hourly WHERE monitor_id = ?1 AND hour >= ?2 AND checks > 0
                 GROUP BY day ORDER BY day",
            )?;
            let rows = stmt.query_map(
                params![id.as_str(), start, DAY_MS, now_ms, minutes_per_check],
                |r| {
                Ok(DayChecks {
                    day: from_ms(r.get(0)?),
                    checks: r.get(1)?,
                    up: r.get(2)?,
                    down_minutes: r.get(3)?,
                })
                },
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

const SELECT_POST: &str = "SELECT id, page, kind, title, components, starts_at, ends_at, created_at, updated_at, resolved_at, created_by FROM status_posts";

fn post_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StatusPost>> {
    let kind: String = r.get(2)?;
    let components: String = r.get(4)?;
    let kind = match PostKind::parse(&kind) {
        Some(k) => k,
        None => return Ok(Err(StoreError::Corrupt(format!("post kind {kind:?}")))),
    };
    let components: Vec<AffectedComponent> = match serde_json::from_str(&components) {
        Ok(c) => c,
        Err(e) => return Ok(Err(corrupt(e))),
    };
    Ok(Ok(StatusPost {
        id: r.get(0)?,
        page: r.get(1)?,
        kind,
        title: r.get(3)?,
        components,
        starts_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
        ends_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
        created_at: from_ms(r.get(7)?),
        updated_at: from_ms(r.get(8)?),
        resolved_at: r.get::<_, Option<i64>>(9)?.map(from_ms),
        created_by: r.get(10)?,
        updates: Vec::new(),
    }))
}

fn with_updates(c: &Connection, mut post: StatusPost) -> Result<StatusPost> {
    let mut stmt = c.prepare_cached(
        "SELECT id, at, status, message, author FROM status_post_updates WHERE post_id = ?1 ORDER BY at DESC, id DESC",
    )?;
    let rows = stmt.query_map([post.id], |r| {
        let status: String = r.get(2)?;
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            status,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    for row in rows {
        let (id, at, status, message, author) = row?;
        let status = PostStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("post status {status:?}")))?;
        post.updates.push(PostUpdate {
            id,
            at: from_ms(at),
            status,
            message,
            author,
        });
    }
    Ok(post)
}

fn exists(c: &Connection, page: &str, id: i64) -> Result<()> {
    let found: Option<i64> = c
        .query_row(
            "SELECT id FROM status_posts WHERE page = ?1 AND id = ?2",
            params![page, id],
            |r| r.get(0),
        )
        .optional()?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("status post {id}")))
}

fn insert_update(c: &Connection, post: i64, u: &NewStatusUpdate) -> Result<()> {
    c.execute(
        "INSERT INTO status_post_updates(post_id, at, status, message, author) VALUES(?1, ?2, ?3, ?4, ?5)",
        params![post, ms(u.at), u.status.as_str(), u.message, u.author],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp_store;
    use chrono::TimeZone;
    use pharos_model::probe::{Outcome, ProbeResult};
    use pharos_model::status_page::Impact;

    fn check(id: &MonitorId, at: DateTime<Utc>, outcome: Outcome) -> ProbeResult {
        ProbeResult {
            monitor: id.clone(),
            at,
            outcome,
            latency_ms: Some(1.0),
            status_code: None,
            error: None,
            tls_days_left: None,
            numbers: Vec::new(),
        }
    }

    /// Down from 02:13 to 02:41 with a check a minute: 28 minutes on that day's bar.
    #[test]
    fn an_outage_shows_as_minutes_down_on_its_day() {
        let (store, _dir) = temp_store();
        let id: MonitorId = "api".parse().unwrap();
        let day = Utc.with_ymd_and_hms(2026, 3, 4, 0, 0, 0).unwrap();
        let mut checks = Vec::new();
        for minute in 0..(24 * 60) {
            let at = day + chrono::Duration::minutes(minute);
            let down = (2 * 60 + 13..2 * 60 + 41).contains(&minute);
            let outcome = if down { Outcome::Down } else { Outcome::Up };
            let status = crate::MonitorStatus::new(id.clone(), at);
            checks.push((check(&id, at, outcome), status));
        }
        store.record_checks(&checks).unwrap();
        let now = day + chrono::Duration::days(2);
        let days = store
            .uptime_days(&id, day - chrono::Duration::days(5), now, Some(1.0))
            .unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].day, day);
        assert_eq!(days[0].checks, 1440);
        assert_eq!(days[0].up, 1440 - 28);
        assert!((days[0].down_minutes - 28.0).abs() < 0.01, "{days:?}");
    }

    /// A 1 s monitor made at 10:50 that failed its first ten checks was down ten seconds,
    /// not the fifty minutes the hour had run.
    #[test]
    fn a_new_monitor_is_not_down_before_its_first_check() {
        let (store, _dir) = temp_store();
        let id: MonitorId = "new".parse().unwrap();
        let start = Utc.with_ymd_and_hms(2026, 3, 4, 10, 50, 0).unwrap();
        let checks: Vec<_> = (0..10)
            .map(|s| {
                let at = start + chrono::Duration::seconds(s);
                let status = crate::MonitorStatus::new(id.clone(), at);
                (check(&id, at, Outcome::Down), status)
            })
            .collect();
        store.record_checks(&checks).unwrap();
        let now = start + chrono::Duration::seconds(10);
        let per_check = Some(1.0 / 60.0);
        let days = store.uptime_days(&id, start, now, per_check).unwrap();
        assert!(
            (days[0].down_minutes - 10.0 / 60.0).abs() < 0.01,
            "{days:?}"
        );
        // Without the interval, the estimate is the share of the hour that has run.
        let days = store.uptime_days(&id, start, now, None).unwrap();
        assert!((days[0].down_minutes - 50.0).abs() < 0.5, "{days:?}");
    }

    /// At the limit a new post takes the place of the oldest finished one.
    #[test]
    fn a_full_page_drops_its_oldest_finished_post() {
        let (store, _dir) = temp_store();
        let at = Utc::now();
        let post = |title: &str, status: PostStatus| NewStatusPost {
            page: "main".into(),
            kind: PostKind::Incident,
            title: title.into(),
            components: Vec::new(),
            starts_at: None,
            ends_at: None,
            at,
            author: "ann".into(),
            first: NewStatusUpdate {
                status,
                message: "m".into(),
                author: "ann".into(),
                at,
            },
        };
        let oldest = store
            .create_status_post(&post("oldest", PostStatus::Resolved))
            .unwrap();
        for _ in 1..MAX_POSTS_PER_PAGE {
            store
                .create_status_post(&post("open", PostStatus::Investigating))
                .unwrap();
        }
        let newest = store
            .create_status_post(&post("newest", PostStatus::Investigating))
            .unwrap();
        assert!(store.status_post("main", oldest).unwrap().is_none());
        assert!(store.status_post("main", newest).unwrap().is_some());
        // Every post open: nothing to drop, refused.
        assert!(matches!(
            store.create_status_post(&post("one more", PostStatus::Investigating)),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn posts_keep_their_updates_and_bounds() {
        let (store, _dir) = temp_store();
        let at = Utc::now();
        let first = NewStatusUpdate {
            status: PostStatus::Investigating,
            message: "Looking".into(),
            author: "ann".into(),
            at,
        };
        let id = store
            .create_status_post(&NewStatusPost {
                page: "main".into(),
                kind: PostKind::Incident,
                title: "API errors".into(),
                components: vec![AffectedComponent {
                    component: "api".parse().unwrap(),
                    impact: Impact::PartialOutage,
                }],
                starts_at: None,
                ends_at: None,
                at,
                author: "ann".into(),
                first: first.clone(),
            })
            .unwrap();
        let later = NewStatusUpdate {
            status: PostStatus::Resolved,
            message: "Fixed".into(),
            at: at + chrono::Duration::minutes(5),
            ..first.clone()
        };
        store.add_status_update("main", id, &later).unwrap();
        let post = store.status_post("main", id).unwrap().unwrap();
        assert_eq!(post.updates.len(), 2);
        assert_eq!(post.status(), PostStatus::Resolved);
        assert!(post.resolved_at.is_some());
        // Another page's post is not found through this one.
        assert!(store.status_post("other", id).unwrap().is_none());
        assert!(matches!(
            store.add_status_update("other", id, &later),
            Err(StoreError::NotFound(_))
        ));
        for _ in 2..MAX_UPDATES {
            store.add_status_update("main", id, &later).unwrap();
        }
        assert!(matches!(
            store.add_status_update("main", id, &later),
            Err(StoreError::Conflict(_))
        ));
        let listed = store
            .status_posts("main", at - chrono::Duration::days(14), 10)
            .unwrap();
        assert_eq!(listed.len(), 1);
        store.delete_status_post("main", id).unwrap();
        assert!(store.status_post("main", id).unwrap().is_none());
    }
}
