//! `/api/v1/scrape_jobs`: scrape jobs made through the API, in the JSON shape of a
//! `scrape_configs` entry, beside the jobs of the config file. Config jobs are listed and
//! read here but change only in the file (a write is a 409, as for config monitors);
//! a name is unique across both.
//!
//! API jobs are stored with their credentials split out and sealed (see
//! `pharos_scrape::secrets`); answers show `<secret>` in their place, and a `<secret>`
//! sent back in a PUT or PATCH keeps the stored credential. Restored at start by
//! [`restore`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pharos_scrape::config::{ScrapeConfig, check_discovery};
use pharos_scrape::manager::{ApiJobError, JobSource, ScrapeManager};
use pharos_scrape::secrets::{self, SecretKey};
use pharos_store::ScrapeJobRecord;
use serde::Serialize;
use serde_json::{Value, json};

use super::{ApiError, parse_json};
use crate::SharedState;

#[derive(Debug, Serialize)]
pub struct TargetView {
    #[serde(rename = "scrapeUrl")]
    pub scrape_url: String,
    pub health: String,
    #[serde(rename = "lastError")]
    pub last_error: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct ScrapeJobView {
    pub job_name: String,
    pub source: JobSource,
    /// As it runs: the job's own values or those of `global`.
    pub scrape_interval: String,
    pub scrape_timeout: String,
    pub metrics_path: String,
    pub scheme: String,
    /// True for JSON targets (a `json:` list).
    pub json: bool,
    /// Why the job is not scraped, when it is not (discovery errors, a job that the
    /// current `global` section makes invalid).
    pub errors: Vec<String>,
    pub targets: Vec<TargetView>,
    /// API jobs: the definition as sent, credentials shown as `<secret>`. Config jobs are
    /// read in the config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

fn manager(state: &SharedState) -> Result<Arc<ScrapeManager>, ApiError> {
    state
        .metrics_store
        .as_ref()
        .map(|m| m.scrape.clone())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "the metrics store is off"))
}

fn key(scrape: &ScrapeManager) -> Result<&SecretKey, ApiError> {
    scrape
        .secrets
        .get()
        .ok_or_else(|| ApiError::internal("the secrets key is not loaded"))
}

/// Runs manager work (which may read discovery files and start loops) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn view(
    scrape: &ScrapeManager,
    source: JobSource,
    config: &ScrapeConfig,
    record: Option<&ScrapeJobRecord>,
) -> ScrapeJobView {
    let global = scrape.global();
    let mut errors = Vec::new();
    let (interval, timeout) = match config.resolve(&global) {
        Ok(j) => (j.interval, j.timeout),
        Err(e) => {
            errors.push(e);
            (std::time::Duration::ZERO, std::time::Duration::ZERO)
        }
    };
    if let Some((_, notes)) = scrape
        .job_notes
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&config.job_name)
    {
        for n in notes {
            if !errors.contains(n) {
                errors.push(n.clone());
            }
        }
    }
    let targets = scrape
        .targets()
        .iter()
        .filter(|t| t.target.job == config.job_name)
        .map(|t| {
            let h = t.health.read().unwrap_or_else(|p| p.into_inner()).clone();
            TargetView {
                scrape_url: t.target.url.clone(),
                health: h.health,
                last_error: h.last_error,
                labels: t
                    .target
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
            }
        })
        .collect();
    let duration =
        |d: std::time::Duration| pharos_model::HumanDuration::from_secs(d.as_secs()).to_string();
    ScrapeJobView {
        job_name: config.job_name.clone(),
        source,
        scrape_interval: duration(interval),
        scrape_timeout: duration(timeout),
        metrics_path: config.metrics_path.clone(),
        scheme: config.scheme.clone(),
        json: config.json.is_some(),
        errors,
        targets,
        spec: record.map(|r| r.spec.clone()),
        created_at: record.map(|r| r.created_at),
        updated_at: record.map(|r| r.updated_at),
    }
}

/// `GET /api/v1/scrape_jobs`: config jobs in file order, then API jobs by name.
pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let scrape = manager(&state)?;
    let records: BTreeMap<String, ScrapeJobRecord> = state
        .with_store(|s| s.scrape_jobs())
        .await?
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    let jobs: Vec<ScrapeJobView> = scrape
        .jobs()
        .iter()
        .map(|(source, c)| view(&scrape, *source, c, records.get(&c.job_name)))
        .collect();
    Ok(Json(json!({ "scrape_jobs": jobs })))
}

async fn load_view(state: &SharedState, name: &str) -> Result<ScrapeJobView, ApiError> {
    let scrape = manager(state)?;
    let Some((source, config)) = scrape.jobs().into_iter().find(|(_, c)| c.job_name == name) else {
        return Err(ApiError::not_found(format!("scrape job {name:?}")));
    };
    let record = match source {
        JobSource::Api => {
            let n = name.to_string();
            state.with_store(move |s| s.scrape_job(&n)).await?
        }
        JobSource::Config => None,
    };
    Ok(view(&scrape, source, &config, record.as_ref()))
}

