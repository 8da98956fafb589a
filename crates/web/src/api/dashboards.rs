//! `/api/v1/dashboards`: list, read, upload (a Grafana dashboard JSON export or Pharos's
//! YAML, detected from the content) and delete uploaded dashboards. Dashboards from the
//! config file are read-only here; they change with the file. Built-in dashboards are
//! read-only too; an upload with the same id replaces one.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ApiError;
use crate::SharedState;
use pharos_app::dashboards::{Dashboard, Source, UploadError};

pub fn summary(d: &Dashboard) -> Value {
    json!({
        "id": d.id,
        "title": d.title,
        "source": d.source.name(),
        "file": match &d.source { Source::Config(p) => Some(p.display().to_string()), Source::Uploaded | Source::Builtin => None },
        "rows": d.rows.len(),
        "panels": d.rows.iter().map(|r| r.panels.len()).sum::<usize>(),
        "url": format!("/dashboards/{}", d.id),
        "notes": d.notes,
    })
}

pub async fn list(State(state): State<SharedState>) -> Response {
    let list: Vec<Value> = state.dashboards.list().iter().map(|d| summary(d)).collect();
    Json(json!({ "dashboards": list, "problems": state.dashboards.problems() })).into_response()
}

pub async fn get_one(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    match state.dashboards.get(&id) {
        Some(d) => Json(d.as_ref()).into_response(),
        None => ApiError::not_found(format!("dashboard {id:?}")).into_response(),
    }
}

/// Parses and stores the upload; the same id uploaded again replaces the earlier one.
pub fn store_upload(
    state: &SharedState,
    body: &[u8],
) -> Result<std::sync::Arc<Dashboard>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the dashboard is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "request body is empty; send a Grafana dashboard JSON or a Pharos dashboard YAML",
        ));
    }
    state.dashboards.upload(text).map_err(|e| match e {
        UploadError::Invalid(d) => ApiError {
            status: StatusCode::BAD_REQUEST,
            message: d.to_string(),
            field: d.field.clone(),
        },
        UploadError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
        UploadError::Io(e) => {
            tracing::error!(operation = "dashboard_upload", error = %e, "storing a dashboard failed");
            ApiError::internal(format!("cannot store the dashboard: {e}"))
        }
    })
}

pub async fn create(State(state): State<SharedState>, body: Bytes) -> Response {
    let st = state.clone();
    let stored = tokio::task::spawn_blocking(move || store_upload(&st, &body))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
        .and_then(|r| r);
    match stored {
        Ok(d) => (StatusCode::CREATED, Json(summary(&d))).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn remove(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    if let Some(d) = state.dashboards.get(&id)
        && matches!(d.source, Source::Config(_))
    {
        return ApiError::new(
            StatusCode::CONFLICT,
            "this dashboard comes from the config file; remove it there and reload",
        )
        .into_response();
    }
    if let Some(d) = state.dashboards.get(&id)
        && d.source == Source::Builtin
    {
        return ApiError::new(
            StatusCode::CONFLICT,
            "this dashboard is built into Pharos; upload one with the same id to replace it, or set builtin_dashboards: false",
        )
        .into_response();
    }
    match state.dashboards.remove(&id) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => ApiError::not_found(format!("dashboard {id:?}")).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
