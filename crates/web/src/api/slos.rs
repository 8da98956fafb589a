//! `GET /api/v1/slos`: every SLO with its indicator, budget left and burn rates;
//! `GET /api/v1/slos/{name}`: one, with its budget over the window (`budget_chart`).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::ApiError;
use crate::SharedState;

pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let slos = state.slos().await?;
    Ok(Json(json!({ "slos": slos })))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (slo, chart) = state.slo(&name).await?;
    let mut v = serde_json::to_value(slo).unwrap_or_default();
    v["budget_chart"] = json!(chart);
    Ok(Json(v))
}
