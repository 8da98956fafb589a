//! `/api/v1/monitors`: list (paginated, with pre-aggregated uptime), create, read,
//! patch (JSON merge patch, RFC 7396), delete, and each monitor's results. The views built
//! here are also what the UI renders, so the pages and the API always agree.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pharos_model::{MonitorId, MonitorSpec, MonitorState};
use serde::Deserialize;
use serde_json::{Value, json};

use pharos_app::monitors::{MonitorDetail, MonitorPage};

use super::{ApiError, ApiJson, query};
use crate::SharedState;

pub const DEFAULT_PAGE: u64 = 100;
pub const MAX_PAGE: u64 = 1000;
/// Checks shown with a monitor in the API.
const DETAIL_RESULTS: u64 = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub state: Option<MonitorState>,
    /// Part of a name, id, group or tag, any case.
    #[serde(default)]
    pub search: Option<String>,
}

/// One page of monitors with their uptime (the API and the overview).
pub async fn load_page(
    state: &SharedState,
    filter: Option<MonitorState>,
    search: Option<String>,
    offset: u64,
    limit: u64,
) -> Result<MonitorPage, ApiError> {
    Ok(state.monitor_page(filter, search, offset, limit).await?)
}

/// One monitor with its last `results` checks (the API and the monitor page).
pub async fn load_detail(
    state: &SharedState,
    id: MonitorId,
    results: u64,
) -> Result<MonitorDetail, ApiError> {
    Ok(state
        .monitor_detail(id, results, state.settings().external_url())
        .await?)
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
        load_page(&state, p.state, p.search, p.offset.unwrap_or(0), limit).await?,
    ))
}

pub async fn get_one(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<MonitorDetail>, ApiError> {
    let mut detail = load_detail(&state, parse_id(&id)?, DETAIL_RESULTS).await?;
    // With `web.public: [api]` anyone may read; the ping URL is a credential.
    if !caller.allows(pharos_model::access::Permission::Read) {
        detail.ping_url = None;
    }
    Ok(Json(detail))
}

/// Creates a monitor from the same JSON shape as a monitor in `pharos.yaml`.
pub async fn create(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    ApiJson(spec): ApiJson<MonitorSpec>,
) -> Result<Response, ApiError> {
    let id = state.create_monitor(&caller, spec).await?;
    let detail = load_detail(&state, id.clone(), DETAIL_RESULTS).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/monitors/{id}"))],
        Json(detail),
    )
        .into_response())
}

/// Applies a JSON merge patch to the monitor's definition and checks the result like a new one.
pub async fn patch(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<MonitorDetail>, ApiError> {
    let id = parse_id(&id)?;
    state.patch_monitor(&caller, &id, &body).await?;
    Ok(Json(load_detail(&state, id, DETAIL_RESULTS).await?))
}

pub async fn remove(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.delete_monitor(&caller, &parse_id(&id)?).await?;
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
    let rows = state.monitor_results(id.clone(), p.before, limit).await?;
    Ok(Json(json!({ "monitor": id, "results": rows })))
}
