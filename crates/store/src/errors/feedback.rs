//! User feedback: stored once per project and feedback id, linked to an issue through the
//! event it is about (so feedback sent before its event, or an event moved by a merge,
//! still lands on the right issue), listed per project and per issue, pruned with the
//! project's event payloads.

use chrono::{DateTime, Utc};
use pharos_model::sentry::{Feedback, FeedbackSource};
use rusqlite::{Connection, Row, params};
use serde::Serialize;

use super::{ErrorStore, Page};
use crate::{Result, from_ms, ms};

/// The most feedback shown on one issue (newest first); the project list pages the rest.
pub const ISSUE_FEEDBACK_LIMIT: u32 = 50;

#[derive(Clone, Debug, Serialize)]
pub struct StoredFeedback {
    pub id: i64,
    pub project_id: i64,
    pub feedback_id: String,
    pub associated_event_id: Option<String>,
    /// The issue of the associated event, when that event is stored.
    pub issue_id: Option<i64>,
    /// `feedback` (SDK feedback item) or `user_report` (the older report).
    pub source: &'static str,
    pub message: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub url: Option<String>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub received: DateTime<Utc>,
    /// Files sent with it (the feedback widget's screenshot), as attachments of its id.
    pub attachments: Vec<FeedbackAttachment>,
}

/// A file sent with a feedback; its bytes are at `/api/v1/attachments/{id}`.
#[derive(Clone, Debug, Serialize)]
pub struct FeedbackAttachment {
    pub id: i64,
    pub filename: String,
    pub size: i64,
}

const COLUMNS: &str = "f.id, f.project_id, f.feedback_id, f.associated_event_id, e.issue_id, f.source, f.message, f.name, f.email, f.url, f.environment, f.release, f.timestamp, f.received";

fn row(r: &Row<'_>) -> rusqlite::Result<StoredFeedback> {
    Ok(StoredFeedback {
        id: r.get(0)?,
        project_id: r.get(1)?,
        feedback_id: r.get(2)?,
        associated_event_id: r.get(3)?,
        issue_id: r.get(4)?,
        source: FeedbackSource::parse(&r.get::<_, String>(5)?).as_str(),
        message: r.get(6)?,
        name: r.get(7)?,
        email: r.get(8)?,
        url: r.get(9)?,
        environment: r.get(10)?,
        release: r.get(11)?,
        timestamp: from_ms(r.get(12)?),
        received: from_ms(r.get(13)?),
        attachments: Vec::new(),
    })
}

/// Fills in each feedback's attachments (one indexed lookup each; pages are bounded).
fn with_attachments(c: &Connection, mut items: Vec<StoredFeedback>) -> Result<Vec<StoredFeedback>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, filename, size FROM attachments WHERE project_id = ?1 AND event_id = ?2 ORDER BY id LIMIT 10",
    )?;
    for f in &mut items {
        f.attachments = stmt
            .query_map(params![f.project_id, f.feedback_id], |r| {
                Ok(FeedbackAttachment {
                    id: r.get(0)?,
                    filename: r.get(1)?,
                    size: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(items)
}

/// Inside the ingest transaction; 0 when this feedback was already stored (an SDK retry).
pub(super) fn insert(c: &Connection, project: i64, f: &Feedback, received: i64) -> Result<usize> {
    Ok(c.prepare_cached(
        "INSERT OR IGNORE INTO feedback(project_id, feedback_id, associated_event_id, source, message, name, email, url, environment, release, timestamp, received) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        project,
        f.feedback_id,
        f.associated_event_id,
        f.source.as_str(),
        f.message,
        f.name,
        f.email,
        f.url,
        f.environment,
        f.release,
        ms(f.timestamp),
        received
    ])?)
}

impl ErrorStore {
    /// A project's feedback, newest first.
    pub fn project_feedback(
        &self,
        project: i64,
        page: u32,
        per_page: u32,
    ) -> Result<Page<StoredFeedback>> {
        let offset = (page.max(1) - 1) as i64 * per_page as i64;
        self.read(|c| {
            let total: i64 = c.query_row(
                "SELECT count(*) FROM feedback WHERE project_id = ?1",
                [project],
                |r| r.get(0),
            )?;
            let items = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM feedback f LEFT JOIN events e ON e.project_id = f.project_id AND e.event_id = f.associated_event_id WHERE f.project_id = ?1 ORDER BY f.received DESC, f.id DESC LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(params![project, per_page, offset], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let items = with_attachments(c, items)?;
            Ok(Page {
                items,
                total: total as u64,
                page: page.max(1),
                per_page,
            })
        })
    }

    /// The newest feedback about the events of an issue, at most [`ISSUE_FEEDBACK_LIMIT`].
    pub fn issue_feedback(&self, issue: i64) -> Result<Vec<StoredFeedback>> {
        self.read(|c| {
            let items = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM events e JOIN feedback f ON f.project_id = e.project_id AND f.associated_event_id = e.event_id WHERE e.issue_id = ?1 ORDER BY f.received DESC, f.id DESC LIMIT ?2"
                ))?
                .query_map(params![issue, ISSUE_FEEDBACK_LIMIT], row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            with_attachments(c, items)
        })
    }
}
