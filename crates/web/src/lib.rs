//! The HTTP face of Pharos: the JSON API, heartbeat ping URLs, Pharos's own health and
//! metrics endpoints, and the server-rendered UI embedded in the binary.
//!
//! The web layer reads the stores and asks the monitor engine to act; it never probes,
//! evaluates or notifies by itself.

pub mod access;
pub mod alertmanager_api;
pub mod api;
pub mod federate;
pub mod headers;
pub mod health;
pub mod logs_api;
pub mod loki_api;
pub mod metrics;
pub mod otlp_traces;
pub mod permissions;
pub mod ping;
pub mod prometheus_api;
pub mod request_params;
pub mod sentry;
pub mod sentry_cli;
pub mod settings;
pub mod user_feedback;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use prometheus::Registry;

pub use settings::{PublicPage, WebSettings};

pub use pharos_app::{App, Reload};

/// What a request handler may use: the application's services (through `Deref`, so a
/// handler reads `state.store` or calls `state.create_monitor(..)`) and what only the
/// HTTP edge has: its request metrics and the `web:` settings.
pub struct AppState {
    pub app: Arc<App>,
    pub registry: Registry,
    pub metrics: metrics::HttpMetrics,
    pub settings: Arc<RwLock<WebSettings>>,
    pub started: Instant,
    pub started_at: DateTime<Utc>,
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl AppState {
    pub fn settings(&self) -> WebSettings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_settings(&self, s: WebSettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = s;
    }
}

pub type SharedState = Arc<AppState>;

/// The whole HTTP surface: the API, ingest and health routes, with `pages` (the UI,
/// `pharos-ui`) merged in under the same request metrics.
pub fn router(state: SharedState, pages: Router<SharedState>) -> Router {
    let public = Router::new()
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/ping/{token}",
            get(ping::ping).head(ping::ping).post(ping::ping_post),
        )
        .route(
            "/ping/{token}/{action}",
            get(ping::ping_action)
                .head(ping::ping_action)
                .post(ping::ping_action_post),
        );

    // Sentry SDKs post here with the DSN's key, not the admin token (OTLP traces too, as
    // sentry-sdk's OTLPIntegration sends them).
    let sentry_ingest = Router::new()
        .route(
            "/api/{project}/envelope/",
            post(sentry::envelope).options(sentry::preflight),
        )
        .route(
            "/api/{project}/envelope",
            post(sentry::envelope).options(sentry::preflight),
        )
        .route(
            "/api/{project}/store/",
            post(sentry::store).options(sentry::preflight),
        )
        .route(
            "/api/{project}/store",
            post(sentry::store).options(sentry::preflight),
        )
        .route(
            "/api/{project}/integration/otlp/v1/traces/",
            post(otlp_traces::project_export),
        )
        .route(
            "/api/{project}/integration/otlp/v1/traces",
            post(otlp_traces::project_export),
        )
        .layer(DefaultBodyLimit::max(sentry::MAX_BODY_BYTES));
    let user_feedback = Router::new()
        .route(
            "/api/0/projects/{org}/{project}/user-feedback/",
            post(user_feedback::post).options(sentry::preflight),
        )
        .layer(DefaultBodyLimit::max(
            user_feedback::MAX_USER_REPORT_BODY_BYTES,
        ));

    let routed = Router::new()
        .merge(public)
        .merge(sentry_ingest)
        .merge(user_feedback)
        .merge(sentry_cli::router())
        .merge(api::router())
        .merge(pages)
        .route("/-/reload", post(api::reload))
        .route("/-/ready", get(health::ready))
        .route("/-/healthy", get(health::live))
        .fallback(sentry::prefixed)
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state.clone());
    // Status pages served on their own host names: the address is rewritten before
    // routing, so the page's route (and its row in the access table) answers.
    let by_host = tower::util::MapRequestLayer::new(move |req: axum::extract::Request| {
        status_host_rewrite(&state, req)
    });
    Router::new().fallback_service(tower::Layer::layer(&by_host, routed))
}

/// A request for `/`, `/feed.atom` or `/badge/…` whose `Host` is one a status page names
/// (`web.status_pages[].hosts`) becomes a request for that page's own address.
fn status_host_rewrite(
    state: &SharedState,
    mut req: axum::extract::Request,
) -> axum::extract::Request {
    let path = req.uri().path();
    if !(path == "/" || path == "/feed.atom" || path.starts_with("/badge/")) {
        return req;
    }
    let slug = {
        let settings = state.settings.read().unwrap_or_else(|p| p.into_inner());
        // Behind a trusted proxy that rewrites `Host` (nginx's default), the name the
        // visitor asked for is in `X-Forwarded-Host`.
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = peer
            .is_some_and(|ip| settings.trusted_proxies.iter().any(|n| n.contains(&ip)))
            .then(|| req.headers().get("x-forwarded-host"))
            .flatten()
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split(',').next())
            .map(str::trim);
        let host = forwarded.or_else(|| {
            req.headers()
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| req.uri().host())
        });
        let Some(host) = host else { return req };
        match settings.page_for_host(host) {
            Some(slug) => slug.to_string(),
            None => return req,
        }
    };
    let rest = if path == "/" { "" } else { path };
    let target = match req.uri().query() {
        Some(q) => format!("/status/{slug}{rest}?{q}"),
        None => format!("/status/{slug}{rest}"),
    };
    if let Ok(uri) = target.parse::<axum::http::Uri>() {
        *req.uri_mut() = uri;
    }
    req
}

/// What every request passes through: it is counted and timed under its route template
/// ([`metrics`]), checked against the route table ([`access`]), and answered with the
/// security headers ([`headers`]), refusals included. One middleware, not three: each
/// axum middleware layer boxes the route's service and its future again per request,
/// which Sentry ingest measured at a few per cent of its CPU.
async fn edge(
    axum::extract::State(state): axum::extract::State<SharedState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = req.method().clone();
    let started = Instant::now();
    let mut response = access::authorize(&state, route.as_deref(), req, next).await;
    headers::add(response.headers_mut());
    metrics::record_request(
        &state,
        route.as_deref().unwrap_or("unmatched"),
        &method,
        response.status(),
        started.elapsed(),
    );
    response
}
