//! The application layer: every operation a request, a listener or a timer triggers,
//! written once against domain types, a [`Caller`] and one [`AppError`]. The HTTP edge
//! (`pharos-web`) extracts a request, calls one operation and answers; the syslog
//! listeners and start-up (`pharos`) call the same operations.
//!
//! It owns: accepting a Sentry envelope ([`sentry`]), accepting a batch of log lines
//! ([`logs`]), creating, changing and deleting monitors ([`monitors`], also from cron
//! check-ins), scrape jobs made through the API ([`scrape_jobs`]), dashboards
//! ([`dashboards`]), and the cardinality history ([`cardinality`]).
//!
//! It does not own: decoding protocols (`ingest`), storage (`store`, `tsdb`, `logs`),
//! evaluation (`evaluate`), routing and delivery (`notify`), or HTTP.

pub mod access;
pub mod alerting;
pub mod alerts;
pub mod backup;
pub mod caller;
pub mod cardinality;
pub mod dashboards;
pub mod document;
mod error;
pub mod federation;
pub mod feedback;
pub mod health;
pub mod heartbeats;
pub mod housekeeping;
pub mod incidents;
pub mod issues;
pub mod logs;
pub mod loki_query;
pub mod maintenance;
pub mod metrics_store;
pub mod monitors;
pub mod oidc;
pub mod otlp_traces;
pub mod projects;
pub mod prometheus_config;
pub mod query_syntax;
pub mod receivers;
pub mod rules;
pub mod scrape_jobs;
pub mod sentry;
pub mod server_info;
pub mod slos;
pub mod source_maps;
pub mod status_pages;
pub mod traces;
pub mod triage;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use pharos_evaluate::MonitorEngine;
use pharos_store::Store;

pub use caller::Caller;
pub use error::AppError;

/// Re-reads the config file and applies it; `Err` carries the reason a new config was refused.
pub type Reload =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The running services every operation works with.
pub struct App {
    pub store: Arc<Store>,
    pub engine: Arc<MonitorEngine>,
    pub errors: Arc<sentry::ErrorIngest>,
    /// The metrics store, PromQL engine and scrape manager; `None` when metrics are off.
    pub metrics_store: Option<Arc<metrics_store::Metrics>>,
    /// The log store and its ingest path; `None` when logs are turned off.
    pub logs: Option<Arc<logs::Logs>>,
    /// Dashboards from the config file and uploaded ones.
    pub dashboards: Arc<dashboards::DashboardSet>,
    /// Per-minute cardinality snapshots, for growth on `/metrics/cardinality`.
    pub cardinality: Arc<cardinality::CardinalityHistory>,
    /// The receivers in force (swapped on reload), for listing and test notifications.
    pub receivers: Arc<RwLock<pharos_notify::Receivers>>,
    /// Routing, silences and the alerts posted to Alertmanager's API.
    pub alerting: Arc<pharos_notify::dispatch::Dispatcher>,
    /// Incidents, escalation, on-call schedules and runbooks.
    pub incidents: Arc<pharos_notify::incidents::Incidents>,
    /// Prometheus rule files, evaluated by group.
    pub rules: Arc<pharos_evaluate::rules::RuleEvaluator>,
    /// The config's SLOs (swapped on reload); their rules are among `rules`.
    pub slos: Arc<RwLock<Vec<pharos_model::slo::SloSpec>>>,
    /// Users, API tokens and browser sessions: who a credential stands for.
    pub access: Arc<access::AccessControl>,
    /// Sign-in through an OpenID Connect provider, when `web.oidc` is set (read at start).
    pub oidc: Option<Arc<oidc::Oidc>>,
    pub reload: Reload,
    /// The last readiness verdict, shared by anonymous `/health/ready` callers.
    pub ready_verdict: health::ReadyVerdict,
    /// Status page views built in the last seconds, shared by their visitors.
    pub status_views: status_pages::ViewCache,
    /// Backups of the data directory: taken on request and on the config's schedule.
    pub backups: Arc<backup::Backups>,
    /// Start time, config loads and flags, for Prometheus's status endpoints.
    pub server: Arc<server_info::ServerInfo>,
}

impl App {
    /// Runs blocking store work off the async threads.
    pub async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> pharos_store::Result<T> + Send + 'static,
    ) -> Result<T, AppError> {
        let store = self.store.clone();
        blocking(move || f(&store)).await?.map_err(AppError::from)
    }
}

/// Runs blocking work (a store's, or the scrape manager reading discovery files and
/// starting loops) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}
