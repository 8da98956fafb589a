//! `/api/v1/maintenance`: windows during which monitors check and record but do not alert.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use pharos_model::maintenance::MaintenanceWindow;
use serde::Serialize;

use super::{ApiError, ApiJson};
use crate::SharedState;

#[derive(Serialize)]
pub struct WindowView {
    /// `null` for windows from the config file, which are changed there.
    pub id: Option<i64>,
    #[serde(flatten)]
    pub window: MaintenanceWindow,
    pub active: bool,
}

pub async fn list(State(state): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now();
    let stored = state
        .with_store(move |s| s.maintenance_windows(now))
        .await?;
    let mut windows: Vec<WindowView> = state
        .engine
        .config_maintenance()
        .into_iter()
        .filter(|w| w.ends_at > now)
        .map(|w| WindowView {
            id: None,
            active: w.starts_at <= now,
            window: w,
        })
        .collect();
    windows.extend(stored.into_iter().map(|(id, w)| WindowView {
        id: Some(id),
        active: w.starts_at <= now,
        window: w,
    }));
    Ok(Json(serde_json::json!({ "maintenance": windows })))
}

pub async fn create(
    State(state): State<SharedState>,
    ApiJson(w): ApiJson<MaintenanceWindow>,
) -> Result<(StatusCode, Json<WindowView>), ApiError> {
    w.validate().map_err(ApiError::bad_request)?;
    let w2 = w.clone();
    let id = state.with_store(move |s| s.create_maintenance(&w2)).await?;
    state.engine.refresh_maintenance().await?;
    tracing::info!(
        operation = "maintenance_create",
        maintenance = id,
        "maintenance window created"
    );
    let now = Utc::now();
    Ok((
        StatusCode::CREATED,
        Json(WindowView {
            id: Some(id),
            active: w.starts_at <= now && now < w.ends_at,
            window: w,
        }),
    ))
}

pub async fn remove(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.with_store(move |s| s.delete_maintenance(id)).await?;
    state.engine.refresh_maintenance().await?;
    Ok(StatusCode::NO_CONTENT)
}
