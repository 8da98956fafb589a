//! `/api/v1/status-pages`: the status pages of the config and the incident and maintenance
//! posts on each (see [`pharos_app::status_pages`]). A post is made with its first update;
//! later updates are posted under it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pharos_app::status_pages::{NewPost, NewUpdate, PageView, PostPatch};
use pharos_model::status_page::{StatusPage, StatusPost};

use super::{ApiError, ApiJson};
use crate::SharedState;

/// The page `slug` names, from the settings in force.
pub fn page_of(state: &SharedState, slug: &str) -> Result<StatusPage, ApiError> {
    state
        .settings()
        .page(Some(slug))
        .ok_or_else(|| ApiError::not_found(format!("status page {slug:?}")))
}

pub async fn list(State(state): State<SharedState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status_pages": state.settings().pages() }))
}

pub async fn view(
    State(state): State<SharedState>,
    Path(slug): Path<String>,
) -> Result<Json<PageView>, ApiError> {
    let page = page_of(&state, &slug)?;
    let view = state.status_page_view(&page).await?;
    Ok(Json(PageView::clone(&view)))
}

pub async fn posts(
    State(state): State<SharedState>,
    Path(slug): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let page = page_of(&state, &slug)?;
    let posts = state.status_posts(&page).await?;
    Ok(Json(serde_json::json!({ "incidents": posts })))
}

pub async fn create(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(slug): Path<String>,
    ApiJson(new): ApiJson<NewPost>,
) -> Result<(StatusCode, Json<StatusPost>), ApiError> {
    let page = page_of(&state, &slug)?;
    let post = state.create_status_post(&caller, &page, new).await?;
    Ok((StatusCode::CREATED, Json(post)))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Json<StatusPost>, ApiError> {
    let page = page_of(&state, &slug)?;
    Ok(Json(state.status_post(&page, id).await?))
}

pub async fn change(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path((slug, id)): Path<(String, i64)>,
    ApiJson(patch): ApiJson<PostPatch>,
) -> Result<Json<StatusPost>, ApiError> {
    let page = page_of(&state, &slug)?;
    Ok(Json(
        state.change_status_post(&caller, &page, id, patch).await?,
    ))
}

pub async fn remove(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let page = page_of(&state, &slug)?;
    state.delete_status_post(&caller, &page, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_update(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path((slug, id)): Path<(String, i64)>,
    ApiJson(update): ApiJson<NewUpdate>,
) -> Result<(StatusCode, Json<StatusPost>), ApiError> {
    let page = page_of(&state, &slug)?;
    let post = state.add_status_update(&caller, &page, id, update).await?;
    Ok((StatusCode::CREATED, Json(post)))
}
