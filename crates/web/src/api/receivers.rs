//! `/api/v1/receivers`: the configured receivers with their integrations (credentials as
//! `<secret>`) and recent delivery outcomes, and `POST /api/v1/receivers/{name}/test`,
//! which sends a test notification through every integration of one receiver right away
//! and answers how each went (see [`pharos_app::receivers`]).

use axum::Json;
use axum::extract::{Path, State};

use pharos_app::receivers::{ReceiverList, TestAnswer};

use super::ApiError;
use crate::SharedState;

pub async fn list(State(state): State<SharedState>) -> Result<Json<ReceiverList>, ApiError> {
    Ok(Json(state.receivers_with_recent_deliveries().await?))
}

pub async fn test(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Json<TestAnswer>, ApiError> {
    Ok(Json(state.test_receiver(&caller, name).await?))
}
