//! The HTTP face of Pharos: the JSON API, heartbeat ping URLs, Pharos's own health and
//! metrics endpoints, and the server-rendered UI embedded in the binary.
//!
//! The web layer reads the stores and asks the monitor engine to act; it never probes,
//! evaluates or notifies by itself.

pub mod access;
pub mod api;
pub mod health;
pub mod metrics;
pub mod ping;
pub mod settings;
pub mod ui;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;
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

    Router::new()
        .merge(public)
        .merge(api::router(state.clone()))
        .merge(ui::router(state.clone()))
        .route("/-/reload", post(api::reload))
        .route("/-/ready", get(health::ready))
        .route("/-/healthy", get(health::live))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}
