//! The JSON API under `/api/v1/`, and `POST /-/reload`. Every error is a JSON body
//! `{"error": ..., "field": ...}` with the status decided in one place ([`ApiError`]).

pub mod alerts;
pub mod backups;
pub mod cardinality;
pub mod dashboards;
pub mod incidents;
pub mod issues;
pub mod maintenance;
pub mod monitors;
pub mod oncall;
pub mod projects;
pub mod receivers;
pub mod rules;
pub mod scrape_targets;
pub mod slos;
pub mod status_pages;
pub mod tokens;
pub mod users;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;

use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use pharos_app::AppError;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{SharedState, alertmanager_api, logs_api, loki_api, prometheus_api};

/// Compressed remote_write bodies; senders batch far below this.
const REMOTE_WRITE_MAX_BYTES: usize = 32 << 20;

pub fn router() -> Router<SharedState> {
    Router::new()
        .merge(monitor_routes())
        .merge(error_tracking_routes())
        .merge(metrics_routes())
        .merge(alerting_routes())
        .merge(log_routes())
        .merge(access_routes())
        .merge(status_page_routes())
}

/// Status pages and the incidents and maintenance posted on them.
fn status_page_routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/status-pages", get(status_pages::list))
        .route("/api/v1/status-pages/{slug}", get(status_pages::view))
        .route(
            "/api/v1/status-pages/{slug}/incidents",
            get(status_pages::posts).post(status_pages::create),
        )
        .route(
            "/api/v1/status-pages/{slug}/incidents/{id}",
            get(status_pages::get_one)
                .patch(status_pages::change)
                .delete(status_pages::remove),
        )
        .route(
            "/api/v1/status-pages/{slug}/incidents/{id}/updates",
            axum::routing::post(status_pages::add_update),
        )
}

/// Users and API tokens (admins only, as `permissions::ROUTES` says).
fn access_routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{name}",
            axum::routing::patch(users::update).delete(users::remove),
        )
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", delete(tokens::revoke))
        .route("/api/v1/whoami", get(users::whoami))
        .route(
            "/api/v1/backups",
            get(backups::status).post(backups::create),
        )
}

/// Monitors, their results, and maintenance windows.
fn monitor_routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/api/v1/monitors",
            get(monitors::list).post(monitors::create),
        )
        .route(
            "/api/v1/monitors/{id}",
            get(monitors::get_one)
                .patch(monitors::patch)
                .delete(monitors::remove),
        )
        .route("/api/v1/monitors/{id}/results", get(monitors::results))
        .route(
            "/api/v1/maintenance",
            get(maintenance::list).post(maintenance::create),
        )
        .route("/api/v1/maintenance/{id}", delete(maintenance::remove))
}

/// Projects and their keys, issues, events, attachments and transactions.
fn error_tracking_routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/api/v1/projects",
            get(projects::list).post(projects::create),
        )
        .route(
            "/api/v1/projects/{id}",
            get(projects::get_one)
                .patch(projects::patch)
                .delete(projects::remove),
        )
        .route("/api/v1/projects/{id}/keys", post(projects::add_key))
        .route(
            "/api/v1/projects/{id}/keys/{key}",
            delete(projects::revoke_key),
        )
        .route("/api/v1/projects/{id}/releases", get(projects::releases))
        .route(
            "/api/v1/projects/{id}/client-reports",
            get(projects::client_reports),
        )
        .route("/api/v1/projects/{id}/logs", get(projects::logs))
        .route(
            "/api/v1/projects/{id}/feedback",
            get(issues::project_feedback),
        )
        .route("/api/v1/issues", get(issues::list))
        .route(
            "/api/v1/issues/{id}",
            get(issues::get_one).patch(issues::update),
        )
        .route("/api/v1/issues/{id}/events", get(issues::events))
        .route("/api/v1/issues/{id}/feedback", get(issues::feedback))
        .route("/api/v1/issues/{id}/activity", get(issues::activity))
        .route("/api/v1/issues/{id}/assignee", put(issues::assign))
        .route("/api/v1/issues/{id}/comments", post(issues::comment))
        .route("/api/v1/issues/{id}/merge", post(issues::merge))
        .route(
            "/api/v1/issues/{id}/events/latest",
            get(issues::latest_event),
        )
        .route("/api/v1/events/{event_id}", get(issues::event))
        .route("/api/v1/attachments/{id}", get(issues::attachment))
        .route("/api/v1/transactions", get(issues::transactions))
}

