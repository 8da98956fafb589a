//! Heartbeat ping URLs (healthchecks.io style). Public by design: the token in the URL is
//! the secret, and it never appears in logs or metrics labels.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pharos_app::AppError;

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
    match state.ping(token, action, &body).await {
        Ok(_) => "OK".into_response(),
        // Plain text, as healthchecks.io answers: cron jobs log it as it is.
        Err(AppError::NotFound(_)) => (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(e) => (crate::api::status_of(&e), e.to_string()).into_response(),
    }
}
