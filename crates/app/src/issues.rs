//! Error tracking as people use it: searching issues (with 24-hour sparklines), an issue
//! with its events and attachments, what a person does to an issue (resolve, unresolve,
//! ignore), and transaction summaries with their slowest samples. Assigning, comments
//! and merges are `triage`'s; feedback is `feedback`'s.

use chrono::{DateTime, Duration, Utc};
use pharos_model::HumanDuration;
use pharos_model::access::Permission;
use pharos_store::errors::search::IssueSort;
use pharos_store::errors::{AssigneeFilter, IssueChange, IssueQuery};
use serde::{Deserialize, Serialize};

pub use pharos_store::errors::{
    EventSummary, IssueDetail, IssueSummary, Page, StoredEvent, TagDistribution, TransactionSample,
    TransactionSummary,
};

use crate::{App, AppError, Caller};

/// A search over issues.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IssueListQuery {
    /// Search: `is:unresolved level:error environment:production tenant_id:acme text`.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub project: Option<i64>,
    /// `date` (last seen, default), `new`, `freq`, `user`.
    #[serde(default)]
    pub sort: Option<String>,
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default)]
    pub per_page: Option<u32>,
}

#[derive(Serialize)]
pub struct IssueListItem {
    #[serde(flatten)]
    pub issue: IssueSummary,
    /// Events per hour over the last 24 hours, oldest first.
    pub sparkline: Vec<i64>,
}

/// What a person does to an issue: resolve (optionally in the next release), unresolve,
/// ignore (for a while, or until N more events).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct IssueUpdate {
    pub status: String,
    #[serde(default)]
    pub in_next_release: bool,
    /// Ignore for this long (`30m`, `24h`).
    #[serde(default)]
    pub ignore_duration: Option<HumanDuration>,
    /// Ignore until this many more events.
    #[serde(default)]
    pub ignore_count: Option<u64>,
}

impl IssueUpdate {
    pub fn change(&self, now: DateTime<Utc>) -> Result<IssueChange, AppError> {
        Ok(match self.status.as_str() {
            "resolved" => IssueChange::Resolve {
                in_next_release: self.in_next_release,
            },
            "unresolved" => IssueChange::Unresolve,
            "ignored" => IssueChange::Ignore {
                until: self
                    .ignore_duration
                    .map(|d| now + Duration::from_std(d.as_duration()).unwrap_or_default()),
                more_events: self.ignore_count,
            },
            other => {
                return Err(AppError::invalid_field(
                    "status",
                    format!("{other:?} is not resolved, unresolved or ignored"),
                ));
            }
        })
    }
}

/// An attachment of an event, as listed with it.
#[derive(Serialize)]
pub struct AttachmentRef {
    pub id: i64,
    pub filename: String,
    pub content_type: Option<String>,
    pub size: i64,
}

/// An attachment's file.
pub struct AttachmentFile {
    pub filename: String,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// Transactions summarised over a period; with a name, that transaction's slowest
/// samples too.
pub struct TransactionReport {
    pub summaries: Vec<TransactionSummary>,
    pub slowest: Option<Vec<TransactionSample>>,
    pub period: HumanDuration,
}

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(3600), 0).unwrap_or(t)
}

impl App {
    /// Issues matching a query, with 24-hour sparklines; `assigned:me` is the caller's.
    pub async fn issues(
        &self,
        caller: &Caller,
        q: IssueListQuery,
    ) -> Result<Page<IssueListItem>, AppError> {
        let mut search = IssueQuery::parse(q.query.as_deref().unwrap_or(""))
            .map_err(|e| AppError::invalid_field("query", e))?;
        if search.assigned == Some(AssigneeFilter::Me)
            && let Some(me) = self.caller_user_id(caller).await?
        {
            search.assigned = Some(AssigneeFilter::User(me));
        }
        if q.project.is_some() {
            search.project = q.project;
        }
        if let Some(s) = &q.sort {
            search.sort = IssueSort::parse(s)
                .ok_or_else(|| AppError::invalid_field("sort", "use date, new, freq or user"))?;
        }
        let page = q.page.unwrap_or(1).max(1);
        let per_page = q.per_page.unwrap_or(25).clamp(1, 100);
        let since = hour_floor(Utc::now()) - Duration::hours(23);
        let (issues, counts) = self
            .with_store(move |s| {
                let issues = s.errors().issues(&search, page, per_page)?;
                let ids: Vec<i64> = issues.items.iter().map(|i| i.id).collect();
                let counts = s.errors().hourly_counts(&ids, since)?;
                Ok((issues, counts))
            })
            .await?;
        let items = issues
            .items
            .into_iter()
            .map(|issue| {
                let mut spark = vec![0i64; 24];
                for (hour, n) in counts.get(&issue.id).into_iter().flatten() {
                    let i = (*hour - since).num_hours();
                    if (0..24).contains(&i) {
                        spark[i as usize] += n;
                    }
                }
                IssueListItem {
                    issue,
                    sparkline: spark,
                }
            })
            .collect();
        Ok(Page {
            items,
            total: issues.total,
            page: issues.page,
            per_page: issues.per_page,
        })
    }

