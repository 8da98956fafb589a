//! `/api/v1/issues`, `/api/v1/events`, `/api/v1/transactions`: grouped errors, their
//! events, and performance summaries.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use pharos_model::HumanDuration;
use pharos_store::errors::search::IssueSort;
use pharos_store::errors::{IssueChange, IssueQuery, IssueSummary, Page};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, ApiJson, query};
use crate::SharedState;

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

/// Issues matching a query, with 24-hour sparklines (shared by the API and the UI).
pub async fn load_issues(
    state: &SharedState,
    q: IssueListQuery,
) -> Result<Page<IssueListItem>, ApiError> {
    let mut search =
        IssueQuery::parse(q.query.as_deref().unwrap_or("")).map_err(|e| field("query", e))?;
    if q.project.is_some() {
        search.project = q.project;
    }
    if let Some(s) = &q.sort {
        search.sort =
            IssueSort::parse(s).ok_or_else(|| field("sort", "use date, new, freq or user"))?;
    }
    let page = q.page.unwrap_or(1).max(1);
    let per_page = q.per_page.unwrap_or(25).clamp(1, 100);
    let now = Utc::now();
    let since = hour_floor(now) - Duration::hours(23);
    let (issues, counts) = state
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

fn hour_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(3600), 0).unwrap_or(t)
}

fn field(name: &str, message: impl std::fmt::Display) -> ApiError {
    let mut e = ApiError::bad_request(format!("{name}: {message}"));
    e.field = Some(name.into());
    e
}

pub async fn list(
    State(state): State<SharedState>,
    q: Result<Query<IssueListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let page = load_issues(&state, query(q)?).await?;
    Ok(Json(json!({
        "issues": page.items,
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    })))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let detail = state.with_store(move |s| s.errors().issue(id)).await?;
    let mut v = serde_json::to_value(&detail).map_err(|e| ApiError::internal(e.to_string()))?;
    v["environments"] = tag_values(&detail.tags, "environment");
    v["releases"] = tag_values(&detail.tags, "release");
    Ok(Json(v))
}

fn tag_values(tags: &[pharos_store::errors::TagDistribution], key: &str) -> Value {
    json!(
        tags.iter()
            .find(|t| t.key == key)
            .map(|t| t.top.iter().map(|v| v.value.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    )
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
    pub fn change(&self, now: DateTime<Utc>) -> Result<IssueChange, ApiError> {
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
                return Err(field(
                    "status",
                    format!("{other:?} is not resolved, unresolved or ignored"),
                ));
            }
        })
    }
}

pub async fn update(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    ApiJson(u): ApiJson<IssueUpdate>,
) -> Result<Json<Value>, ApiError> {
    change_issue(&state, id, &u).await?;
    get_one(State(state), Path(id)).await
}

/// Shared by the API and the UI's buttons.
pub async fn change_issue(state: &SharedState, id: i64, u: &IssueUpdate) -> Result<(), ApiError> {
    let now = Utc::now();
    let change = u.change(now)?;
    state
        .with_store(move |s| s.errors().change_issue(id, &change, now))
        .await?;
    tracing::info!(operation = "issue_update", issue = id, status = %u.status, "issue changed");
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default)]
    pub per_page: Option<u32>,
}

pub async fn events(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let (page, per_page) = (q.page.unwrap_or(1), q.per_page.unwrap_or(50).clamp(1, 100));
    let events = state
        .with_store(move |s| s.errors().issue_events(id, page, per_page))
        .await?;
    Ok(Json(json!({
        "events": events.items,
        "total": events.total,
        "page": events.page,
        "per_page": events.per_page,
    })))
}

pub async fn latest_event(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let e = state
        .with_store(move |s| s.errors().latest_event(id))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("stored event of issue {id} (pruned by retention?)"))
        })?;
    Ok(Json(json!(e)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    #[serde(default)]
    pub project: Option<i64>,
}

pub async fn event(
    State(state): State<SharedState>,
    Path(event_id): Path<String>,
    q: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let project = query(q)?.project;
    let e = state
        .with_store(move |s| s.errors().event(project, &event_id))
        .await?;
    let (pid, eid) = (e.project_id, e.summary.event_id.clone());
    let attachments = state
        .with_store(move |s| s.errors().attachments(pid, &eid))
        .await?;
    let mut v = json!(e);
    v["attachments"] = json!(attachments
        .into_iter()
        .map(|(id, filename, content_type, size)| json!({"id": id, "filename": filename, "content_type": content_type, "size": size, "url": format!("/api/v1/attachments/{id}")}))
        .collect::<Vec<_>>());
    Ok(Json(v))
}

pub async fn attachment(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let (filename, content_type, data) =
        state.with_store(move |s| s.errors().attachment(id)).await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        filename.replace(['"', '\\', '\r', '\n'], "_")
    );
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                content_type.unwrap_or_else(|| "application/octet-stream".into()),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        data,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TransactionQuery {
    #[serde(default)]
    pub project: Option<i64>,
    /// Window to summarise: `1h`, `24h` (default), `7d`.
    #[serde(default)]
    pub period: Option<HumanDuration>,
    /// With `name` (and `project`): that transaction's slowest samples with spans.
    #[serde(default)]
    pub name: Option<String>,
}

pub async fn transactions(
    State(state): State<SharedState>,
    q: Result<Query<TransactionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let now = Utc::now();
    let period = q.period.unwrap_or(HumanDuration::from_secs(86_400));
    let since = now - Duration::from_std(period.as_duration()).unwrap_or(Duration::days(1));
    let project = q.project;
    let mut summaries = state
        .with_store(move |s| s.errors().transaction_summaries(project, since, now))
        .await?;
    if let Some(name) = q.name {
        summaries.retain(|s| s.name == name);
        let Some(project) = q.project.or(summaries.first().map(|s| s.project_id)) else {
            return Err(ApiError::not_found(format!("transaction {name:?}")));
        };
        let samples = state
            .with_store(move |s| s.errors().slowest_transactions(project, &name, since, 10))
            .await?;
        return Ok(Json(
            json!({ "transactions": summaries, "slowest": samples, "period": period.to_string() }),
        ));
    }
    Ok(Json(
        json!({ "transactions": summaries, "period": period.to_string() }),
    ))
}
