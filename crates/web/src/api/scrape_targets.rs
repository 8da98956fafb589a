//! `/api/v1/scrape_jobs`: scrape jobs made through the API, in the JSON shape of a
//! `scrape_configs` entry, beside the jobs of the config file (see
//! [`pharos_app::scrape_jobs`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pharos_app::scrape_jobs::ScrapeJobView;
use serde_json::{Value, json};

use super::ApiError;
use crate::SharedState;

/// `GET /api/v1/scrape_jobs`: config jobs in file order, then API jobs by name.
pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "scrape_jobs": state.scrape_jobs().await? })))
}

pub async fn get_one(
    State(state): State<SharedState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<ScrapeJobView>, ApiError> {
    Ok(Json(state.scrape_job(&name).await?))
}

/// `POST /api/v1/scrape_jobs`: a new job from a `scrape_configs` entry in JSON.
pub async fn create(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let view = state.create_scrape_job(&caller, &body).await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/scrape_jobs/{}", view.job_name),
        )],
        Json(view),
    )
        .into_response())
}

/// `PUT /api/v1/scrape_jobs/<name>`: the whole job anew.
pub async fn put(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Json<ScrapeJobView>, ApiError> {
    Ok(Json(
        state.replace_scrape_job_with(&caller, &name, &body).await?,
    ))
}

/// `PATCH /api/v1/scrape_jobs/<name>`: a JSON merge patch (RFC 7396) over the stored job.
pub async fn patch(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Json<ScrapeJobView>, ApiError> {
    Ok(Json(state.patch_scrape_job(&caller, &name, &body).await?))
}

/// `DELETE /api/v1/scrape_jobs/<name>`: stops the job; its series get staleness markers.
pub async fn remove(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    UrlPath(name): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    state.delete_scrape_job(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
