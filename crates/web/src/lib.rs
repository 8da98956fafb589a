//! The HTTP face of Pharos: the JSON API, heartbeat ping URLs, Pharos's own health and
//! metrics endpoints, and the server-rendered UI embedded in the binary.
//!
//! The web layer reads the stores and asks the monitor engine to act; it never probes,
//! evaluates or notifies by itself.

pub mod access;
pub mod alertmanager_api;
pub mod api;
pub mod dashboards;
pub mod health;
pub mod logs_api;
pub mod metrics;
pub mod ping;
pub mod prometheus_api;
pub mod sentry;
pub mod settings;
pub mod ui;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use pharos_evaluate::MonitorEngine;
use pharos_store::Store;
use prometheus::Registry;

pub use access::Access;
pub use settings::{PublicPage, WebSettings};

/// Re-reads the config file and applies it; `Err` carries the reason a new config was refused.
pub type Reload =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Everything a request handler may use.
pub struct AppState {
    pub store: Arc<Store>,
    pub engine: Arc<MonitorEngine>,
    pub errors: Arc<sentry::ErrorIngest>,
    /// The metrics store, PromQL engine and scrape manager.
    pub metrics_store: Option<Arc<prometheus_api::Metrics>>,
    /// The log store and its ingest path; `None` when logs are turned off.
    pub logs: Option<Arc<logs_api::Logs>>,
    /// Dashboards from the config file and uploaded ones.
    pub dashboards: Arc<dashboards::DashboardSet>,
    /// Per-minute cardinality snapshots, for growth on `/metrics/cardinality`.
    pub cardinality: Arc<api::cardinality::CardinalityHistory>,
    /// The receivers in force (swapped on reload), for listing and test notifications.
    pub receivers: Arc<RwLock<pharos_notify::Receivers>>,
    /// Routing, silences and the alerts posted to Alertmanager's API.
    pub alerting: Arc<pharos_notify::dispatch::Dispatcher>,
    /// Incidents, escalation, on-call schedules and runbooks.
    pub incidents: Arc<pharos_notify::incidents::Incidents>,
    pub registry: Registry,
    pub metrics: metrics::HttpMetrics,
    pub access: Access,
    pub settings: Arc<RwLock<WebSettings>>,
    pub reload: Reload,
    pub started: Instant,
    pub started_at: DateTime<Utc>,
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

    /// Runs blocking store work off the async threads.
    pub async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> pharos_store::Result<T> + Send + 'static,
    ) -> Result<T, api::ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| api::ApiError::internal(e.to_string()))?
            .map_err(api::ApiError::from)
    }
}

impl AppState {
    /// Hands an envelope's records to the error store's writer; `done` gets the outcome
    /// once they are committed.
    pub fn with_store_errors(
        &self,
        batch: pharos_store::errors::IngestBatch,
        done: tokio::sync::oneshot::Sender<
            pharos_store::Result<pharos_store::errors::IngestOutcome>,
        >,
    ) -> pharos_store::Result<()> {
        self.store.errors().ingest(batch, move |r| {
            let _ = done.send(r);
        })
    }
}

pub type SharedState = Arc<AppState>;

/// The whole HTTP surface.
pub fn router(state: SharedState) -> Router {
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
        )
        .route("/login", get(ui::login::form).post(ui::login::submit))
        .route("/logout", post(ui::login::logout))
        .route("/assets/pharos.css", get(ui::layout::stylesheet));

    // Sentry SDKs post here with the DSN's key, not the admin token.
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
        .layer(DefaultBodyLimit::max(sentry::MAX_BODY_BYTES));

    Router::new()
        .merge(public)
        .merge(sentry_ingest)
        .merge(api::router(state.clone()))
        .merge(ui::router(state.clone()))
        .route("/-/reload", post(api::reload))
        .route("/-/ready", get(health::ready))
        .route("/-/healthy", get(health::live))
        .fallback(sentry::prefixed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}
