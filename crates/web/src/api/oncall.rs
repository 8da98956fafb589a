//! `/api/v1/oncall`: who is on call now in each schedule, the next handoff, and the
//! shifts of the coming weeks with overrides applied.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, query};
use crate::SharedState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// How many weeks of upcoming shifts (1 to 26; 4 when left out).
    #[serde(default)]
    pub weeks: Option<i64>,
}

pub async fn list(
    State(state): State<SharedState>,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let weeks = query(q)?.weeks.unwrap_or(4);
    Ok(Json(json!({ "schedules": state.on_call(weeks) })))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let weeks = query(q)?.weeks.unwrap_or(4);
    let view = state.on_call_of(&name, weeks)?;
    serde_json::to_value(view)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}
