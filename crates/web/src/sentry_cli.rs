//! The part of Sentry's web API (`/api/0/`) that `sentry-cli sourcemaps upload` and
//! `sentry-cli releases new|finalize` call, with a Pharos API token as the auth token:
//! chunk upload options, chunk upload (multipart, parts named by SHA-1, gzip'd),
//! artifact bundle assembly, and the organization, project and release look-ups. Errors
//! are answered as `{"detail": ...}`, the shape sentry-cli prints. The work is in
//! [`pharos_app::source_maps`].

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pharos_app::AppError;
use pharos_app::source_maps::{AssembleRequest, UPLOAD_LIMITS, UploadedChunk};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SharedState;
use crate::access::Visitor;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/api/0/organizations/{org}/", get(organization))
        .route("/api/0/projects/{org}/{project}/", get(project))
        .route(
            "/api/0/organizations/{org}/chunk-upload/",
            get(chunk_upload_options).post(chunk_upload).layer(
                // Multipart framing on top of the compressed chunks.
                DefaultBodyLimit::max(UPLOAD_LIMITS.request_bytes + 1024 * 1024),
            ),
        )
        .route(
            "/api/0/organizations/{org}/artifactbundle/assemble/",
            post(assemble),
        )
        .route("/api/0/organizations/{org}/releases/", post(new_release))
        .route(
            "/api/0/organizations/{org}/releases/{version}/",
            get(release).put(update_release),
        )
}

fn refused(e: AppError) -> Response {
    let status = crate::api::status_of(&e);
    let mut resp = (status, Json(json!({ "detail": e.to_string() }))).into_response();
    if let AppError::RateLimited {
        retry_after_secs, ..
    } = e
        && let Ok(v) = retry_after_secs.to_string().parse()
    {
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    resp
}

fn bad_request(detail: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "detail": detail.into() })),
    )
        .into_response()
}

/// Any organization slug names this Pharos.
async fn organization(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    Path(org): Path<String>,
) -> Response {
    match state.sentry_cli_projects(&caller, &[]).await {
        Ok(_) => Json(json!({ "id": "1", "slug": org, "name": org })).into_response(),
        Err(e) => refused(e),
    }
}

async fn project(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    Path((_org, slug)): Path<(String, String)>,
) -> Response {
    match state.sentry_cli_projects(&caller, &[slug]).await {
        Ok(p) => {
            let p = &p[0];
            Json(json!({ "id": p.id.to_string(), "slug": p.name, "name": p.name })).into_response()
        }
        Err(e) => refused(e),
    }
}

async fn chunk_upload_options(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    Path(org): Path<String>,
) -> Response {
    if let Err(e) = state.sentry_cli_projects(&caller, &[]).await {
        return refused(e);
    }
    let l = UPLOAD_LIMITS;
    Json(json!({
        // Relative: sentry-cli resolves it against the URL it was given, so no Host
        // header is trusted to build it.
        "url": format!("/api/0/organizations/{}/chunk-upload/", percent(&org)),
        "chunkSize": l.chunk_bytes,
        "chunksPerRequest": l.chunks_per_request,
        "maxFileSize": l.bundle_bytes,
        "maxRequestSize": l.request_bytes,
        "concurrency": l.concurrency,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        "accept": ["artifact_bundles", "sources", "release_files"],
    }))
    .into_response()
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn chunk_upload(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    mut form: Multipart,
) -> Response {
    // The permission first: nothing of an unpermitted body is read.
    if let Err(e) = state.sentry_cli_projects(&caller, &[]).await {
        return refused(e);
    }
    let mut chunks = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return (e.status(), Json(json!({ "detail": e.body_text() }))).into_response();
            }
        };
        let gzip = match field.name() {
            Some("file") => false,
            Some("file_gzip") => true,
            other => {
                return bad_request(format!(
                    "unexpected form field {other:?}: chunks are sent as `file` or `file_gzip`"
                ));
            }
        };
        let Some(name) = field.file_name().map(str::to_owned) else {
            return bad_request("a chunk has no file name (its SHA-1)");
        };
        if chunks.len() >= UPLOAD_LIMITS.chunks_per_request {
            return refused(AppError::TooLarge(format!(
                "more than {} chunks in one request",
                UPLOAD_LIMITS.chunks_per_request
            )));
        }
        match field.bytes().await {
            Ok(data) => chunks.push(UploadedChunk {
                name,
                gzip,
                data: data.to_vec(),
            }),
            Err(e) => {
                return (e.status(), Json(json!({ "detail": e.body_text() }))).into_response();
            }
        }
    }
    match state.upload_source_map_chunks(&caller, chunks).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
struct AssembleBody {
    checksum: String,
    #[serde(default)]
    chunks: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dist: Option<String>,
}

async fn assemble(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    body: axum::body::Bytes,
) -> Response {
    let body: AssembleBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("the assemble request is not valid: {e}")),
    };
    let request = AssembleRequest {
        checksum: body.checksum,
        chunks: body.chunks,
        projects: body.projects,
        version: body.version,
        dist: body.dist,
    };
    match state.assemble_source_map_bundle(&caller, request).await {
        Ok(a) => Json(json!({
            "state": a.state.as_str(),
            "missingChunks": a.missing_chunks,
            "detail": a.detail,
        }))
        .into_response(),
        Err(e) => refused(e),
    }
}

/// A release as sentry-cli reads it back. Pharos learns releases from the events and
/// sessions that carry them; `releases new` and `finalize` are answered so a deploy
/// script that runs them keeps working, and store nothing.
fn release_info(version: &str, projects: &[Value], released: Option<&str>) -> Value {
    json!({
        "version": version,
        "url": null,
        "dateCreated": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "dateReleased": released,
        "lastEvent": null,
        "newGroups": 0,
        "projects": projects,
    })
}

#[derive(Deserialize)]
struct ReleaseBody {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    projects: Vec<Value>,
    #[serde(default, rename = "dateReleased")]
    date_released: Option<String>,
}

async fn new_release(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    body: axum::body::Bytes,
) -> Response {
    let body: ReleaseBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("the release is not valid: {e}")),
    };
    let Some(version) = body.version.filter(|v| !v.is_empty()) else {
        return bad_request("the release has no version");
    };
    // Projects come as slugs (or ids as numbers).
    let slugs: Vec<String> = body
        .projects
        .iter()
        .map(|p| match p {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    match state.sentry_cli_projects(&caller, &slugs).await {
        Ok(found) => {
            let projects: Vec<Value> = found
                .iter()
                .map(|p| json!({ "slug": p.name, "name": p.name }))
                .collect();
            (
                StatusCode::CREATED,
                Json(release_info(
                    &version,
                    &projects,
                    body.date_released.as_deref(),
                )),
            )
                .into_response()
        }
        Err(e) => refused(e),
    }
}

async fn update_release(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    Path((_org, version)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let body: ReleaseBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("the release is not valid: {e}")),
    };
    match state.sentry_cli_projects(&caller, &[]).await {
        Ok(_) => Json(release_info(&version, &[], body.date_released.as_deref())).into_response(),
        Err(e) => refused(e),
    }
}

async fn release(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    Path((_org, version)): Path<(String, String)>,
) -> Response {
    match state.sentry_cli_projects(&caller, &[]).await {
        Ok(_) => Json(release_info(&version, &[], None)).into_response(),
        Err(e) => refused(e),
    }
}
