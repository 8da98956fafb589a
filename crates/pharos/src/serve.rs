//! `pharos serve`: opens the store, starts the monitor engine and the delivery worker,
//! serves HTTP, and applies config reloads (SIGHUP, `POST /-/reload`).

use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use pharos_app::sentry::ErrorIngest;
use pharos_evaluate::rules::storage::TsdbRuleStorage;
use pharos_evaluate::rules::{RuleEvaluator, RuleSettings};
use pharos_evaluate::{AlertSink, EngineSettings, ErrorAlerts, MonitorEngine, ProbeMetrics};
use pharos_ingest::sentry::Scrubber;
use pharos_notify::dispatch::{Dispatcher, SystemClock};
use pharos_notify::incidents::{AckLinks, Incidents};
use pharos_notify::{DeliveryMetrics, DeliveryWorker, Receivers, RetryPolicy};
use pharos_store::Store;
use pharos_web::{AppState, WebSettings};
use prometheus::Registry;
use tokio::sync::Notify;

use pharos_scrape::manager::ScrapeManager;
use pharos_scrape::metadata::MetadataStore;

use crate::series_writer::{SeriesWriter, host_metrics_loop, self_scrape_loop};

use crate::ServeArgs;
use crate::config::Config;
use crate::lifecycle::Tasks;
use crate::token;

/// At most this many new monitors are checked at once when a config is applied.
const FRESH_CHECK_LIMIT: usize = 100;

