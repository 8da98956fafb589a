//! Sentry's older user-feedback endpoint,
//! `POST /api/0/projects/{org}/{project}/user-feedback/`, authenticated by a DSN key like
//! the envelope endpoint (`Authorization: DSN <dsn>`); the work is
//! [`pharos_app::App::accept_user_report`].

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pharos_app::sentry::user_report::UserReportRequest;

use crate::SharedState;
use crate::sentry::{refusal, with_cors};

/// The most a user report body may be; the app refuses more with a clear message, this
/// stops a larger body before it is read.
pub const MAX_USER_REPORT_BODY_BYTES: usize = 64 * 1024;

pub async fn post(
    State(state): State<SharedState>,
    Path((_org, project)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get("x-sentry-auth")
        .or_else(|| headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok());
    let request = UserReportRequest {
        project: &project,
        auth_header: auth,
        query: query.as_deref(),
        body: &body,
    };
    match state.accept_user_report(request).await {
        Ok(report) => with_cors((StatusCode::OK, axum::Json(report)).into_response()),
        Err(refused) => refusal(refused),
    }
}
