//! Pharos's own health endpoints, in the shapes our users' services expose:
//! `/health` (who and how long), `/health/live` (the process answers) and `/health/ready`
//! (storage writable, disk free, receivers delivering), which answers 503 and
//! `"degraded"` when a check fails.
//!
//! A receiver (each integration of one, by its delivery-log name) is failing when its
//! last [`FAILED_ATTEMPTS`] attempts or more failed with nothing delivered since, or when
//! a notification has waited [`STALLED_AFTER`] with nothing delivered in that time. One
//! success clears it: a receiver that failed once and then delivered is healthy.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::SharedState;
use crate::api::ApiError;

/// Failed attempts in a row that make a receiver failing; fewer are ordinary retries.
pub const FAILED_ATTEMPTS: u64 = 3;
/// How long a notification may wait undelivered, with nothing else delivered meanwhile.
pub const STALLED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// Failures older than this no longer count, and success rates cover this window.
pub const WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How one integration of a receiver is doing.
#[derive(Clone, Debug)]
pub struct ReceiverHealth {
    /// The configured receiver (`ops`).
    pub receiver: String,
    /// The delivery-log name (`ops`, or `ops/slack0` when it has several).
    pub integration: String,
    /// Why it counts as failing; `None` when healthy.
    pub failing: Option<String>,
    pub record: pharos_store::IntegrationRecord,
}

impl ReceiverHealth {
    /// Delivered share of the deliveries finished in the window, if any finished.
    pub fn success_rate(&self) -> Option<f64> {
        let done = self.record.delivered + self.record.failed;
        (done > 0).then(|| self.record.delivered as f64 * 100.0 / done as f64)
    }
}

fn verdict(r: &pharos_store::IntegrationRecord, now: chrono::DateTime<Utc>) -> Option<String> {
    let error = match (&r.last_error, r.last_response_status) {
        (Some(e), _) => format!(": {e}"),
        (None, Some(code)) => format!(": HTTP {code}"),
        (None, None) => String::new(),
    };
    if r.failed_attempts_since_success >= FAILED_ATTEMPTS {
        return Some(format!(
            "the last {} delivery attempts failed{error}",
            r.failed_attempts_since_success
        ));
    }
    let stalled_since = r
        .oldest_pending_since
        .filter(|t| *t <= now - STALLED_AFTER)?;
    if r.last_success_at.is_some_and(|t| t > now - STALLED_AFTER) {
        return None;
    }
    Some(format!(
        "a notification has waited since {} and nothing was delivered in {} min{error}",
        stalled_since.to_rfc3339_opts(SecondsFormat::Secs, true),
        STALLED_AFTER.num_minutes()
    ))
}

/// Every integration of every configured receiver, in config order, with its verdict.
pub async fn receiver_health(state: &SharedState) -> Result<Vec<ReceiverHealth>, ApiError> {
    let integrations: Vec<(String, String)> = {
        let receivers = state.receivers.read().unwrap_or_else(|p| p.into_inner());
        receivers
            .receiver_names()
            .flat_map(|name| {
                receivers
                    .integrations_of(name)
                    .unwrap_or_default()
                    .iter()
                    .map(|i| (name.to_string(), i.name().to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let names: Vec<String> = integrations.iter().map(|(_, i)| i.clone()).collect();
    let now = Utc::now();
    let records = state
        .with_store(move |s| s.integration_records(&names, now - WINDOW))
        .await?;
    Ok(integrations
        .into_iter()
        .zip(records)
        .map(|((receiver, integration), record)| ReceiverHealth {
            receiver,
            integration,
            failing: verdict(&record, now),
            record,
        })
        .collect())
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub async fn health(State(state): State<SharedState>) -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "service": "pharos",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "started_at": state.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "timestamp": now(),
    }))
}

/// Touches nothing but the clock, so it answers in well under 10 ms even under load.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "healthy", "timestamp": now() }))
}

pub async fn ready(State(state): State<SharedState>) -> Response {
    let started = Instant::now();
    let store = state.store.clone();
    let writable = tokio::task::spawn_blocking(move || store.check_writable()).await;
    let storage = match writable {
        Ok(Ok(())) => {
            json!({ "status": "healthy", "message": "storage writable", "latency_ms": ms(started) })
        }
        Ok(Err(e)) => {
            json!({ "status": "unhealthy", "message": format!("storage not writable: {e}"), "latency_ms": ms(started) })
        }
        Err(e) => {
            json!({ "status": "unhealthy", "message": e.to_string(), "latency_ms": ms(started) })
        }
    };

    let started = Instant::now();
    let min_free = state.settings().min_free_disk_mb * 1024 * 1024;
    let disk = match free_bytes(state.store.dir()) {
        Some(free) if free >= min_free => json!({
            "status": "healthy", "free_bytes": free, "min_free_bytes": min_free, "latency_ms": ms(started)
        }),
        Some(free) => json!({
            "status": "unhealthy", "free_bytes": free, "min_free_bytes": min_free, "latency_ms": ms(started),
            "message": format!("only {} MiB free in the data directory", free / 1024 / 1024)
        }),
        None => {
            json!({ "status": "unhealthy", "message": "cannot read free disk space", "latency_ms": ms(started) })
        }
    };

    let mut checks = serde_json::Map::new();
    checks.insert("storage".into(), storage);
    checks.insert("disk".into(), disk);
    let started = Instant::now();
    match receiver_health(&state).await {
        Ok(list) => {
            for h in list {
                let mut check = json!({
                    "status": if h.failing.is_some() { "degraded" } else { "healthy" },
                    "kind": "receiver",
                    "receiver": h.receiver,
                    "failed_attempts": h.record.failed_attempts_since_success,
                    "last_success_at": h.record.last_success_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    "latency_ms": ms(started),
                });
                if let Some(why) = h.failing {
                    check["message"] = json!(why);
                }
                // A receiver named like a built-in check must not hide it.
                let key = if checks.contains_key(&h.integration) {
                    format!("receiver:{}", h.integration)
                } else {
                    h.integration
                };
                checks.insert(key, check);
            }
        }
        Err(e) => {
            checks.insert(
                "receivers".into(),
                json!({ "status": "unhealthy", "message": e.message, "latency_ms": ms(started) }),
            );
        }
    }
    let healthy = checks.values().all(|c| c["status"] == "healthy");
    let body = json!({
        "status": if healthy { "healthy" } else { "degraded" },
        "timestamp": now(),
        "checks": checks,
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// Free bytes for unprivileged users on the file system holding `dir`.
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is a valid out-pointer.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}