/// What a reload changes.
struct Live {
    config_path: Option<PathBuf>,
    listen: std::net::SocketAddr,
    store: Arc<Store>,
    engine: Arc<MonitorEngine>,
    receivers: Arc<RwLock<Receivers>>,
    /// Routing: groups, silences, inhibition; every alert change goes through it.
    dispatcher: Arc<Dispatcher>,
    incidents: Arc<Incidents>,
    web: Arc<RwLock<WebSettings>>,
    errors: Arc<ErrorIngest>,
    /// The external URL alerts link to, shared with the error alert evaluator.
    external: Arc<RwLock<String>>,
    retention: Arc<RwLock<Duration>>,
    scrape: Arc<ScrapeManager>,
    dashboards: Arc<pharos_app::dashboards::DashboardSet>,
    rules: Arc<RuleEvaluator>,
    /// The log store and its rules, when logs are on (they are turned on or off only at start).
    logs: Option<(
        Arc<pharos_logs::LogStore>,
        Arc<pharos_evaluate::log_rules::LogRules>,
    )>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

fn external_url(web: &WebSettings, listen: std::net::SocketAddr) -> String {
    match web.external_url() {
        "" => format!("http://{listen}"),
        url => url.to_string(),
    }
}

impl Live {
    /// Makes the running Pharos match `config`: monitors (keeping state and history),
    /// receivers, maintenance, web settings.
    async fn apply(&self, mut config: Config) -> anyhow::Result<()> {
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
        let (global, jobs) = (config.global.clone(), config.scrape_configs.clone());
        let scrape = self.scrape.clone();
        // As a message: the error's text already holds its causes, which `{:#}` would repeat.
        tokio::task::spawn_blocking(move || scrape.apply(global, jobs, &base_dir))
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.dashboards
            .set_config(std::mem::take(&mut config.loaded_dashboards));
        let rule_settings = RuleSettings {
            external_url: external_url(&config.web, self.listen),
            external_labels: config.global.external_labels.clone(),
            evaluation_interval: config.global.evaluation_interval.as_duration(),
        };
        self.rules
            .apply(std::mem::take(&mut config.loaded_rules), rule_settings)
            .await;
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

    async fn reload(&self) -> Result<(), String> {
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

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut tasks = Tasks::default();
    let _ = rustls::crypto::ring::default_provider().install_default();

    // Check the config before touching the data directory, so a typo never half-starts.
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let store = Arc::new(Store::open(&args.data_dir)?);
    let admin = token::load_or_create(&args.data_dir)?;
    if admin.created {
        // Shown once, on the terminal only: never through the logger.
        eprintln!(
            "\nPharos made an admin token and saved it in {}:\n\n    {}\n\nUse it to sign in to the UI and as `Authorization: Bearer <token>` for the API.\n",
            args.data_dir.join(token::FILE).display(),
            admin.value
        );
    }

    let registry = Registry::new();
    let probe_metrics = ProbeMetrics::new(&registry)?;
    let delivery_metrics = DeliveryMetrics::new(&registry)?;
    let http_metrics = pharos_web::metrics::HttpMetrics::new(&registry)?;

    let receivers = Arc::new(RwLock::new(Receivers::default()));
    let deliveries_waiting = Arc::new(Notify::new());
    let dispatcher = Dispatcher::new(
        store.clone(),
        receivers.clone(),
        deliveries_waiting.clone(),
        Arc::new(SystemClock),
    );
    // Incidents open from the dispatcher's groups before they flush, so the first
    // notification already carries the signed acknowledgement link.
    let incidents = Incidents::new(
        store.clone(),
        receivers.clone(),
        deliveries_waiting.clone(),
        Arc::new(SystemClock),
        AckLinks::load_or_create(&args.data_dir)
            .context("cannot read or make the incident link key")?,
    );
    dispatcher.set_incident_hook(incidents.clone());
    // Every evaluator hands its alert changes to this one sink: stored first, then given
    // to the dispatcher, which groups, silences and notifies them.
    let alerts = AlertSink::new(store.clone(), dispatcher.clone());
    let engine = MonitorEngine::new(
        store.clone(),
        alerts.clone(),
        probe_metrics,
        EngineSettings {
            external_url: String::new(),
            maintenance: Vec::new(),
        },
    )
    .context("cannot start the HTTP prober")?;

    let (signals, signal_rx) = tokio::sync::mpsc::unbounded_channel();
    let errors = Arc::new(ErrorIngest::new(
        signals,
        pharos_app::sentry::IngestMetrics::new(&registry)?,
    ));
    let external = Arc::new(RwLock::new(String::new()));
    let error_alerts = ErrorAlerts::new(store.clone(), alerts.clone(), external.clone());

    let metrics_settings = &config.metrics;
    let tsdb_options = pharos_tsdb::Options {
        retention_ms: Some(metrics_settings.retention.as_duration().as_millis() as i64),
        retention_bytes: metrics_settings.retention_size.map(|b| b.0),
        max_series: metrics_settings.max_series,
        ..pharos_tsdb::Options::default()
    };
    let metrics_dir = args.data_dir.join("metrics");
    let tsdb = Arc::new(
        tokio::task::spawn_blocking(move || pharos_tsdb::Tsdb::open(&metrics_dir, tsdb_options))
            .await?
            .context("cannot open the metrics store")?,
    );
    let scrape = ScrapeManager::new(tsdb.clone(), Arc::new(MetadataStore::default()));
    pharos_app::scrape_jobs::restore_scrape_jobs(store.clone(), scrape.clone(), &args.data_dir)
        .await
        .context("cannot load the scrape jobs made through the API")?;
    let tsdb_metrics = pharos_tsdb::TsdbMetrics::new(&registry)?;
    let self_scrape = metrics_settings.self_scrape_interval.as_duration();
    let host_metrics = metrics_settings.host_metrics_interval.as_duration();
    // Before monitors start, so their first results are series too.
    let series = SeriesWriter::start(tsdb.clone()).context("cannot start the series writer")?;
    engine.write_series_to(series.clone());

    let web = Arc::new(RwLock::new(WebSettings::default()));
    // Uploaded dashboards live beside the stores; the config's are set by `apply`.
    let dashboards = Arc::new(pharos_app::dashboards::DashboardSet::open(
        args.data_dir.join("dashboards"),
    ));
    // Rules read and write the metrics store directly: a recording rule's samples must be
    // there for the next rule of its group, which the batching series writer cannot promise.
    let rules = RuleEvaluator::new(
        store.clone(),
        alerts.clone(),
        Arc::new(TsdbRuleStorage(tsdb.clone())),
        pharos_promql::Engine::new(pharos_promql::EngineOptions::default()),
        Arc::new(pharos_evaluate::rules::SystemClock),
    );
    registry.register(Box::new(pharos_evaluate::rules::RuleMetrics(rules.clone())))?;
    // Logs: the store opens (replaying its WAL) before anything can send to it; the rules
    // watch every durable batch and write their counters through the series writer.
    let logs = if config.logs.enabled {
        let dir = args.data_dir.join("logs");
        let settings = config.logs.store_settings();
        let log_store =
            tokio::task::spawn_blocking(move || pharos_logs::LogStore::open(&dir, settings))
                .await?
                .context("cannot open the log store")?;
        let log_rules = pharos_evaluate::log_rules::LogRules::new(
            store.clone(),
            alerts.clone(),
            series.clone(),
            pharos_evaluate::log_rules::LogRuleSettings::default(),
        );
        Some((log_store, log_rules))
    } else {
        None
    };
    let live = Arc::new(Live {
        logs: logs.clone(),
        rules: rules.clone(),
        dashboards: dashboards.clone(),
        scrape: scrape.clone(),
        errors: errors.clone(),
        external,
        config_path: args.config.clone(),
        listen: args.listen,
        store: store.clone(),
        engine: engine.clone(),
        receivers: receivers.clone(),
        dispatcher: dispatcher.clone(),
        incidents: incidents.clone(),
        web: web.clone(),
        retention: Arc::new(RwLock::new(config.retention.results.as_duration())),
        reloading: tokio::sync::Mutex::new(()),
    });

    // Bind before starting monitors, so a busy port fails fast and alerts nothing.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another program using it? choose another with --listen",
                args.listen
            )
        })?;
    let monitors = config.monitors.len();
    let syslog = config.logs.syslog.clone();
    live.apply(config).await?;
    dispatcher
        .restore()
        .await
        .context("cannot rebuild alert groups from the store")?;
    tasks.spawn("dispatcher", dispatcher.clone().run());
    tasks.spawn("incidents", incidents.clone().run());

