//! Heartbeat ping URLs (healthchecks.io style). Public by design: the token in the URL is
//! the secret, and it never appears in logs or metrics labels.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pharos_evaluate::PingError;
use pharos_ingest::heartbeat::{parse_ping_action, ping_message};

use crate::SharedState;

pub async fn ping(State(state): State<SharedState>, Path(token): Path<String>) -> Response {
    handle(&state, &token, None, Bytes::new()).await
}

pub async fn ping_post(
    State(state): State<SharedState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    handle(&state, &token, None, body).await
}

pub async fn ping_action(
    State(state): State<SharedState>,
    Path((token, action)): Path<(String, String)>,
) -> Response {
    handle(&state, &token, Some(&action), Bytes::new()).await
}

pub async fn ping_action_post(
    State(state): State<SharedState>,
    Path((token, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    handle(&state, &token, Some(&action), body).await
}

async fn handle(state: &SharedState, token: &str, action: Option<&str>, body: Bytes) -> Response {
    let kind = match parse_ping_action(action) {
        Ok(k) => k,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match state.engine.ping(token, kind, ping_message(&body)).await {
        Ok(monitor) => {
            tracing::debug!(operation = "heartbeat_ping", monitor = %monitor, kind = ?kind, "ping received");
            "OK".into_response()
        }
        Err(PingError::UnknownToken) => (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(PingError::Store(e)) => {
            tracing::error!(operation = "heartbeat_ping", error_type = "store", error = %e, "ping not recorded");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "ping not recorded, try again",
            )
                .into_response()
        }
    }
}
