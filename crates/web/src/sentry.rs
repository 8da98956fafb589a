//! The Sentry ingest endpoints: `POST /api/<project>/envelope/` and `/store/` (also under
//! a DSN path prefix), authenticated by the DSN's public key, answered the way SDKs
//! expect (200 with the id, 400, 401, 413, 429 with `Retry-After` and
//! `X-Sentry-Rate-Limits`), with CORS for browser SDKs.

pub mod checkin;
pub mod directory;
mod metrics;

use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use pharos_evaluate::IssueSignal;
use pharos_ingest::sentry::{
    self, Envelope, Limits, NOT_KEPT_CATEGORIES, Processed, Record, Scrubber, auth, body,
};
use pharos_store::errors::{IngestBatch, IngestOutcome};
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use crate::SharedState;
use directory::{Directory, Quota};
pub use metrics::IngestMetrics;

/// The largest request body accepted, compressed or decoded (Sentry's envelope limit is
/// larger, but a small team's SDKs never come near this).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Error-tracking ingest state shared by the handlers.
pub struct ErrorIngest {
    pub directory: RwLock<Directory>,
    pub scrubber: RwLock<Arc<Scrubber>>,
    pub limits: Limits,
    pub quota: Quota,
    pub signals: UnboundedSender<IssueSignal>,
    pub metrics: IngestMetrics,
}

impl ErrorIngest {
    pub fn new(signals: UnboundedSender<IssueSignal>, metrics: IngestMetrics) -> ErrorIngest {
        ErrorIngest {
            directory: RwLock::new(Directory::default()),
            scrubber: RwLock::new(Arc::new(Scrubber::default())),
            limits: Limits::default(),
            quota: Quota::default(),
            signals,
            metrics,
        }
    }

    pub fn set_scrubber(&self, s: Scrubber) {
        *self.scrubber.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(s);
    }