pub async fn get_one(
    State(state): State<SharedState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<ScrapeJobView>, ApiError> {
    Ok(Json(load_view(&state, &name).await?))
}

fn field_error(field: &str, message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
        field: Some(field.to_string()),
    }
}

/// A job's checks failing, with the field at fault named when the message starts with it
/// (`static_configs[0]: target ...`, `json[1]: path ...`).
fn invalid(message: String) -> ApiError {
    let field = match message.split_once(": ") {
        Some((k, _))
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)) =>
        {
            Some(k.to_string())
        }
        _ if message.starts_with("scrape timeout greater than scrape interval") => {
            Some("scrape_timeout".to_string())
        }
        _ => None,
    };
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
        field,
    }
}

fn from_job_error(e: ApiJobError) -> ApiError {
    match e {
        ApiJobError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
        ApiJobError::Invalid(m) => invalid(m),
    }
}

/// A JSON body as a job document: an object, with `job_name` filled in from the URL on
/// PUT and never changed.
fn job_document(body: &[u8], name: Option<&str>) -> Result<Value, ApiError> {
    let mut doc: Value = parse_json(body)?;
    let Some(map) = doc.as_object_mut() else {
        return Err(ApiError::bad_request(
            "send a JSON object: a scrape_configs entry (job_name, static_configs, ...)",
        ));
    };
    if let Some(name) = name {
        match map.get("job_name") {
            None => {
                map.insert("job_name".into(), Value::String(name.to_string()));
            }
            Some(Value::String(n)) if n == name => {}
            Some(_) => {
                return Err(field_error(
                    "job_name",
                    "job_name: a job's name cannot change; create a new job with POST instead"
                        .into(),
                ));
            }
        }
    }
    Ok(doc)
}

/// The checks every API job passes: a name, supported discovery, the config's own
/// field types (errors naming the field), then Prometheus's load checks.
fn parse_job(scrape: &ScrapeManager, doc: &Value) -> Result<ScrapeConfig, ApiError> {
    let Some(map) = doc.as_object() else {
        return Err(ApiError::bad_request("send a JSON object"));
    };
    match map.get("job_name") {
        Some(Value::String(n)) if !n.trim().is_empty() => {
            if n.contains('/') || n.chars().any(char::is_control) {
                return Err(field_error(
                    "job_name",
                    "job_name: must not contain / or control characters (it is part of the job's URL)"
                        .into(),
                ));
            }
        }
        _ => {
            return Err(field_error(
                "job_name",
                "job_name: required, a non-empty string".into(),
            ));
        }
    }
    check_discovery(|k| map.contains_key(k)).map_err(invalid)?;
    let bytes = serde_json::to_vec(doc).map_err(|e| ApiError::internal(e.to_string()))?;
    let config: ScrapeConfig = parse_json(&bytes)?;
    scrape.check_api_job(&config).map_err(from_job_error)?;
    Ok(config)
}

/// Seals a (complete) job document's credentials; returns the redacted document and the
/// sealed blob (empty when the job has no credentials).
fn seal(key: &SecretKey, name: &str, doc: &Value) -> Result<(Value, Vec<u8>), ApiError> {
    let mut redacted = doc.clone();
    let secrets = secrets::split_secrets(&mut redacted);
    let sealed = if secrets.is_empty() {
        Vec::new()
    } else {
        key.seal(name, &secrets).map_err(ApiError::internal)?
    };
    Ok((redacted, sealed))
}

/// The error for a write to a job that lives in the config file.
fn config_job(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("scrape job {name:?} is defined in the config file; change it there and reload"),
    )
}

/// `POST /api/v1/scrape_jobs`: a new job from a `scrape_configs` entry in JSON.
pub async fn create(State(state): State<SharedState>, body: Bytes) -> Result<Response, ApiError> {
    let scrape = manager(&state)?;
    let mut doc = job_document(&body, None)?;
    // On create there is nothing stored for a `<secret>` to stand for.
    secrets::restore_secrets(&mut doc, &BTreeMap::new()).map_err(invalid)?;
    let config = parse_job(&scrape, &doc)?;
    let name = config.job_name.clone();
    if let Some((source, _)) = scrape.jobs().iter().find(|(_, c)| c.job_name == name) {
        return Err(match source {
            JobSource::Config => ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "scrape job {name:?} is defined in the config file; choose another job_name"
                ),
            ),
            JobSource::Api => ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "a scrape job named {name:?} already exists; change it with PUT or PATCH /api/v1/scrape_jobs/{name}"
                ),
            ),
        });
    }
    let (redacted, sealed) = seal(key(&scrape)?, &name, &doc)?;
    let n = name.clone();
    state
        .with_store(move |s| s.create_scrape_job(&n, &redacted, &sealed, Utc::now()))
        .await?;
    let s2 = scrape.clone();
    if let Err(e) = blocking(move || s2.put_api_job(config, true)).await? {
        // A reload added a config job of that name meanwhile: the file wins.
        let n = name.clone();
        state.with_store(move |s| s.delete_scrape_job(&n)).await?;
        return Err(from_job_error(e));
    }
    tracing::info!(operation = "scrape_job_create", job = %name, "scrape job created through the API");
    let view = load_view(&state, &name).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/scrape_jobs/{name}"))],
        Json(view),
    )
        .into_response())
}

