//! Triage: what a team does to an issue beside resolving it. Assigning it to one of
//! Pharos's users (or to nobody), commenting on it, merging another issue into it, and
//! reading its timeline. Every action needs the edit permission and is attributed to the
//! caller (the signed-in user or the token), never to a name a request carries.

use chrono::Utc;
use pharos_model::access::Permission;
use serde::Deserialize;

pub use pharos_store::errors::{Activity, ActivityKind, Assignee};

use crate::{App, AppError, Caller};

/// The longest comment kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// `PUT /api/v1/issues/{id}/assignee`: a user's name, or `null` to unassign.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AssignIssue {
    pub assignee: Option<String>,
}

/// `POST /api/v1/issues/{id}/comments`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub text: String,
}

/// `POST /api/v1/issues/{id}/merge`: the issue merged into `{id}`, which is kept.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct MergeIssues {
    pub merge: i64,
}

impl App {
    /// The caller's own user, when it is a signed-in user (for "assigned to me").
    pub async fn caller_user_id(&self, caller: &Caller) -> Result<Option<i64>, AppError> {
        let Caller::User { name, .. } = caller else {
            return Ok(None);
        };
        let name = name.clone();
        let users = self.with_store(|s| s.users()).await?;
        Ok(users.into_iter().find(|u| u.name == name).map(|u| u.id))
    }

    /// Who an issue can be assigned to: every user, by name.
    pub async fn assignable_users(&self) -> Result<Vec<Assignee>, AppError> {
        let users = self.with_store(|s| s.users()).await?;
        Ok(users
            .into_iter()
            .map(|u| Assignee {
                id: u.id,
                name: u.name,
            })
            .collect())
    }

    /// Assigns an issue to a user by name, or to nobody.
    pub async fn assign_issue(
        &self,
        caller: &Caller,
        id: i64,
        a: &AssignIssue,
    ) -> Result<Option<Assignee>, AppError> {
        caller.require(Permission::Edit, "assign issues")?;
        let assignee = match a.assignee.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(
                self.assignable_users()
                    .await?
                    .into_iter()
                    .find(|u| u.name == name)
                    .ok_or_else(|| {
                        AppError::invalid_field("assignee", format!("no user is named {name:?}"))
                    })?,
            ),
        };
        let actor = caller.actor();
        let stored = assignee.clone();
        self.with_store(move |s| {
            s.errors()
                .assign_issue(id, stored.as_ref(), &actor, Utc::now())
        })
        .await?;
        tracing::info!(operation = "issue_assign", issue = id, assigned = assignee.is_some(), caller = %caller, "issue assigned");
        Ok(assignee)
    }

    /// Adds a comment by the caller to an issue's timeline.
    pub async fn comment_on_issue(
        &self,
        caller: &Caller,
        id: i64,
        c: &NewComment,
    ) -> Result<Activity, AppError> {
        caller.require(Permission::Edit, "comment on issues")?;
        let text = c.text.trim().to_string();
        if text.is_empty() {
            return Err(AppError::invalid_field("text", "a comment needs some text"));
        }
        if text.chars().count() > MAX_COMMENT_CHARS {
            return Err(AppError::invalid_field(
                "text",
                format!("a comment is at most {MAX_COMMENT_CHARS} characters"),
            ));
        }
        let actor = caller.actor();
        let activity = self
            .with_store(move |s| s.errors().comment_on_issue(id, &actor, &text, Utc::now()))
            .await?;
        tracing::info!(operation = "issue_comment", issue = id, caller = %caller, "issue commented");
        Ok(activity)
    }

    /// Merges issue `m.merge` into issue `into`: the kept issue gets its events and counts,
    /// and its future events.
    pub async fn merge_issues(
        &self,
        caller: &Caller,
        into: i64,
        m: &MergeIssues,
    ) -> Result<(), AppError> {
        caller.require(Permission::Edit, "merge issues")?;
        let (source, actor) = (m.merge, caller.actor());
        self.with_store(move |s| s.errors().merge_issues(source, into, &actor, Utc::now()))
            .await?;
        tracing::info!(operation = "issue_merge", issue = into, merged = source, caller = %caller, "issues merged");
        Ok(())
    }

    /// An issue's timeline, oldest first.
    pub async fn issue_activity(&self, id: i64) -> Result<Vec<Activity>, AppError> {
        self.with_store(move |s| {
            s.errors().issue(id)?;
            s.errors().issue_activity(id)
        })
        .await
    }
}
