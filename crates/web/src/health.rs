//! Pharos's own health endpoints, in the shapes our users' services expose:
//! `/health` (who and how long), `/health/live` (the process answers) and `/health/ready`
//! (storage writable, disk free), which answers 503 and `"degraded"` when a check fails.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::SharedState;

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

    let healthy = storage["status"] == "healthy" && disk["status"] == "healthy";
    let body = json!({
        "status": if healthy { "healthy" } else { "degraded" },
        "timestamp": now(),
        "checks": { "storage": storage, "disk": disk },
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