/// The stored record of an API job; a config job is a conflict, an unknown one 404.
async fn api_record(
    state: &SharedState,
    scrape: &ScrapeManager,
    name: &str,
) -> Result<ScrapeJobRecord, ApiError> {
    if scrape
        .jobs()
        .iter()
        .any(|(s, c)| *s == JobSource::Config && c.job_name == name)
    {
        return Err(config_job(name));
    }
    let n = name.to_string();
    state
        .with_store(move |s| s.scrape_job(&n))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("scrape job {name:?}")))
}

/// Replaces an API job with `doc` (where `<secret>` keeps the stored credential).
async fn replace(
    state: &SharedState,
    scrape: Arc<ScrapeManager>,
    record: &ScrapeJobRecord,
    mut doc: Value,
) -> Result<ScrapeJobView, ApiError> {
    let name = record.name.clone();
    let key = key(&scrape)?;
    let old = if record.sealed_secrets.is_empty() {
        BTreeMap::new()
    } else {
        // A key that no longer opens them leaves nothing to keep; new values still work.
        key.open(&name, &record.sealed_secrets).unwrap_or_default()
    };
    secrets::restore_secrets(&mut doc, &old).map_err(invalid)?;
    let config = parse_job(&scrape, &doc)?;
    let (redacted, sealed) = seal(key, &name, &doc)?;
    let n = name.clone();
    state
        .with_store(move |s| s.update_scrape_job(&n, &redacted, &sealed, Utc::now()))
        .await?;
    let s2 = scrape.clone();
    blocking(move || s2.put_api_job(config, false))
        .await?
        .map_err(from_job_error)?;
    tracing::info!(operation = "scrape_job_update", job = %name, "scrape job changed through the API");
    load_view(state, &name).await
}

/// `PUT /api/v1/scrape_jobs/<name>`: the whole job anew.
pub async fn put(
    State(state): State<SharedState>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Json<ScrapeJobView>, ApiError> {
    let scrape = manager(&state)?;
    let record = api_record(&state, &scrape, &name).await?;
    let doc = job_document(&body, Some(&name))?;
    Ok(Json(replace(&state, scrape, &record, doc).await?))
}

/// `PATCH /api/v1/scrape_jobs/<name>`: a JSON merge patch (RFC 7396) over the stored job.
pub async fn patch(
    State(state): State<SharedState>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Result<Json<ScrapeJobView>, ApiError> {
    let scrape = manager(&state)?;
    let record = api_record(&state, &scrape, &name).await?;
    let patch: Value = parse_json(&body)?;
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "send a JSON object with the fields to change (JSON merge patch)",
        ));
    }
    let mut doc = record.spec.clone();
    super::merge_patch(&mut doc, &patch);
    let bytes = serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    let doc = job_document(&bytes, Some(&name))?;
    Ok(Json(replace(&state, scrape, &record, doc).await?))
}

/// `DELETE /api/v1/scrape_jobs/<name>`: stops the job; its series get staleness markers.
pub async fn remove(
    State(state): State<SharedState>,
    UrlPath(name): UrlPath<String>,
) -> Result<StatusCode, ApiError> {
    let scrape = manager(&state)?;
    api_record(&state, &scrape, &name).await?;
    let n = name.clone();
    state.with_store(move |s| s.delete_scrape_job(&n)).await?;
    let n = name.clone();
    blocking(move || scrape.remove_api_job(&n)).await?;
    tracing::info!(operation = "scrape_job_delete", job = %name, "scrape job deleted through the API");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_messages_name_their_field() {
        assert_eq!(
            invalid("static_configs[0]: target \"http://x\": a target is host:port".into()).field,
            Some("static_configs[0]".into())
        );
        assert_eq!(
            invalid(
                "scrape timeout greater than scrape interval for scrape config with job name \"a\""
                    .into()
            )
            .field,
            Some("scrape_timeout".into())
        );
        assert_eq!(
            invalid("at most one of basic_auth, bearer_token".into()).field,
            None
        );
    }
}
