//! What a config reload changes, and how one is asked for: `SIGHUP` or `POST /-/reload`.
//! A config is parsed and checked completely before anything is applied; one with an
//! error changes nothing.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use pharos_app::sentry::ErrorIngest;
use pharos_evaluate::rules::{RuleEvaluator, RuleSettings};
use pharos_evaluate::{EngineSettings, MonitorEngine};
use pharos_ingest::sentry::Scrubber;
use pharos_notify::Receivers;
use pharos_notify::dispatch::Dispatcher;
use pharos_notify::incidents::Incidents;
use pharos_scrape::manager::ScrapeManager;
use pharos_store::Store;
use pharos_web::WebSettings;

use crate::config::Config;

/// At most this many new monitors are checked at once when a config is applied.
const FRESH_CHECK_LIMIT: usize = 100;

/// What a reload changes.
pub(super) struct Live {
    pub(super) config_path: Option<PathBuf>,
    pub(super) listen: std::net::SocketAddr,
    pub(super) store: Arc<Store>,
    pub(super) engine: Arc<MonitorEngine>,
    pub(super) receivers: Arc<RwLock<Receivers>>,
    /// Routing: groups, silences, inhibition; every alert change goes through it.
    pub(super) dispatcher: Arc<Dispatcher>,
    pub(super) incidents: Arc<Incidents>,
    pub(super) web: Arc<RwLock<WebSettings>>,
    /// Sessions follow `web.session_idle_timeout` and `web.session_max_age`.
    pub(super) access: Arc<pharos_app::access::AccessControl>,
    pub(super) errors: Arc<ErrorIngest>,
    /// The external URL alerts link to, shared with the error alert evaluator.
    pub(super) external: Arc<RwLock<String>>,
    pub(super) retention: Arc<RwLock<Duration>>,
    pub(super) scrape: Arc<ScrapeManager>,
    pub(super) dashboards: Arc<pharos_app::dashboards::DashboardSet>,
    pub(super) slos: Arc<RwLock<Vec<pharos_model::slo::SloSpec>>>,
    pub(super) rules: Arc<RuleEvaluator>,
    /// The log store and its rules, when logs are on (they are turned on or off only at start).
    pub(super) logs: Option<(
        Arc<pharos_logs::LogStore>,
        Arc<pharos_evaluate::log_rules::LogRules>,
    )>,
    /// One reload at a time.
    pub(super) reloading: tokio::sync::Mutex<()>,
    /// Scheduled backups follow `backup:`.
    pub(super) backups: Arc<pharos_app::backup::Backups>,
    /// Where each reload's outcome is recorded for `/api/v1/status/runtimeinfo`.
    pub(super) server: Arc<pharos_app::server_info::ServerInfo>,
}

pub(super) fn external_url(web: &WebSettings, listen: std::net::SocketAddr) -> String {
    match web.external_url() {
        "" => format!("http://{listen}"),
        url => url.to_string(),
    }
}