    pub fn scrubber(&self) -> Arc<Scrubber> {
        self.scrubber
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ErrorIngest {
    /// Replaces the key directory after a change of projects or keys.
    pub fn set_projects(&self, projects: &[pharos_store::errors::Project]) {
        *self.directory.write().unwrap_or_else(|p| p.into_inner()) =
            Directory::from_projects(projects);
    }
}

/// Re-reads projects and keys after an API change.
pub async fn refresh_directory(state: &SharedState) -> Result<(), crate::api::ApiError> {
    let projects = state.with_store(|s| s.errors().projects()).await?;
    state.errors.set_projects(&projects);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Envelope,
    Store,
}

pub async fn envelope(
    State(state): State<SharedState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    ingest(
        &state,
        Endpoint::Envelope,
        &project,
        query.as_deref(),
        &headers,
        body,
    )
    .await
}

pub async fn store(
    State(state): State<SharedState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    ingest(
        &state,
        Endpoint::Store,
        &project,
        query.as_deref(),
        &headers,
        body,
    )
    .await
}

/// CORS preflight for browser SDKs.
pub async fn preflight() -> Response {
    with_cors(StatusCode::OK.into_response())
}

/// Ingest under a DSN path prefix (`http://key@host/sub/path/42` posts to
/// `/sub/path/api/42/envelope/`); anything else is a plain 404.
pub async fn prefixed(State(state): State<SharedState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_end_matches('/').rsplit('/').take(3).collect();
    let endpoint = match segments.as_slice() {
        ["envelope", id, "api"] if id.parse::<i64>().is_ok() => {
            Some((Endpoint::Envelope, id.to_string()))
        }
        ["store", id, "api"] if id.parse::<i64>().is_ok() => {
            Some((Endpoint::Store, id.to_string()))
        }
        _ => None,
    };
    let Some((endpoint, project)) = endpoint else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if req.method() == Method::OPTIONS {
        return preflight().await;
    }
    if req.method() != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "use POST").into_response();
    }
    let query = req.uri().query().map(str::to_owned);
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return reject(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    ingest(&state, endpoint, &project, query.as_deref(), &headers, body).await
}

async fn ingest(
    state: &SharedState,
    endpoint: Endpoint,
    project: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    raw: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let m = &state.errors.metrics;
    let Ok(project_id) = project.parse::<i64>() else {
        return reject(
            StatusCode::NOT_FOUND,
            "the project id in the URL must be a number",
        );
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Large bodies are decoded off the async threads.
    let decoded = if raw.len() > 256 * 1024 {
        tokio::task::spawn_blocking(move || body::decode(encoding.as_deref(), &raw, MAX_BODY_BYTES))
            .await
            .unwrap_or_else(|e| Err(body::BodyError::Unsupported(e.to_string())))
    } else {
        body::decode(encoding.as_deref(), &raw, MAX_BODY_BYTES)
    };
    let data = match decoded {
        Ok(d) => d,
        Err(e @ body::BodyError::TooLarge { .. }) => {
            m.envelope("too_large");
            return reject(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string());
        }
        Err(e @ body::BodyError::Unsupported(_)) => {
            m.envelope("bad_encoding");
            return reject(StatusCode::UNSUPPORTED_MEDIA_TYPE, &e.to_string());
        }
        Err(e) => {
            m.envelope("invalid");
            return reject(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };

    let header_key = headers
        .get("x-sentry-auth")
        .or_else(|| headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .and_then(auth::key_from_auth_header)
        .map(str::to_owned);
    let received = Utc::now();
    // Framing is cheap and may carry the key (the `dsn` header); the items are processed
    // only once the key is known to be good.
    let envelope = match endpoint {
        Endpoint::Envelope => match Envelope::parse(&data) {
            Ok(e) => Some(e),
            Err(e) => {
                m.envelope("invalid");
                return reject(StatusCode::BAD_REQUEST, &e.to_string());
            }
        },
        Endpoint::Store => None,
    };
    let key = header_key
        .or_else(|| query.and_then(auth::key_from_query))
        .or_else(|| {
            envelope
                .as_ref()
                .and_then(Envelope::dsn)
                .and_then(auth::key_from_dsn)
        });
    let info = {
        let dir = state
            .errors
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner());
        dir.authenticate(project_id, key.as_deref())
    };
    let info = match info {
        Ok(i) => i,
        Err(e) => {
            m.envelope("unauthorized");
            return reject(StatusCode::UNAUTHORIZED, e.message());
        }
    };
    let scrubber = state.errors.scrubber();
    let (processed, id_from_header) = match &envelope {
        Some(env) => (
            sentry::process_envelope(env, &scrubber, state.errors.limits, received),
            env.event_id().map(str::to_owned),
        ),
        None => {
            let mut p = Processed::default();
            match sentry::process_store_body(&data, &scrubber, received) {
                Ok(r) => p.records.push(r),
                Err(sentry::EventError::TooLarge) => p.too_large = true,
                Err(e) => {
                    m.envelope("invalid");
                    return reject(StatusCode::BAD_REQUEST, &e.to_string());
                }
            }
            (p, None)
        }
    };
    if processed.too_large {
        m.envelope("too_large");
        return reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("an event is larger than {} bytes", sentry::MAX_EVENT_BYTES),
        );
    }
    for ty in &processed.skipped {
        m.item(ty, "skipped");
    }
    for (ty, reason) in &processed.invalid {
        m.item(ty, "invalid");
        tracing::info!(operation = "sentry_ingest", project = info.id, item = %ty, error_type = "invalid_item", error = %reason, "envelope item dropped");
    }

    // The quota counts error events; over it they are dropped and the SDK told to wait.
    let Processed {
        records, framing, ..
    } = processed;
    let wanted = records
        .iter()
        .filter(|r| matches!(r, Record::Event(_)))
        .count() as u32;
    let (granted, retry_after) = state.errors.quota.take(&info, wanted, received.timestamp());
    let mut events_left = granted;
    let mut kept = Vec::with_capacity(records.len());
    let mut check_ins = Vec::new();
    for r in records {
        match r {
            Record::Event(_) if events_left == 0 => m.item("event", "rate_limited"),
            Record::Event(e) => {
                events_left -= 1;
                kept.push(Record::Event(e));
            }
            Record::CheckIn(c) => check_ins.push(c),
            other => kept.push(other),
        }
    }
    let answer_id = kept
        .iter()
        .find_map(|r| match r {
            Record::Event(e) => Some(e.event_id.clone()),
            Record::Transaction(t) => Some(t.event_id.clone()),
            _ => None,
        })
        .or(id_from_header);
    if let Some(retry) = retry_after
        && kept.is_empty()
        && check_ins.is_empty()
    {
        m.envelope("rate_limited");
        let mut resp = reject(StatusCode::TOO_MANY_REQUESTS, "project quota exceeded");
        set_rate_limits(resp.headers_mut(), Some(retry));
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry));
        return resp;
    }

    // Structured logs also go to the log store, searchable beside every other log line.
    let sdk_logs: Vec<pharos_model::LogEntry> = match &state.logs {
        Some(_) => kept
            .iter()
            .filter_map(|r| match r {
                Record::Logs(l) => Some(l.clone()),
                _ => None,
            })
            .flat_map(|l| pharos_ingest::logs::sentry::to_entries(l, &info.name, received))
            .collect(),
        None => Vec::new(),
    };
    let mut outcome = IngestOutcome::default();
    if !kept.is_empty() {
        let counts: Vec<(&'static str, String)> = kept.iter().map(record_label).collect();
        let batch = IngestBatch::new(info.id, received, kept);
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Err(e) = state.with_store_errors(batch, tx) {
            m.envelope("unavailable");
            tracing::warn!(operation = "sentry_ingest", project = info.id, error_type = "store", error = %e, "envelope refused");
            return reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "Pharos is busy storing events; try again",
            );
        }
        outcome = match rx.await {
            Ok(Ok(o)) => o,
            _ => {
                m.envelope("unavailable");
                return reject(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "events could not be stored; try again",
                );
            }
        };
        for (ty, _) in &counts {
            m.item(ty, "accepted");
        }
        m.record(&info, &outcome, &counts);
        for e in outcome.events.iter().filter(|e| !e.duplicate) {
            let signal = if e.new_issue {
                Some(IssueSignal::New {
                    project: info.id,
                    issue: e.issue_id,
                })
            } else if e.regression {
                Some(IssueSignal::Regression {
                    project: info.id,
                    issue: e.issue_id,
                })
            } else {
                None
            };
            if let Some(s) = signal {
                let _ = state.errors.signals.send(s);
            }
        }
    }
    if let Some(logs) = &state.logs
        && !sdk_logs.is_empty()
    {
        let decoded = pharos_model::DecodedLogs {
            entries: sdk_logs,
            rejected: Vec::new(),
        };
        if let Err(e) = logs.accept("sentry", decoded).await {
            tracing::warn!(operation = "sentry_ingest", project = info.id, error_type = "log_store", error = %e, "SDK logs not added to the log store");
        }
    }
    for c in check_ins {
        m.item("check_in", "accepted");
        checkin::apply(state, &info, c).await;
    }
    m.latency(started.elapsed().as_secs_f64());

    if let Some(f) = framing {
        // Items before the break were kept; the SDK cannot fix the rest by retrying.
        m.envelope("invalid");
        tracing::info!(operation = "sentry_ingest", project = info.id, error_type = "framing", error = %f, "envelope cut short");
        let mut resp = reject(StatusCode::BAD_REQUEST, &f.to_string());
        set_rate_limits(resp.headers_mut(), retry_after);
        return resp;
    }
    m.envelope("accepted");
    let body = match answer_id {
        Some(id) => json!({ "id": id }),
        None => json!({}),
    };
    let _ = outcome;
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    set_rate_limits(resp.headers_mut(), retry_after);
    with_cors(resp)
}

fn record_label(r: &Record) -> (&'static str, String) {
    match r {
        Record::Event(e) => ("event", e.level.clone()),
        Record::Transaction(_) => ("transaction", String::new()),
        Record::Sessions(_) => ("session", String::new()),
        Record::CheckIn(_) => ("check_in", String::new()),
        Record::Attachment(_) => ("attachment", String::new()),
        Record::Logs(_) => ("log", String::new()),
        Record::ClientReport(d) => (
            "client_report",
            d.iter().map(|d| d.quantity).sum::<u64>().to_string(),
        ),
    }
}

/// `X-Sentry-Rate-Limits`: the categories Pharos does not keep (for a day, re-sent with
/// every answer) and, when over quota, the error categories until the next minute.
fn set_rate_limits(h: &mut HeaderMap, quota_retry: Option<u64>) {
    let mut value = format!(
        "86400:{}:organization:not_kept",
        NOT_KEPT_CATEGORIES.join(";")
    );
    if let Some(retry) = quota_retry {
        value.push_str(&format!(", {retry}:error;default;security:project:quota"));
    }
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert("x-sentry-rate-limits", v);
    }
}

fn reject(status: StatusCode, detail: &str) -> Response {
    let mut resp = (status, axum::Json(json!({ "detail": detail }))).into_response();
    if let Ok(v) = HeaderValue::from_str(detail) {
        resp.headers_mut().insert("x-sentry-error", v);
    }
    set_rate_limits(resp.headers_mut(), None);
    with_cors(resp)
}

fn with_cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "x-sentry-auth, x-requested-with, origin, accept, content-type, content-encoding, authentication, authorization, sentry-trace, baggage",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3600"),
    );
    resp
}