    /// An issue; one merged into another is "not found", saying which it went to.
    pub async fn issue(&self, id: i64) -> Result<IssueDetail, AppError> {
        match self.with_store(move |s| s.errors().issue(id)).await {
            Err(AppError::NotFound(what)) => match self.merged_into(id).await? {
                Some(into) => Err(AppError::NotFound(format!(
                    "issue {id} (it was merged into issue {into})"
                ))),
                None => Err(AppError::NotFound(what)),
            },
            other => other,
        }
    }

    /// The issue a merged issue now lives in.
    pub async fn merged_into(&self, id: i64) -> Result<Option<i64>, AppError> {
        self.with_store(move |s| s.errors().merged_into(id)).await
    }

    /// Resolves, unresolves or ignores an issue.
    pub async fn change_issue(
        &self,
        caller: &Caller,
        id: i64,
        u: &IssueUpdate,
    ) -> Result<(), AppError> {
        caller.require(Permission::Edit, "change issues")?;
        let now = Utc::now();
        let change = u.change(now)?;
        let (actor, status) = (caller.actor(), u.status.clone());
        self.with_store(move |s| {
            s.errors().change_issue(id, &change, now)?;
            s.errors().note_status_change(id, &actor, &status, now)
        })
        .await?;
        tracing::info!(operation = "issue_update", issue = id, status = %u.status, caller = %caller, "issue changed");
        Ok(())
    }

    pub async fn issue_events(
        &self,
        id: i64,
        page: u32,
        per_page: u32,
    ) -> Result<Page<EventSummary>, AppError> {
        self.with_store(move |s| s.errors().issue_events(id, page, per_page))
            .await
    }

    pub async fn latest_event(&self, issue: i64) -> Result<StoredEvent, AppError> {
        self.with_store(move |s| s.errors().latest_event(issue))
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "stored event of issue {issue} (pruned by retention?)"
                ))
            })
    }

    /// An event by id (within one project when given), with its attachments listed.
    pub async fn event(
        &self,
        project: Option<i64>,
        event_id: String,
    ) -> Result<(StoredEvent, Vec<AttachmentRef>), AppError> {
        let e = self
            .with_store(move |s| s.errors().event(project, &event_id))
            .await?;
        let (pid, eid) = (e.project_id, e.summary.event_id.clone());
        let attachments = self
            .with_store(move |s| s.errors().attachments(pid, &eid))
            .await?
            .into_iter()
            .map(|(id, filename, content_type, size)| AttachmentRef {
                id,
                filename,
                content_type,
                size,
            })
            .collect();
        Ok((e, attachments))
    }

    pub async fn attachment(&self, id: i64) -> Result<AttachmentFile, AppError> {
        let (filename, content_type, data) =
            self.with_store(move |s| s.errors().attachment(id)).await?;
        Ok(AttachmentFile {
            filename,
            content_type,
            data,
        })
    }

    /// Transactions over `period` (a day by default); with `name`, that transaction's
    /// ten slowest samples with their spans.
    pub async fn transactions(
        &self,
        project: Option<i64>,
        period: Option<HumanDuration>,
        name: Option<String>,
    ) -> Result<TransactionReport, AppError> {
        let now = Utc::now();
        let period = period.unwrap_or(HumanDuration::from_secs(86_400));
        let since = now - Duration::from_std(period.as_duration()).unwrap_or(Duration::days(1));
        let mut summaries = self
            .with_store(move |s| s.errors().transaction_summaries(project, since, now))
            .await?;
        let Some(name) = name else {
            return Ok(TransactionReport {
                summaries,
                slowest: None,
                period,
            });
        };
        summaries.retain(|s| s.name == name);
        let Some(project) = project.or(summaries.first().map(|s| s.project_id)) else {
            return Err(AppError::NotFound(format!("transaction {name:?}")));
        };
        let slowest = self
            .with_store(move |s| s.errors().slowest_transactions(project, &name, since, 10))
            .await?;
        Ok(TransactionReport {
            summaries,
            slowest: Some(slowest),
            period,
        })
    }
}