impl Live {
    /// Makes the running Pharos match `config`: monitors (keeping state and history),
    /// receivers, maintenance, web settings.
    pub(super) async fn apply(&self, mut config: Config) -> anyhow::Result<()> {
        for w in &config.warnings {
            tracing::warn!(operation = "config", warning = %w, "config warning");
        }
        self.backups
            .set_schedule(config.backup.as_ref().map(|b| b.schedule()));
        let external = external_url(&config.web, self.listen);
        config.web.external_url = Some(external.clone());
        // Like projects below: a scrape job named as one made through the API refuses the
        // whole config before anything else changed.
        self.scrape
            .check_names(&config.scrape_configs)
            .map_err(|e| anyhow::anyhow!(e))?;
        // Projects first: a key or id that clashes with an API project refuses the whole
        // config before anything else changed.
        let scrubber =
            Scrubber::new(&config.scrubbing).map_err(|e| anyhow::anyhow!("scrubbing: {e}"))?;
        let projects = config.projects.clone();
        let store = self.store.clone();
        let projects = tokio::task::spawn_blocking(move || {
            store.errors().sync_config_projects(&projects, Utc::now())?;
            store.errors().projects()
        })
        .await??;
        self.errors.set_projects(&projects);
        self.errors.set_scrubber(scrubber);
        let before: std::collections::HashSet<_> = {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || store.all_monitors())
                .await??
                .into_iter()
                .map(|r| r.spec.id)
                .collect()
        };
        let fresh: Vec<_> = config
            .monitors
            .iter()
            .map(|m| m.id.clone())
            .filter(|id| !before.contains(id))
            .collect();
        // Checking a few new monitors at once is friendly; checking thousands at once (a
        // first start with a big config) would hit every target in the same second.
        let fresh = if fresh.len() <= FRESH_CHECK_LIMIT {
            fresh
        } else {
            Vec::new()
        };
        // The store keeps config monitors without their secrets; the engine gets them whole.
        let redacted: Vec<_> = config.monitors.iter().map(|m| m.redacted()).collect();
        let store = self.store.clone();
        let removed =
            tokio::task::spawn_blocking(move || store.sync_config_monitors(&redacted, Utc::now()))
                .await??;
        *self.external.write().unwrap_or_else(|p| p.into_inner()) = external.clone();
        self.engine.set_config_specs(&config.monitors);
        *self.receivers.write().unwrap_or_else(|p| p.into_inner()) =
            Receivers::from_config(&config.receivers, &external);
        self.dispatcher
            .set_routing(std::mem::take(&mut config.routing), &external);
        self.incidents
            .set_settings(std::mem::take(&mut config.incidents), &external);
        self.engine.set_settings(EngineSettings {
            external_url: external,
            maintenance: config.maintenance.clone(),
        });
        self.engine.refresh_maintenance().await?;
        self.engine.reconcile(&fresh).await?;
        *self.retention.write().unwrap_or_else(|p| p.into_inner()) =
            config.retention.results.as_duration();
        let base_dir = self
            .config_path
            .as_deref()
            .and_then(|p| p.parent())
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let (global, jobs) = (
            config.global.prometheus.clone(),
            config.scrape_configs.clone(),
        );
        let scrape = self.scrape.clone();
        // As a message: the error's text already holds its causes, which `{:#}` would repeat.
        tokio::task::spawn_blocking(move || scrape.apply(global, jobs, &base_dir))
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.dashboards
            .set_config(std::mem::take(&mut config.loaded_dashboards));
        self.dashboards
            .show_builtin(config.builtin_dashboards.unwrap_or(true));
        let rule_settings = RuleSettings {
            external_url: external_url(&config.web, self.listen),
            external_labels: config.global.external_labels.clone(),
            evaluation_interval: config.global.evaluation_interval.as_duration(),
        };
        self.rules
            .apply(std::mem::take(&mut config.loaded_rules), rule_settings)
            .await;
        *self.slos.write().unwrap_or_else(|p| p.into_inner()) = std::mem::take(&mut config.slos);
        if let Some((store, rules)) = &self.logs {
            store.set_settings(config.logs.store_settings());
            let specs = pharos_evaluate::log_rules::validate_rules(&config.logs.rules)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            rules.set_settings(pharos_evaluate::log_rules::LogRuleSettings {
                external_url: external_url(&config.web, self.listen),
                ..Default::default()
            });
            rules.set_rules(specs);
        }
        self.access.set_policy(config.web.session_policy());
        // Status pages' scheduled maintenance mutes its monitors' alerts; pages may have
        // come or gone.
        let (store, pages) = (self.store.clone(), config.web.pages());
        let by_page = tokio::task::spawn_blocking(move || {
            pharos_app::status_pages::maintenance_by_page(&store, &pages, chrono::Utc::now())
        })
        .await??;
        self.engine.replace_status_maintenance(by_page);
        *self.web.write().unwrap_or_else(|p| p.into_inner()) = config.web;
        tracing::info!(
            operation = "config_apply",
            monitors = config.monitors.len(),
            receivers = config.receivers.len(),
            projects = config.projects.len(),
            scrape_jobs = config.scrape_configs.len(),
            removed = removed.len(),
            "config applied"
        );
        Ok(())
    }

    pub(super) async fn reload(&self) -> Result<(), String> {
        let _one = self.reloading.lock().await;
        let started = Instant::now();
        let config = match &self.config_path {
            Some(path) => Config::load(path).map_err(|e| e.to_string()),
            None => Ok(Config::default()),
        };
        let result = match config {
            Ok(c) => self.apply(c).await.map_err(|e| format!("{e:#}")),
            Err(e) => Err(e),
        };
        self.server
            .record_config_load(result.is_ok(), Utc::now().timestamp_millis());
        match &result {
            Ok(()) => tracing::info!(
                operation = "config_reload",
                duration_ms = started.elapsed().as_millis() as u64,
                "config reloaded"
            ),
            Err(e) => {
                tracing::error!(operation = "config_reload", error_type = "invalid_config", error = %e, "config refused; the previous one stays in force")
            }
        }
        result
    }
}

pub(super) async fn sighup_loop(live: Arc<Live>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!(
            operation = "startup",
            "cannot listen for SIGHUP; reload with POST /-/reload"
        );
        return;
    };
    while hup.recv().await.is_some() {
        let _ = live.reload().await;
    }
}
