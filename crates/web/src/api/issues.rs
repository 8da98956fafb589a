//! `/api/v1/issues`, `/api/v1/events`, `/api/v1/transactions`: grouped errors, their
//! events, feedback and triage (assignee, comments, merges, the timeline), and
//! performance summaries.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pharos_model::HumanDuration;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson, query};
use crate::SharedState;

use pharos_app::issues::{IssueListQuery, IssueUpdate};
use pharos_app::triage::{AssignIssue, MergeIssues, NewComment};

pub async fn list(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    q: Result<Query<IssueListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let page = state.issues(&caller, query(q)?).await?;
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
    let detail = state.issue(id).await?;
    let mut v = serde_json::to_value(&detail).map_err(|e| ApiError::internal(e.to_string()))?;
    v["environments"] = tag_values(&detail.tags, "environment");
    v["releases"] = tag_values(&detail.tags, "release");
    Ok(Json(v))
}

fn tag_values(tags: &[pharos_app::issues::TagDistribution], key: &str) -> Value {
    json!(
        tags.iter()
            .find(|t| t.key == key)
            .map(|t| t.top.iter().map(|v| v.value.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    )
}

pub async fn update(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    ApiJson(u): ApiJson<IssueUpdate>,
) -> Result<Json<Value>, ApiError> {
    state.change_issue(&caller, id, &u).await?;
    get_one(State(state), Path(id)).await
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
    let events = state.issue_events(id, page, per_page).await?;
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
    Ok(Json(json!(state.latest_event(id).await?)))
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
    let (e, attachments) = state.event(project, event_id).await?;
    let mut v = json!(e);
    v["attachments"] = json!(attachments
        .into_iter()
        .map(|a| json!({"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size, "url": format!("/api/v1/attachments/{}", a.id)}))
        .collect::<Vec<_>>());
    Ok(Json(v))
}

pub async fn attachment(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let a = state.attachment(id).await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        a.filename.replace(['"', '\\', '\r', '\n'], "_")
    );
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                a.content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        a.data,
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
    let r = state.transactions(q.project, q.period, q.name).await?;
    Ok(Json(match r.slowest {
        Some(slowest) => {
            json!({ "transactions": r.summaries, "slowest": slowest, "period": r.period.to_string() })
        }
        None => json!({ "transactions": r.summaries, "period": r.period.to_string() }),
    }))
}

pub async fn feedback(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "feedback": state.issue_feedback(id).await? })))
}

pub async fn project_feedback(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let page = state.project_feedback(id, q.page, q.per_page).await?;
    Ok(Json(json!({
        "feedback": page.items,
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    })))
}

pub async fn activity(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "activity": state.issue_activity(id).await? })))
}

pub async fn assign(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    ApiJson(a): ApiJson<AssignIssue>,
) -> Result<Json<Value>, ApiError> {
    let assignee = state.assign_issue(&caller, id, &a).await?;
    Ok(Json(json!({ "assignee": assignee })))
}

pub async fn comment(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    ApiJson(c): ApiJson<NewComment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let activity = state.comment_on_issue(&caller, id, &c).await?;
    Ok((StatusCode::CREATED, Json(json!(activity))))
}

pub async fn merge(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    ApiJson(m): ApiJson<MergeIssues>,
) -> Result<Json<Value>, ApiError> {
    state.merge_issues(&caller, id, &m).await?;
    get_one(State(state), Path(id)).await
}
