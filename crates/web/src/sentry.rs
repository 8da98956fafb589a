//! The Sentry ingest endpoints: `POST /api/<project>/envelope/` and `/store/` (also under
//! a DSN path prefix), answered the way SDKs expect (200 with the id, 400, 401, 413, 429
//! with `Retry-After` and `X-Sentry-Rate-Limits`), with CORS for browser SDKs. The key is
//! checked before the body is read (of an envelope that carries it only in its header
//! line, just that line); the work is [`pharos_app::App::accept_sentry`].

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use pharos_app::AppError;
use pharos_app::sentry::NOT_KEPT_CATEGORIES;
use pharos_app::sentry::admission::{ENVELOPE_HEADER_READ_BYTES, KeyCheck};
use pharos_app::sentry::quota::OverQuota;
use pharos_app::sentry::{Endpoint, SentryRefused, SentryRequest};
use serde_json::json;

use crate::SharedState;
pub use pharos_app::sentry::MAX_BODY_BYTES;

pub async fn envelope(
    State(state): State<SharedState>,
    Path(project): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
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
    body: Body,
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
        return not_found(req.headers());
    };
    if req.method() == Method::OPTIONS {
        return preflight().await;
    }
    if req.method() != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "use POST").into_response();
    }
    let query = req.uri().query().map(str::to_owned);
    let headers = req.headers().clone();
    ingest(
        &state,
        endpoint,
        &project,
        query.as_deref(),
        &headers,
        req.into_body(),
    )
    .await
}

/// An unknown address: a page with the way back for a browser, a line of text otherwise.
fn not_found(headers: &HeaderMap) -> Response {
    let browser = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !browser {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let page = concat!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>Not found · Pharos</title><link rel=\"stylesheet\" href=\"/assets/pharos.css\">",
        "<link rel=\"icon\" type=\"image/svg+xml\" href=\"/assets/favicon.svg\"></head>",
        "<body><main><h1>Not found</h1><p>Pharos has no page at this address.</p>",
        "<p><a href=\"/\">Back to the overview</a></p></main></body></html>"
    );
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

async fn ingest(
    state: &SharedState,
    endpoint: Endpoint,
    project: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_encoding = header(header::CONTENT_ENCODING.as_str());
    let auth_header = header("x-sentry-auth").or_else(|| header(header::AUTHORIZATION.as_str()));
    let mut body = BodyReader::new(body);
    match state.check_sentry_key(endpoint, project, auth_header.as_deref(), query) {
        Err(refused) => return refusal(refused),
        Ok(KeyCheck::Authenticated(_)) => {}
        Ok(KeyCheck::InEnvelopeHeader) => loop {
            let complete = match body.read_more(ENVELOPE_HEADER_READ_BYTES).await {
                Ok(complete) => complete,
                Err(response) => return response,
            };
            match state.check_envelope_header_key(
                project,
                content_encoding.as_deref(),
                body.bytes(),
                complete,
            ) {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(refused) => return refusal(refused),
            }
        },
    }
    let body = match body.read_all(MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let request = SentryRequest {
        endpoint,
        project: project.to_string(),
        content_encoding,
        auth_header,
        query: query.map(str::to_owned),
        body,
    };
    match state.accept_sentry(request).await {
        Ok(accepted) => {
            let body = match accepted.id {
                Some(id) => json!({ "id": id }),
                None => json!({}),
            };
            let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
            set_rate_limits(resp.headers_mut(), &accepted.over_quota);
            with_cors(resp)
        }
        Err(refused) => refusal(refused),
    }
}

pub(crate) fn refusal(refused: SentryRefused) -> Response {
    let status = crate::api::status_of(&refused.error);
    let mut resp = reject(status, &refused.error.to_string());
    set_rate_limits(resp.headers_mut(), &refused.over_quota);
    if let AppError::RateLimited {
        retry_after_secs, ..
    } = refused.error
    {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    }
    // The error store cannot write now; it takes events again once the disk does.
    if let AppError::Unavailable(_) = refused.error {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(pharos_app::health::STORE_RETRY_AFTER_SECS),
        );
    }
    resp
}

/// A request body read in steps: as much as the key check needs, then the rest.
struct BodyReader {
    stream: axum::body::BodyDataStream,
    /// The first chunk, kept as it came so that a body of one chunk is never copied.
    first: Option<Bytes>,
    read: Vec<u8>,
    done: bool,
}

impl BodyReader {
    fn new(body: Body) -> BodyReader {
        BodyReader {
            stream: body.into_data_stream(),
            first: None,
            read: Vec::new(),
            done: false,
        }
    }

    fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.read.len()
    }

    /// What was read so far, in one piece.
    fn bytes(&mut self) -> &[u8] {
        if let Some(first) = self.first.take() {
            let rest = std::mem::take(&mut self.read);
            self.read = [&first[..], &rest[..]].concat();
        }
        &self.read
    }

    /// Reads the next chunk (past `limit` bytes read it is 401: no key found in time).
    /// Returns whether the body is complete.
    async fn read_more(&mut self, limit: usize) -> Result<bool, Response> {
        if self.done {
            return Ok(true);
        }
        if self.len() >= limit {
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "missing authentication: no key in the headers, the URL or the envelope header",
            ));
        }
        match self.stream.next().await {
            None => self.done = true,
            Some(Ok(chunk)) if self.len() == 0 => self.first = Some(chunk),
            Some(Ok(chunk)) => {
                self.bytes();
                self.read.extend_from_slice(&chunk);
            }
            Some(Err(_)) => return Err(reject(StatusCode::BAD_REQUEST, "request body cut short")),
        }
        Ok(self.done)
    }

    async fn read_all(mut self, limit: usize) -> Result<Bytes, Response> {
        while !self.done {
            if self.len() > limit {
                break;
            }
            self.read_more(usize::MAX).await?;
        }
        if self.len() > limit {
            return Err(reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            ));
        }
        Ok(match (self.first, self.read.is_empty()) {
            (Some(first), true) => first,
            (Some(first), false) => Bytes::from([&first[..], &self.read[..]].concat()),
            (None, _) => Bytes::from(self.read),
        })
    }
}

/// `X-Sentry-Rate-Limits` (`retry_after:categories:scope:reason_code`, comma-separated):
/// the categories Pharos does not keep (for a day, re-sent with every answer) and each
/// category over the project's quota, until its quota refills.
fn set_rate_limits(h: &mut HeaderMap, over_quota: &[OverQuota]) {
    let mut value = format!(
        "86400:{}:organization:not_kept",
        NOT_KEPT_CATEGORIES.join(";")
    );
    for o in over_quota {
        value.push_str(&format!(
            ", {}:{}:project:{}",
            o.retry_after_secs,
            o.category.sentry_names(),
            o.reason.as_str()
        ));
    }
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert("x-sentry-rate-limits", v);
    }
}

pub(crate) fn reject(status: StatusCode, detail: &str) -> Response {
    let mut resp = (status, axum::Json(json!({ "detail": detail }))).into_response();
    if let Ok(v) = HeaderValue::from_str(detail) {
        resp.headers_mut().insert("x-sentry-error", v);
    }
    set_rate_limits(resp.headers_mut(), &[]);
    with_cors(resp)
}

pub(crate) fn with_cors(mut resp: Response) -> Response {
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
