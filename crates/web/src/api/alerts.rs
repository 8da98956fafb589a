//! `/api/v1/alerts/history` (alert occurrences: what is open now and the history,
//! searchable; `/api/v1/alerts` is Prometheus's list of the rules' alerts, in
//! `prometheus_api`) and `/api/v1/deliveries` (every notification and its outcome,
//! filterable), over [`pharos_app::alerts`], which the alerts and receivers pages read too.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use pharos_app::alerts::{AlertList, AlertParams, DeliveryList, DeliveryParams};

use super::{ApiError, query};
use crate::SharedState;

pub async fn list(
    State(state): State<SharedState>,
    q: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let p = query(q)?;
    Ok(Json(
        pharos_app::alerts::search_alerts(&state, p, 100).await?,
    ))
}

pub async fn deliveries(
    State(state): State<SharedState>,
    q: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let p = query(q)?;
    Ok(Json(
        pharos_app::alerts::search_deliveries(&state, p, 100).await?,
    ))
}