/// The Prometheus HTTP API and remote_write, scrape jobs, cardinality and dashboards.
fn metrics_routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/api/v1/query",
            get(prometheus_api::query).post(prometheus_api::query),
        )
        .route(
            "/api/v1/query_range",
            get(prometheus_api::query_range).post(prometheus_api::query_range),
        )
        .route(
            "/api/v1/series",
            get(prometheus_api::series).post(prometheus_api::series),
        )
        .route(
            "/api/v1/labels",
            get(prometheus_api::labels).post(prometheus_api::labels),
        )
        .route(
            "/api/v1/label/{name}/values",
            get(prometheus_api::label_values),
        )
        .route(
            "/api/v1/format_query",
            get(prometheus_api::format_query).post(prometheus_api::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(prometheus_api::parse_query).post(prometheus_api::parse_query),
        )
        .route("/api/v1/metadata", get(prometheus_api::metadata))
        .route("/api/v1/targets", get(prometheus_api::targets))
        .route("/api/v1/scrape_pools", get(prometheus_api::scrape_pools))
        .route("/federate", get(crate::federate::federate))
        .route(
            "/api/v1/scrape_jobs",
            get(scrape_targets::list).post(scrape_targets::create),
        )
        .route(
            "/api/v1/scrape_jobs/{name}",
            get(scrape_targets::get_one)
                .put(scrape_targets::put)
                .patch(scrape_targets::patch)
                .delete(scrape_targets::remove),
        )
        .route("/api/v1/status/buildinfo", get(prometheus_api::buildinfo))
        .route("/api/v1/status/config", get(prometheus_api::status_config))
        .route("/api/v1/status/flags", get(prometheus_api::status_flags))
        .route(
            "/api/v1/status/runtimeinfo",
            get(prometheus_api::status_runtimeinfo),
        )
        .route("/api/v1/status/tsdb", get(cardinality::tsdb_status))
        .route(
            "/api/v1/dashboards",
            get(dashboards::list).post(dashboards::create),
        )
        .route(
            "/api/v1/dashboards/{id}",
            get(dashboards::get_one).delete(dashboards::remove),
        )
        .route(
            "/api/v1/query_exemplars",
            get(prometheus_api::exemplars).post(prometheus_api::exemplars),
        )
        .route(
            "/api/v1/write",
            post(prometheus_api::remote_write)
                .layer(axum::extract::DefaultBodyLimit::max(REMOTE_WRITE_MAX_BYTES)),
        )
}

/// Alerts and deliveries, receivers, Alertmanager's API v2, rules, incidents and on-call.
fn alerting_routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/alerts", get(prometheus_api::alerts))
        .route("/api/v1/alerts/history", get(alerts::list))
        .route("/api/v1/deliveries", get(alerts::deliveries))
        .route("/api/v1/receivers", get(receivers::list))
        .route("/api/v1/receivers/{name}/test", post(receivers::test))
        .route(
            "/api/v2/alerts",
            get(alertmanager_api::get_alerts).post(alertmanager_api::post_alerts),
        )
        .route("/api/v2/alerts/groups", get(alertmanager_api::get_groups))
        .route(
            "/api/v2/silences",
            get(alertmanager_api::get_silences).post(alertmanager_api::post_silence),
        )
        .route(
            "/api/v2/silence/{id}",
            get(alertmanager_api::get_silence).delete(alertmanager_api::delete_silence),
        )
        .route("/api/v2/status", get(alertmanager_api::status))
        .route("/api/v2/receivers", get(alertmanager_api::receivers))
        .route("/api/v1/rules", get(rules::list))
        .route("/api/v1/slos", get(slos::list))
        .route("/api/v1/slos/{name}", get(slos::get_one))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get_one))
        .route("/api/v1/incidents/{id}/ack", post(incidents::acknowledge))
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/api/v1/incidents/{id}/notes", post(incidents::add_note))
        .route(
            "/api/v1/incidents/{id}/postmortem",
            get(incidents::postmortem),
        )
        .route("/api/v1/oncall", get(oncall::list))
        .route("/api/v1/oncall/{name}", get(oncall::get_one))
}

