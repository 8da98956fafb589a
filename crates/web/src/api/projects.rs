//! `/api/v1/projects`: error-tracking projects, their keys and DSNs, release health and
//! what SDKs report having dropped (see [`pharos_app::projects`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use pharos_app::projects::{KeyView, NewProject, ProjectView};

use super::{ApiError, ApiJson, parse_json};
use crate::SharedState;

/// The project as the API and UI show it, with DSNs under the configured external URL.
pub fn view(state: &SharedState, p: pharos_app::projects::Project) -> ProjectView {
    ProjectView::new(p, state.settings().external_url())
}

pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let views: Vec<ProjectView> = state
        .projects()
        .await?
        .into_iter()
        .map(|p| view(&state, p))
        .collect();
    Ok(Json(json!({ "projects": views })))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<ProjectView>, ApiError> {
    let p = state.project(id).await?;
    let usage = state.project_usage(&p).await?;
    let mut v = view(&state, p);
    v.usage = Some(usage);
    Ok(Json(v))
}

pub async fn create(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    ApiJson(p): ApiJson<NewProject>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let p = state.create_project(&caller, p).await?;
    Ok((StatusCode::CREATED, Json(view(&state, p))))
}

/// JSON merge patch over `{name, platform, retention, rate_limit, alerts}`.
pub async fn patch(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<ProjectView>, ApiError> {
    let p = state.patch_project(&caller, id, &body).await?;
    Ok(Json(view(&state, p)))
}

pub async fn remove(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.delete_project(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[serde(default)]
    pub label: Option<String>,
}

pub async fn add_key(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let req: NewKey = if body.is_empty() {
        NewKey::default()
    } else {
        parse_json(&body)?
    };
    let key = state.add_project_key(&caller, id, req.label).await?;
    let v = view(&state, state.project(id).await?)
        .keys
        .into_iter()
        .find(|k| k.public_key == key)
        .ok_or_else(|| ApiError::internal("key vanished"))?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Revokes a key: SDKs still using it get 401.
pub async fn revoke_key(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path((id, key)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state.revoke_project_key(&caller, id, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn releases(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "releases": state.release_health(id).await? })))
}

pub async fn client_reports(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "discarded": state.client_reports(id).await? }),
    ))
}

pub async fn logs(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "logs": state.sdk_logs(id).await? })))
}
