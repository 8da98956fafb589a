//! OTLP/HTTP traces: `POST /v1/traces` with a `traces:write` token (what an OpenTelemetry
//! SDK or collector sends) and Sentry's per-project
//! `POST /api/<project>/integration/otlp/v1/traces` with the DSN's key (what sentry-sdk's
//! `OTLPIntegration` sends). The answer is an `ExportTraceServiceResponse` in the request's
//! encoding, refused spans reported as a partial success; 429 and 503 carry `Retry-After`,
//! which the OTLP exporters honour. The work is in `pharos_app::otlp_traces`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, header};
use axum::response::{IntoResponse, Response};
use pharos_app::AppError;
use pharos_app::logs::OtlpAnswer;
use pharos_app::otlp_traces::OtlpExport;

use crate::SharedState;
use crate::access::Visitor;
use crate::api::ApiError;

fn export_of(headers: &HeaderMap, body: Bytes) -> OtlpExport<Bytes> {
    let header = |name: HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    OtlpExport {
        content_type: header(header::CONTENT_TYPE),
        content_encoding: header(header::CONTENT_ENCODING),
        body,
    }
}

fn answered(answer: OtlpAnswer) -> Response {
    let content_type = if answer.protobuf {
        "application/x-protobuf"
    } else {
        "application/json"
    };
    ([(header::CONTENT_TYPE, content_type)], answer.body).into_response()
}

/// `POST /v1/traces`.
pub async fn export(
    Visitor(caller): Visitor,
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match state
        .accept_otlp_traces(&caller, export_of(&headers, body))
        .await
    {
        Ok(answer) => answered(answer),
        Err(e) => {
            let retry_after = match &e {
                AppError::RateLimited {
                    retry_after_secs, ..
                } => Some(*retry_after_secs),
                AppError::Unavailable(_) => Some(pharos_app::health::STORE_RETRY_AFTER_SECS),
                _ => None,
            };
            let mut resp = ApiError::from(e).into_response();
            if let Some(secs) = retry_after {
                resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            resp
        }
    }
}

/// `POST /api/<project>/integration/otlp/v1/traces` (with or without the trailing slash).
pub async fn project_export(
    State(state): State<SharedState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get("x-sentry-auth")
        .or_else(|| headers.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match state
        .accept_project_otlp_traces(
            &project,
            auth.as_deref(),
            query.as_deref(),
            export_of(&headers, body),
        )
        .await
    {
        Ok(answer) => answered(answer),
        Err(refused) => crate::sentry::refusal(refused),
    }
}
