//! Pharos's own health endpoints, in the shapes our users' services expose:
//! `/health` (who and how long), `/health/live` (the process answers) and `/health/ready`
//! (storage writable, disk free, the log and metrics stores writing, receivers
//! delivering; see [`pharos_app::health`]; scheduled backups keeping up, shown but not
//! counted), which answers 503 and `"degraded"` when a
//! check fails, and 200 again as soon as it passes: nothing needs a restart. Only callers
//! with the read permission see the checks' details; anyone else gets the status from a
//! recent verdict.

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

/// Anonymous callers (load balancers, uptime checkers) get the status alone, from a
/// verdict at most [`pharos_app::health::READY_VERDICT_FOR`] old; callers that may read get
/// every check with its figures and receiver errors, checked now.
pub async fn ready(
    State(state): State<SharedState>,
    crate::access::Visitor(caller): crate::access::Visitor,
) -> Response {
    let (healthy, body) = if caller.allows(pharos_model::access::Permission::Read) {
        let (healthy, checks) = checks(&state).await;
        state.ready_verdict.record(Instant::now(), healthy);
        let body = json!({
            "status": if healthy { "healthy" } else { "degraded" },
            "timestamp": now(),
            "checks": checks,
        });
        (healthy, body)
    } else {
        let healthy = state
            .ready_verdict
            .get_or_check(|| async { checks(&state).await.0 })
            .await;
        let body = json!({
            "status": if healthy { "healthy" } else { "degraded" },
            "timestamp": now(),
        });
        (healthy, body)
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Every check, and whether all are healthy.
async fn checks(state: &SharedState) -> (bool, serde_json::Map<String, Value>) {
    let started = Instant::now();
    let storage = match state.check_storage_writable().await {
        Ok(()) => {
            json!({ "status": "healthy", "message": "storage writable", "latency_ms": ms(started) })
        }
        Err(e) => {
            json!({ "status": "unhealthy", "message": e.to_string(), "latency_ms": ms(started) })
        }
    };

    let started = Instant::now();
    let min_free = state.settings().min_free_disk_mb * 1024 * 1024;
    let disk = match state.free_disk_bytes() {
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
    for (store, verdict) in state.store_write_health() {
        let check = match verdict {
            Ok(()) => json!({ "status": "healthy", "message": format!("{store} store writing") }),
            Err(why) => json!({ "status": "unhealthy", "message": why }),
        };
        checks.insert(store.into(), check);
    }
    let started = Instant::now();
    match state.receiver_health().await {
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
                json!({ "status": "unhealthy", "message": e.to_string(), "latency_ms": ms(started) }),
            );
        }
    }
    let healthy = checks.values().all(|c| c["status"] == "healthy");
    // Shown, but not part of the verdict: a failed backup must not take Pharos out of a
    // load balancer; `/metrics` has it for alerting.
    if let Some(verdict) = state.backups.health(Utc::now()) {
        let check = match verdict {
            Ok(message) => json!({ "status": "healthy", "kind": "backup", "message": message }),
            Err(why) => json!({ "status": "degraded", "kind": "backup", "message": why }),
        };
        checks.insert("backup".into(), check);
    }
    (healthy, checks)
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}
