//! `/api/v1/backups` (admins only): take a backup of every store while Pharos runs
//! (`pharos backup` calls this), and read how the last ones went.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson};
use crate::SharedState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// An absolute path on Pharos's machine that does not exist yet.
    destination: std::path::PathBuf,
}

pub async fn create(
    State(state): State<SharedState>,
    ApiJson(request): ApiJson<BackupRequest>,
) -> Result<(StatusCode, Json<pharos_app::backup::BackupReport>), ApiError> {
    let report = state.backup(request.destination).await?;
    Ok((StatusCode::CREATED, Json(report)))
}

pub async fn status(State(state): State<SharedState>) -> Json<Value> {
    let schedule = state.backups.schedule().map(|s| {
        json!({
            "interval": pharos_model::HumanDuration(s.interval).to_string(),
            "directory": s.directory,
            "keep": s.keep,
        })
    });
    Json(json!({ "schedule": schedule, "last": state.backups.state() }))
}
