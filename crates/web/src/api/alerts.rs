//! `/api/v1/alerts` (current and recent alerts, newest first) and `/api/v1/deliveries`
//! (every notification and its outcome).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use pharos_model::AlertState;
use pharos_store::{AlertRecord, Delivery};
use serde::{Deserialize, Serialize};

use super::{ApiError, query};
use crate::SharedState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    #[serde(default)]
    pub state: Option<AlertState>,
    /// Only alerts of this monitor.
    #[serde(default)]
    pub monitor: Option<String>,
    #[serde(default)]
    pub limit: Option<u64>,
}

#[derive(Serialize)]
pub struct AlertList {
    pub alerts: Vec<AlertRecord>,
}

pub async fn list(
    State(state): State<SharedState>,
    q: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let p = query(q)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let alerts = state
        .with_store(move |s| match &p.monitor {
            Some(m) => {
                let mut rows = s.alerts_with_label("monitor", m, limit)?;
                rows.retain(|a| p.state.is_none_or(|st| a.alert.state == st));
                Ok(rows)
            }
            None => s.list_alerts(p.state, limit),
        })
        .await?;
    Ok(Json(AlertList { alerts }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// Only deliveries of the alert with this fingerprint.
    #[serde(default)]
    pub alert: Option<String>,
    #[serde(default)]
    pub limit: Option<u64>,
}

#[derive(Serialize)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

pub async fn deliveries(
    State(state): State<SharedState>,
    q: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let p = query(q)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let deliveries = state
        .with_store(move |s| s.list_deliveries(p.alert.as_deref(), limit))
        .await?;
    Ok(Json(DeliveryList { deliveries }))
}
