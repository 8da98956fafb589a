//! Reading user feedback: a project's, newest first and paged, and an issue's (through the
//! events it is about). Accepting feedback is `sentry`'s (envelope items and the
//! user-feedback endpoint). Feedback carries people's names and emails: it is shown to the
//! team that may read issues and never written to a log line.

pub use pharos_store::errors::{ISSUE_FEEDBACK_LIMIT, Page, StoredFeedback};

use crate::{App, AppError};

/// Feedback listed per page at most.
pub const MAX_FEEDBACK_PER_PAGE: u32 = 100;

impl App {
    /// A project's feedback, newest first.
    pub async fn project_feedback(
        &self,
        project: i64,
        page: Option<u32>,
        per_page: Option<u32>,
    ) -> Result<Page<StoredFeedback>, AppError> {
        let page = page.unwrap_or(1).max(1);
        let per_page = per_page.unwrap_or(50).clamp(1, MAX_FEEDBACK_PER_PAGE);
        self.with_store(move |s| {
            s.errors().project(project)?;
            s.errors().project_feedback(project, page, per_page)
        })
        .await
    }

    /// The newest feedback about an issue's events.
    pub async fn issue_feedback(&self, issue: i64) -> Result<Vec<StoredFeedback>, AppError> {
        self.with_store(move |s| {
            s.errors().issue(issue)?;
            s.errors().issue_feedback(issue)
        })
        .await
    }
}
