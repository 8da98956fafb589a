//! `/api/v1/status/tsdb` in Prometheus's shape (Grafana and `promtool tsdb
//! analyze`-style scripts read it) over the cardinality report of
//! [`pharos_app::cardinality`].

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use crate::SharedState;

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v1/status/tsdb`, as Prometheus answers it.
pub async fn tsdb_status(
    State(state): State<SharedState>,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let limit = q
        .ok()
        .and_then(|q| q.0.limit)
        .filter(|l| *l > 0)
        .unwrap_or(10)
        .min(10_000);
    let st = match state.tsdb_status(limit).await {
        Ok(st) => st,
        Err(e @ pharos_app::metrics_store::MetricsError::Disabled) => {
            return ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                .into_response();
        }
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    let list = |v: &[(String, usize)]| {
        v.iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect::<Vec<_>>()
    };
    let data = json!({
        "headStats": {
            "numSeries": st.head_series,
            "numLabelPairs": st.label_pairs,
            "chunkCount": st.head_chunks,
            "minTime": st.head_min_time,
            "maxTime": st.head_max_time,
        },
        "seriesCountByMetricName": list(&st.metrics),
        "labelValueCountByLabelName": list(&st.labels),
        "memoryInBytesByLabelName": list(&st.label_memory),
        "seriesCountByLabelValuePair": list(&st.label_pairs_by_count),
    });
    Json(json!({"status": "success", "data": data})).into_response()
}