/// Log ingest (Loki push, OTLP, `POST /api/v1/logs`), search, tail, log rules, and traces
/// (OTLP ingest and the trace lookup).
fn log_routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/v1/traces",
            post(crate::otlp_traces::export).layer(axum::extract::DefaultBodyLimit::max(
                crate::sentry::MAX_BODY_BYTES,
            )),
        )
        .route(
            "/loki/api/v1/push",
            post(logs_api::loki_push).layer(axum::extract::DefaultBodyLimit::max(
                logs_api::MAX_BODY_BYTES,
            )),
        )
        .route(
            "/v1/logs",
            post(logs_api::otlp_logs).layer(axum::extract::DefaultBodyLimit::max(
                logs_api::MAX_BODY_BYTES,
            )),
        )
        .route(
            "/api/v1/logs",
            get(logs_api::search).post(logs_api::ingest).layer(
                axum::extract::DefaultBodyLimit::max(logs_api::MAX_BODY_BYTES),
            ),
        )
        .route(
            "/loki/api/v1/query",
            get(loki_api::query).post(loki_api::query),
        )
        .route(
            "/loki/api/v1/query_range",
            get(loki_api::query_range).post(loki_api::query_range),
        )
        .route(
            "/loki/api/v1/labels",
            get(loki_api::labels).post(loki_api::labels),
        )
        .route(
            "/loki/api/v1/label/{name}/values",
            get(loki_api::label_values).post(loki_api::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(loki_api::series).post(loki_api::series),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(loki_api::index_stats).post(loki_api::index_stats),
        )
        .route("/loki/api/v1/status/buildinfo", get(loki_api::buildinfo))
        .route("/loki/api/v1/tail", get(loki_api::tail))
        .route("/api/v1/logs/counts", get(logs_api::counts))
        .route("/api/v1/logs/histogram", get(logs_api::histogram))
        .route("/api/v1/logs/tail", get(logs_api::tail))
        .route("/api/v1/logs/stats", get(logs_api::stats))
        .route("/api/v1/logs/{id}", get(logs_api::get_one))
        .route("/api/v1/log_rules", get(logs_api::rules))
        .route("/api/v1/traces/{trace_id}", get(logs_api::trace))
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }
}

/// The one place an operation's error becomes an HTTP status.
pub fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Gone(_) => StatusCode::GONE,
        AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Unavailable(_) | AppError::Disabled(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let status = status_of(&e);
        let field = match &e {
            AppError::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        ApiError {
            status,
            message: e.to_string(),
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(field) = self.field {
            body["field"] = json!(field);
        }
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body whose errors name the field at fault (`http.timeout: invalid type ...`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.body_text()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    Ok(pharos_app::document::parse_json(bytes)?)
}

/// Reads a query string into `T`, answering 400 in our error shape when it does not fit.
pub fn query<T: DeserializeOwned>(
    q: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|q| q.0)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// `POST /-/reload`, as Prometheus has it: re-reads the config file; a bad one is refused
/// and the running config stays.
pub async fn reload(State(state): State<SharedState>) -> Response {
    match (state.reload)().await {
        Ok(()) => Json(json!({ "status": "success" })).into_response(),
        Err(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("config not reloaded, the previous one stays in force: {e}"),
        )
        .into_response(),
    }
}
