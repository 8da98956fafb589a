//! `/api/v1/status/tsdb` in Prometheus's shape (Grafana and `promtool tsdb
//! analyze`-style scripts read it) over the cardinality report of
//! [`pharos_app::cardinality`].

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use pharos_model::series::SeriesSource;
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use crate::SharedState;
pub use pharos_app::cardinality::*;

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
    let Some(m) = state.metrics_store.clone() else {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the metrics store is not enabled",
        )
        .into_response();
    };
    let data = tokio::task::spawn_blocking(move || {
        let db = m.db.as_ref();
        let st = db.stats();
        // One pass over the index: every label is needed for the pair count.
        let mut c = db.cardinality(usize::MAX);
        let all_labels = c.labels.clone();
        c.metrics.truncate(limit);
        c.labels.truncate(limit);
        c.label_pairs.truncate(limit);
        let pairs: usize = all_labels.iter().map(|(_, n)| n).sum();
        let (lo, hi) = (i64::MIN / 2, i64::MAX / 2);
        // Prometheus sums the bytes of each label's values; the store reports counts, so
        // the values are read for the labels with the most (bounded for huge label sets).
        let mut memory: Vec<(String, usize)> = all_labels
            .iter()
            .take(200)
            .map(|(n, _)| {
                let bytes = db
                    .label_values(n, &[], lo, hi)
                    .map(|v| v.iter().map(String::len).sum())
                    .unwrap_or(0);
                (n.clone(), bytes)
            })
            .collect();
        memory.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        memory.truncate(limit);
        let list = |v: &[(String, usize)]| {
            v.iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect::<Vec<_>>()
        };
        json!({
            "headStats": {
                "numSeries": st.head_series,
                "numLabelPairs": pairs,
                "chunkCount": st.head_chunks,
                "minTime": st.head_min_time.unwrap_or(0),
                "maxTime": st.head_max_time.unwrap_or(0),
            },
            "seriesCountByMetricName": list(&c.metrics),
            "labelValueCountByLabelName": list(&c.labels),
            "memoryInBytesByLabelName": list(&memory),
            "seriesCountByLabelValuePair": list(&c.label_pairs),
        })
    })
    .await;
    match data {
        Ok(d) => Json(json!({"status": "success", "data": d})).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
