//! `/api/v1/incidents`: the incident history (search by text, state and time, paged),
//! one incident with its timeline, runbooks and next escalation, acknowledge, resolve,
//! notes, and the post-mortem draft in Markdown (see [`pharos_app::incidents`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use pharos_app::incidents::{ListParams, summary};

use super::{ApiError, parse_json, query};
use crate::SharedState;

pub async fn list(
    State(state): State<SharedState>,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = query(q)?;
    let (q, page, per_page) = params.to_query()?;
    let (incidents, total) = state.search_incidents(q).await?;
    Ok(Json(json!({
        "incidents": incidents.iter().map(summary).collect::<Vec<_>>(),
        "total": total,
        "page": page,
        "per_page": per_page,
    })))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("incident {id}")))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let detail = state.incident(parse_id(&id)?).await?;
    serde_json::to_value(detail)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `{"by": "alice"}` for ack and resolve, `{"by": "alice", "text": "..."}` for notes. `by`
/// is heard only from a token (see [`pharos_app::Caller::actor_naming`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// An empty body is allowed: the change is then the caller's own.
fn action_body(bytes: &Bytes) -> Result<ActionBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    parse_json(bytes)
}

pub async fn acknowledge(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = action_body(&bytes)?;
    let record = state
        .acknowledge_incident(&caller, parse_id(&id)?, body.by.as_deref())
        .await?;
    Ok(Json(json!(summary(&record))))
}

pub async fn resolve(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = action_body(&bytes)?;
    let record = state
        .resolve_incident(&caller, parse_id(&id)?, body.by.as_deref())
        .await?;
    Ok(Json(json!(summary(&record))))
}

pub async fn add_note(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = action_body(&bytes)?;
    let text = body.text.clone().unwrap_or_default();
    let event = state
        .add_incident_note(&caller, parse_id(&id)?, body.by.as_deref(), &text)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(event))).into_response())
}

pub async fn postmortem(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let text = state.incident_postmortem(id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"incident-{id}-postmortem.md\""),
            ),
        ],
        text,
    )
        .into_response())
}
