//! `/api/v1/monitors`: list (paginated, with pre-aggregated uptime), create, read,
//! patch (JSON merge patch, RFC 7396), delete, and each monitor's results. The views built
//! here are also what the UI renders, so the pages and the API always agree.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use pharos_model::{MonitorCheck, MonitorId, MonitorSpec, MonitorState, ProbeResult};
use pharos_store::{LatencySummary, MonitorRecord, MonitorSource, MonitorStatus, Uptime};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, ApiJson, parse_json, query};
use crate::SharedState;
use pharos_app::Caller;

pub const DEFAULT_PAGE: u64 = 100;
pub const MAX_PAGE: u64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub state: Option<MonitorState>,
}

/// Uptime as percentages, keyed as people say them.
#[derive(Clone, Debug, Serialize, Default)]
pub struct UptimePercent {
    #[serde(rename = "24h")]
    pub h24: Option<f64>,
    #[serde(rename = "7d")]
    pub d7: Option<f64>,
    #[serde(rename = "30d")]
    pub d30: Option<f64>,
}

impl From<&Uptime> for UptimePercent {
    fn from(u: &Uptime) -> Self {
        let pct = |v: Option<f64>| v.map(|r| (r * 100_000.0).round() / 1000.0);
        UptimePercent {
            h24: pct(u.h24),
            d7: pct(u.d7),
            d30: pct(u.d30),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MonitorSummary {
    pub id: MonitorId,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub target: String,
    pub source: MonitorSource,
    pub paused: bool,
    pub interval_seconds: f64,
    pub state: MonitorState,
    pub state_since: Option<DateTime<Utc>>,
    pub last_check_at: Option<DateTime<Utc>>,
    pub last_latency_ms: Option<f64>,
    pub last_error: Option<String>,
    pub uptime_percent: UptimePercent,
    pub labels: std::collections::BTreeMap<String, String>,
}

impl MonitorSummary {
    fn new(
        rec: &MonitorRecord,
        status: Option<&MonitorStatus>,
        uptime: Option<&Uptime>,
    ) -> MonitorSummary {
        let spec = &rec.spec;
        MonitorSummary {
            id: spec.id.clone(),
            name: spec.name.clone(),
            kind: spec.check.kind(),
            target: spec.redacted().check.target(),
            source: rec.source,
            paused: spec.paused,
            interval_seconds: spec.interval.as_duration().as_secs_f64(),
            state: if spec.paused {
                MonitorState::Paused
            } else {
                status.map(|s| s.state).unwrap_or(MonitorState::Unknown)
            },
            state_since: status.map(|s| s.state_since),
            last_check_at: status.and_then(|s| s.last_check_at),
            last_latency_ms: status.and_then(|s| s.last_latency_ms),
            last_error: status.and_then(|s| s.last_error.clone()),
            uptime_percent: uptime.map(UptimePercent::from).unwrap_or_default(),
            labels: spec.labels.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MonitorPage {
    pub monitors: Vec<MonitorSummary>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

/// One page of monitors with their uptime: two indexed queries whatever the total.
pub async fn load_page(
    state: &SharedState,
    filter: Option<MonitorState>,
    offset: u64,
    limit: u64,
) -> Result<MonitorPage, ApiError> {
    let (monitors, total) = state
        .with_store(move |s| {
            let (rows, total) = s.list_monitors(filter, offset, limit)?;
            let ids: Vec<MonitorId> = rows.iter().map(|(r, _)| r.spec.id.clone()).collect();
            let uptime = s.uptime(&ids, Utc::now())?;
            let monitors = rows
                .iter()
                .map(|(r, st)| MonitorSummary::new(r, st.as_ref(), uptime.get(&r.spec.id)))
                .collect();
            Ok((monitors, total))
        })
        .await?;
    Ok(MonitorPage {
        monitors,
        total,
        limit,
        offset,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct NumberView {
    pub name: String,
    pub value: f64,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MonitorDetail {
    #[serde(flatten)]
    pub summary: MonitorSummary,
    pub description: Option<String>,
    /// Response times over the last 24 hours.
    pub latency_24h: LatencySummary,
    pub last_state_change: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    /// For heartbeat monitors: where the job pings.
    pub ping_url: Option<String>,
    pub last_ping_at: Option<DateTime<Utc>>,
    pub numbers: Vec<NumberView>,
    pub recent_results: Vec<ProbeResult>,
    pub in_maintenance: bool,
    /// The definition, as it would be written in the config file (secrets redacted).
    pub spec: MonitorSpec,
}

pub async fn load_detail(
    state: &SharedState,
    id: MonitorId,
    results: u64,
) -> Result<MonitorDetail, ApiError> {
    let id2 = id.clone();
    let (rec, stored, uptime, latency, numbers, recent) = state
        .with_store(move |s| {
            let Some((rec, status)) = s.monitor(&id2)? else {
                return Err(pharos_store::StoreError::NotFound(format!(
                    "monitor {:?}",
                    id2.as_str()
                )));
            };
            let now = Utc::now();
            let uptime = s.uptime(std::slice::from_ref(&id2), now)?.remove(&id2);
            let latency = s.latency_summary(&id2, now - Duration::hours(24))?;
            let numbers = s.latest_numbers(&id2)?;
            let recent = s.recent_results(&id2, None, results)?;
            Ok((rec, status, uptime, latency, numbers, recent))
        })
        .await?;
    let status = state.engine.live_status(&id).await.or(stored);
    let summary = MonitorSummary::new(&rec, status.as_ref(), uptime.as_ref());
    let ping_url = match &rec.spec.check {
        MonitorCheck::Heartbeat(_) => state
            .engine
            .heartbeat_token(&id)
            .map(|t| format!("{}/ping/{t}", state.settings().external_url())),
        _ => None,
    };
    Ok(MonitorDetail {
        summary,
        description: rec.spec.description.clone(),
        latency_24h: latency,
        last_state_change: status.as_ref().map(|s| s.state_since),
        consecutive_failures: status.as_ref().map(|s| s.consecutive_failures).unwrap_or(0),
        failing_since: status.as_ref().and_then(|s| s.failing_since),
        ping_url,
        last_ping_at: status.as_ref().and_then(|s| s.last_ping_at),
        numbers: numbers
            .into_iter()
            .map(|(name, value, at)| NumberView { name, value, at })
            .collect(),
        recent_results: recent,
        in_maintenance: state.engine.in_maintenance(&id, Utc::now()),
        spec: rec.spec.redacted(),
    })
}

pub fn parse_id(raw: &str) -> Result<MonitorId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("monitor {raw:?}")))
}

pub async fn list(
    State(state): State<SharedState>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<MonitorPage>, ApiError> {
    let p = query(q)?;
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {MAX_PAGE}"
        )));
    }
    Ok(Json(
        load_page(&state, p.state, p.offset.unwrap_or(0), limit).await?,
    ))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<MonitorDetail>, ApiError> {
    Ok(Json(load_detail(&state, parse_id(&id)?, 20).await?))
}

/// Creates a monitor from the same JSON shape as a monitor in `pharos.yaml`.
pub async fn create(
    State(state): State<SharedState>,
    ApiJson(spec): ApiJson<MonitorSpec>,
) -> Result<Response, ApiError> {
    let id = state.create_monitor(&Caller::Admin, spec).await?;
    let detail = load_detail(&state, id.clone(), 20).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/monitors/{id}"))],
        Json(detail),
    )
        .into_response())
}

/// Applies a JSON merge patch to the monitor's definition and checks the result like a new one.
pub async fn patch(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<MonitorDetail>, ApiError> {
    let id = parse_id(&id)?;
    let rec = state.changeable_monitor(&id).await?;
    let patch: Value = parse_json(&body)?;
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "send a JSON object with the fields to change (JSON merge patch)",
        ));
    }
    let mut doc = serde_json::to_value(&rec.spec).map_err(|e| ApiError::internal(e.to_string()))?;
    super::merge_patch(&mut doc, &patch);
    if doc.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(ApiError::bad_request(
            "id: a monitor's id cannot change; create a new monitor instead",
        ));
    }
    let bytes = serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    let spec: MonitorSpec = parse_json(&bytes)?;
    state.change_monitor(&Caller::Admin, spec).await?;
    Ok(Json(load_detail(&state, id, 20).await?))
}

pub async fn remove(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .delete_monitor(&Caller::Admin, &parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultParams {
    #[serde(default)]
    pub limit: Option<u64>,
    /// Only results before this time (RFC 3339), to page back through history.
    #[serde(default)]
    pub before: Option<DateTime<Utc>>,
}

pub async fn results(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    q: Result<Query<ResultParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let p = query(q)?;
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {MAX_PAGE}"
        )));
    }
    let id2 = id.clone();
    let rows = state
        .with_store(move |s| {
            if s.monitor(&id2)?.is_none() {
                return Err(pharos_store::StoreError::NotFound(format!(
                    "monitor {:?}",
                    id2.as_str()
                )));
            }
            s.recent_results(&id2, p.before, limit)
        })
        .await?;
    Ok(Json(json!({ "monitor": id, "results": rows })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        crate::api::merge_patch(
            &mut doc,
            &json!({"a": null, "b": {"c": 5}, "e": [2], "f": "x"}),
        );
        assert_eq!(doc, json!({"b": {"c": 5, "d": 3}, "e": [2], "f": "x"}));
    }
}