    let worker = DeliveryWorker::new(
        store.clone(),
        receivers.clone(),
        deliveries_waiting,
        RetryPolicy::default(),
        delivery_metrics,
    )?;
    tasks.spawn("delivery_worker", worker.run());
    tasks.spawn("error_alerts", error_alerts.run(signal_rx));
    let log_ingest = match &logs {
        Some((log_store, log_rules)) => {
            // After `apply`, so the rules are set before the first batch arrives.
            tasks.spawn("log_rules", log_rules.clone().run(log_store.subscribe()));
            tasks.spawn(
                "log_maintenance",
                pharos_app::housekeeping::log_maintenance(
                    log_store.clone(),
                    pharos_logs::LogStoreMetrics::new(&registry)?,
                ),
            );
            let ingest = Arc::new(pharos_app::logs::Logs::new(
                log_store.clone(),
                Some(log_rules.clone()),
                errors.clone(),
                pharos_app::logs::LogIngestMetrics::new(&registry)?,
            ));
            crate::syslog::start(&syslog, ingest.clone(), &mut tasks).await?;
            Some(ingest)
        }
        None => None,
    };
    tasks.spawn(
        "retention",
        pharos_app::housekeeping::prune_results(store.clone(), live.retention.clone()),
    );
    tasks.spawn("sighup", sighup_loop(live.clone()));
    tasks.spawn("scrape_discovery", scrape.clone().run_discovery());
    tasks.spawn(
        "tsdb_maintenance",
        pharos_app::housekeeping::tsdb_maintenance(tsdb.clone(), tsdb_metrics),
    );
    if !self_scrape.is_zero() {
        tasks.spawn(
            "self_scrape",
            self_scrape_loop(
                series.clone(),
                registry.clone(),
                self_scrape,
                args.listen.to_string(),
            ),
        );
    }
    if !host_metrics.is_zero() {
        tasks.spawn(
            "host_metrics",
            host_metrics_loop(series.clone(), host_metrics),
        );
    }

    let reload: pharos_app::Reload = {
        let live = live.clone();
        Arc::new(move || {
            let live = live.clone();
            Box::pin(async move { live.reload().await })
        })
    };
    let app = Arc::new(pharos_app::App {
        store,
        engine: engine.clone(),
        errors,
        logs: log_ingest,
        metrics_store: Some(Arc::new(pharos_app::metrics_store::Metrics {
            db: tsdb.clone(),
            engine: pharos_promql::Engine::new(pharos_promql::EngineOptions::default()),
            scrape: scrape.clone(),
        })),
        dashboards,
        receivers,
        cardinality: {
            let history = Arc::new(pharos_app::cardinality::CardinalityHistory::default());
            tasks.spawn("cardinality_history", history.clone().run(tsdb.clone()));
            history
        },
        alerting: dispatcher.clone(),
        incidents,
        rules: rules.clone(),
        reload,
    });
    let state = Arc::new(AppState {
        app,
        registry,
        metrics: http_metrics,
        access: pharos_web::Access::new(&admin.value),
        settings: web,
        started,
        started_at: Utc::now(),
    });
    tracing::info!(
        operation = "startup",
        listen = %args.listen,
        data_dir = %args.data_dir.display(),
        monitors,
        duration_ms = started.elapsed().as_millis() as u64,
        "pharos {} listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        args.listen
    );
    let shutdown = tasks.shutdown();
    let server = axum::serve(
        listener,
        pharos_web::router(state.clone(), pharos_ui::router(state)),
    )
    .with_graceful_shutdown(shutdown.clone().wait())
    .into_future();
    tokio::pin!(server);
    // Serve until a termination signal; then stop accepting and give the requests in
    // flight their grace, so every write a client was answered 2xx for is committed.
    tokio::select! {
        result = &mut server => result?,
        () = crate::lifecycle::termination() => {
            let stopping = Instant::now();
            tracing::info!(operation = "shutdown", "stopping: no new connections, finishing requests in flight");
            tasks.begin_shutdown();
            if tokio::time::timeout(crate::lifecycle::REQUEST_GRACE, &mut server).await.is_err() {
                tracing::warn!(operation = "shutdown", "requests still open after the grace period (live tails); closing them");
            }
            tracing::info!(operation = "shutdown", duration_ms = stopping.elapsed().as_millis() as u64, "server stopped");
        }
    }
    tasks.stop().await;
    engine.stop_all();
    rules.stop_all().await;
    scrape.stop_all();
    // Syncs and closes the stores' write-ahead logs off the async threads.
    let closing = tokio::task::spawn_blocking(move || {
        if let Some((log_store, _)) = &logs {
            log_store.close();
        }
        if let Err(e) = tsdb.close() {
            tracing::warn!(operation = "shutdown", error = %e, "closing the metrics store failed");
        }
    });
    if tokio::time::timeout(crate::lifecycle::SHUTDOWN_BUDGET, closing)
        .await
        .is_err()
    {
        tracing::warn!(operation = "shutdown", "closing the stores took too long");
    }
    tracing::info!(operation = "shutdown", "pharos stopped");
    Ok(())
}

async fn sighup_loop(live: Arc<Live>) {
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
