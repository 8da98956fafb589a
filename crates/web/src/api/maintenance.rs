//! `/api/v1/maintenance`: windows during which monitors check and record but do not alert
//! (see [`pharos_app::maintenance`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pharos_model::maintenance::MaintenanceWindow;

use pharos_app::maintenance::WindowView;

use super::{ApiError, ApiJson};
use crate::SharedState;

pub async fn list(State(state): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let windows = state.maintenance_windows().await?;
    Ok(Json(serde_json::json!({ "maintenance": windows })))
}

pub async fn create(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    ApiJson(w): ApiJson<MaintenanceWindow>,
) -> Result<(StatusCode, Json<WindowView>), ApiError> {
    let view = state.create_maintenance(&caller, w).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn remove(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.delete_maintenance(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
