//! `pharos serve`: opens the stores, builds the services and the application layer,
//! registers every background task with the lifecycle, serves HTTP until `SIGTERM`, then
//! stops the tasks and closes the stores. What a config reload changes is in [`reload`].

mod data_dir;
mod flags;
mod reload;

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use pharos_app::housekeeping;
use pharos_app::sentry::ErrorIngest;
use pharos_evaluate::rules::RuleEvaluator;
use pharos_evaluate::rules::storage::TsdbRuleStorage;
use pharos_evaluate::{AlertSink, EngineSettings, ErrorAlerts, MonitorEngine, ProbeMetrics};
use pharos_notify::dispatch::{Dispatcher, SystemClock};
use pharos_notify::incidents::{AckLinks, Incidents};
use pharos_notify::{DeliveryMetrics, DeliveryWorker, Receivers, RetryPolicy};
use pharos_scrape::manager::ScrapeManager;
use pharos_scrape::metadata::MetadataStore;
use pharos_store::Store;
use pharos_tsdb::{Tsdb, TsdbMetrics};
use pharos_web::{AppState, WebSettings};
use prometheus::Registry;
use tokio::sync::Notify;

use crate::ServeArgs;
use crate::config::Config;
use crate::lifecycle::Tasks;
use crate::series_writer::{SeriesWriter, host_metrics_loop};
use crate::token;
use reload::{Live, sighup_loop};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut tasks = Tasks::default();
    let _ = rustls::crypto::ring::default_provider().install_default();

    // Check the config before touching the data directory, so a typo never half-starts.
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let server = Arc::new(pharos_app::server_info::ServerInfo::new(
        Utc::now().timestamp_millis(),
        args.config.clone(),
        config.metrics.retention.to_string(),
        flags::prometheus_flags(&config, &args),
    ));
    data_dir::make_private(&args.data_dir)?;
    // Before any store opens: a directory a newer Pharos wrote must not be misread.
    pharos_app::backup::formats::check_data_dir(&args.data_dir).map_err(anyhow::Error::msg)?;
    let store = Arc::new(Store::open(&args.data_dir)?);
    pharos_app::monitors::seal_monitor_secrets(&store, &args.data_dir)
        .context("cannot seal monitors' credentials")?;
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
    let alerting = Alerting::open(&store, &args.data_dir)?;
    let engine = MonitorEngine::new(
        store.clone(),
        alerting.sink.clone(),
        ProbeMetrics::new(&registry)?,
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
    let error_alerts = ErrorAlerts::new(store.clone(), alerting.sink.clone(), external.clone());
    let metrics = MetricsSide::open(&config, &args.data_dir, &store, &alerting, &registry).await?;
    // Before monitors start, so their first results are series too.
    engine.write_series_to(metrics.series.clone());
    let logs = open_logs(&config, &args.data_dir, &store, &alerting, &metrics).await?;
    // Every store is open, and so upgraded: record the formats it is in now.
    pharos_app::backup::formats::record(&args.data_dir, crate::WRITTEN_BY).with_context(|| {
        format!(
            "cannot write {}",
            args.data_dir
                .join(pharos_app::backup::formats::FILE)
                .display()
        )
    })?;
    let backups = Arc::new(pharos_app::backup::Backups::new(
        &args.data_dir,
        crate::WRITTEN_BY,
        &registry,
    )?);
    let web = Arc::new(RwLock::new(WebSettings::default()));
    // Uploaded dashboards live beside the stores; the config's are set by `apply`.
    let dashboards = Arc::new(pharos_app::dashboards::DashboardSet::open(
        args.data_dir.join("dashboards"),
    ));
    let slos = Arc::new(RwLock::new(Vec::new()));
    // Applying the config sets the session timeouts.
    let access = Arc::new(pharos_app::access::AccessControl::new(
        store.clone(),
        &admin.value,
    ));
    let live = Arc::new(Live {
        access: access.clone(),
        logs: logs.clone(),
        rules: metrics.rules.clone(),
        dashboards: dashboards.clone(),
        slos: slos.clone(),
        scrape: metrics.scrape.clone(),
        errors: errors.clone(),
        external,
        config_path: args.config.clone(),
        listen: args.listen,
        store: store.clone(),
        engine: engine.clone(),
        receivers: alerting.receivers.clone(),
        dispatcher: alerting.dispatcher.clone(),
        incidents: alerting.incidents.clone(),
        web: web.clone(),
        retention: Arc::new(RwLock::new(config.retention.results.as_duration())),
        reloading: tokio::sync::Mutex::new(()),
        backups: backups.clone(),
        server: server.clone(),
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
    let query_options = config.metrics.engine_options();
    let query_limit = pharos_app::metrics_store::QueryLimit::new(
        config.metrics.query_max_concurrency.get(),
        config.metrics.query_timeout.as_duration(),
    );
    let connections = crate::lifecycle::ConnectionLimits::from(&config.web.connections);
    open_files_limit(&connections, &syslog);
    live.apply(config).await?;
    alerting.start(&store, &registry, &mut tasks).await?;
    tasks.spawn("error_alerts", error_alerts.run(signal_rx));
    let log_ingest = match &logs {
        Some((log_store, log_rules)) => {
            // After `apply`, so the rules are set before the first batch arrives.
            tasks.spawn("log_rules", log_rules.clone().run(log_store.subscribe()));
            tasks.spawn(
                "log_maintenance",
                housekeeping::log_maintenance(
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
        housekeeping::prune_results(store.clone(), live.retention.clone()),
    );
    tasks.spawn("sighup", sighup_loop(live.clone()));
    metrics.start(&registry, args.listen, &mut tasks)?;

    let reload: pharos_app::Reload = {
        let live = live.clone();
        Arc::new(move || {
            let live = live.clone();
            Box::pin(async move { live.reload().await })
        })
    };
    let cardinality = Arc::new(pharos_app::cardinality::CardinalityHistory::default());
    tasks.spawn(
        "cardinality_history",
        cardinality.clone().run(metrics.tsdb.clone()),
    );
    tasks.spawn(
        "session_purge",
        housekeeping::purge_sessions(access.clone()),
    );
    let oidc = {
        let w = web.read().unwrap_or_else(|p| p.into_inner()).clone();
        match w.oidc.clone() {
            Some(o) => Some(Arc::new(
                pharos_app::oidc::Oidc::new(o, &reload::external_url(&w, args.listen))
                    .context("web.oidc")?,
            )),
            None => None,
        }
    };
    let app = Arc::new(pharos_app::App {
        access,
        oidc,
        store,
        engine: engine.clone(),
        errors,
        logs: log_ingest,
        metrics_store: Some(Arc::new(pharos_app::metrics_store::Metrics {
            db: metrics.tsdb.clone(),
            engine: pharos_promql::Engine::new(query_options),
            scrape: metrics.scrape.clone(),
            queries: query_limit,
        })),
        dashboards,
        receivers: alerting.receivers.clone(),
        cardinality,
        alerting: alerting.dispatcher.clone(),
        incidents: alerting.incidents.clone(),
        rules: metrics.rules.clone(),
        slos,
        reload,
        ready_verdict: Default::default(),
        status_views: Default::default(),
        backups,
        server,
    });
    tasks.spawn("scheduled_backups", scheduled_backups(app.clone()));
    let state = Arc::new(AppState {
        app,
        metrics: pharos_web::metrics::HttpMetrics::new(&registry)?,
        registry,
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
    // The self-scrape reads the registry directly; the gauges `/metrics` fills must be
    // fresh for it too.
    if !metrics.self_scrape.is_zero() {
        tasks.spawn(
            "metrics_gauges",
            pharos_web::metrics::refresh_gauges_every(state.clone(), metrics.self_scrape),
        );
    }
    let router = pharos_web::router(state.clone(), pharos_ui::router(state));
    crate::lifecycle::serve_until_terminated(listener, router, connections, &tasks).await;
    tasks.stop().await;
    engine.stop_all();
    metrics.rules.stop_all().await;
    metrics.scrape.stop_all();
    close_stores(logs, metrics.tsdb).await;
    tracing::info!(operation = "shutdown", "pharos stopped");
    Ok(())
}

/// Takes the config's scheduled backups when they are due; the outcome is logged by the
/// backup itself and kept for `/health` and `/metrics`.
async fn scheduled_backups(app: Arc<pharos_app::App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let _ = app.scheduled_backup(Utc::now()).await;
    }
}

/// Raises the open-files limit and says whether the connection caps fit under it.
fn open_files_limit(
    http: &crate::lifecycle::ConnectionLimits,
    syslog: &crate::syslog::SyslogConfig,
) {
    let limit = match crate::lifecycle::raise_open_files_limit() {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(operation = "startup", error = %e, "cannot read or raise the open-files limit");
            return;
        }
    };
    let listeners = usize::from(syslog.tcp.is_some()) + usize::from(syslog.tls.is_some());
    // The stores, the listeners and outgoing connections need files of their own.
    let wanted = http.max + listeners * syslog.max_connections.get() + 1024;
    if (wanted as u64) > limit {
        tracing::warn!(
            operation = "startup",
            open_files_limit = limit,
            "the open-files limit is below the connection caps (web.connections.max, logs.syslog.max_connections) and 1,024 spare: raise the hard limit (LimitNOFILE=, ulimit -Hn) or lower the caps"
        );
    } else {
        tracing::info!(
            operation = "startup",
            open_files_limit = limit,
            "open-files limit"
        );
    }
}

/// Routing, silences, incidents and delivery: built before the evaluators, which hand
/// their alert changes to `sink`.
struct Alerting {
    receivers: Arc<RwLock<Receivers>>,
    deliveries_waiting: Arc<Notify>,
    dispatcher: Arc<Dispatcher>,
    incidents: Arc<Incidents>,
    sink: Arc<AlertSink>,
}

impl Alerting {
    fn open(store: &Arc<Store>, data_dir: &Path) -> anyhow::Result<Alerting> {
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
            AckLinks::load_or_create(data_dir)
                .context("cannot read or make the incident link key")?,
        );
        dispatcher.set_incident_hook(incidents.clone());
        // Every evaluator hands its alert changes to this one sink: stored first, then
        // given to the dispatcher, which groups, silences and notifies them.
        let sink = AlertSink::new(store.clone(), dispatcher.clone());
        Ok(Alerting {
            receivers,
            deliveries_waiting,
            dispatcher,
            incidents,
            sink,
        })
    }

    /// Once the config is applied: groups rebuilt from the store, then the dispatcher,
    /// the escalations and the delivery worker run.
    async fn start(
        &self,
        store: &Arc<Store>,
        registry: &Registry,
        tasks: &mut Tasks,
    ) -> anyhow::Result<()> {
        self.dispatcher
            .restore()
            .await
            .context("cannot rebuild alert groups from the store")?;
        tasks.spawn("dispatcher", self.dispatcher.clone().run());
        tasks.spawn("incidents", self.incidents.clone().run());
        let worker = DeliveryWorker::new(
            store.clone(),
            self.receivers.clone(),
            self.deliveries_waiting.clone(),
            RetryPolicy::default(),
            DeliveryMetrics::new(registry)?,
        )?;
        tasks.spawn("delivery_worker", worker.run());
        Ok(())
    }
}

/// The metrics store and what feeds and reads it: scraping, the series writer for
/// Pharos's own series, the rule evaluator.
struct MetricsSide {
    tsdb: Arc<Tsdb>,
    scrape: Arc<ScrapeManager>,
    series: Arc<SeriesWriter>,
    rules: Arc<RuleEvaluator>,
    /// How often Pharos scrapes its own `/metrics` and this machine; zero is off.
    self_scrape: Duration,
    self_scrape_sample_limit: usize,
    host_metrics: Duration,
}

/// Pharos's own metrics as job `pharos`, `instance` the listen address: scraped like any
/// target, so `sample_limit` bounds what anonymous requests can add to the store through
/// them, and a refused scrape shows on the targets page with `up` 0.
fn self_scrape_job(
    every: Duration,
    sample_limit: usize,
    listen: std::net::SocketAddr,
) -> anyhow::Result<pharos_scrape::config::ScrapeConfig> {
    let every = format!("{}ms", every.as_millis());
    Ok(serde_json::from_value(serde_json::json!({
        "job_name": "pharos",
        "scrape_interval": every,
        "scrape_timeout": every,
        "sample_limit": sample_limit,
        "static_configs": [{"targets": [listen.to_string()]}],
    }))?)
}

/// The text `/metrics` answers, made in-process.
fn self_scrape_body(registry: Registry) -> pharos_scrape::scrape_loop::LocalBody {
    Arc::new(move || {
        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&registry.gather(), &mut text)
            .map_err(|e| e.to_string())?;
        Ok(text)
    })
}

impl MetricsSide {
    async fn open(
        config: &Config,
        data_dir: &Path,
        store: &Arc<Store>,
        alerting: &Alerting,
        registry: &Registry,
    ) -> anyhow::Result<MetricsSide> {
        let settings = &config.metrics;
        let options = pharos_tsdb::Options {
            retention_ms: Some(settings.retention.as_duration().as_millis() as i64),
            retention_bytes: settings.retention_size.map(|b| b.0),
            max_series: settings.max_series,
            ..pharos_tsdb::Options::default()
        };
        let dir = data_dir.join("metrics");
        let tsdb = Arc::new(
            tokio::task::spawn_blocking(move || Tsdb::open(&dir, options))
                .await?
                .context("cannot open the metrics store")?,
        );
        let scrape = ScrapeManager::new(tsdb.clone(), Arc::new(MetadataStore::default()));
        pharos_app::scrape_jobs::restore_scrape_jobs(store.clone(), scrape.clone(), data_dir)
            .await
            .context("cannot load the scrape jobs made through the API")?;
        let series = SeriesWriter::start(tsdb.clone()).context("cannot start the series writer")?;
        // Rules read and write the metrics store directly: a recording rule's samples must
        // be there for the next rule of its group, which the batching series writer cannot
        // promise.
        let rules = RuleEvaluator::new(
            store.clone(),
            alerting.sink.clone(),
            Arc::new(TsdbRuleStorage(tsdb.clone())),
            pharos_promql::Engine::new(settings.engine_options()),
            Arc::new(pharos_evaluate::rules::SystemClock),
        );
        registry.register(Box::new(pharos_evaluate::rules::RuleMetrics(rules.clone())))?;
        Ok(MetricsSide {
            tsdb,
            scrape,
            series,
            rules,
            self_scrape: settings.self_scrape_interval.as_duration(),
            self_scrape_sample_limit: settings.self_scrape_sample_limit,
            host_metrics: settings.host_metrics_interval.as_duration(),
        })
    }

    fn start(
        &self,
        registry: &Registry,
        listen: std::net::SocketAddr,
        tasks: &mut Tasks,
    ) -> anyhow::Result<()> {
        tasks.spawn("scrape_discovery", self.scrape.clone().run_discovery());
        tasks.spawn(
            "tsdb_maintenance",
            housekeeping::tsdb_maintenance(self.tsdb.clone(), TsdbMetrics::new(registry)?),
        );
        if !self.self_scrape.is_zero() {
            self.scrape.add_local_target(
                self_scrape_job(self.self_scrape, self.self_scrape_sample_limit, listen)?,
                self_scrape_body(registry.clone()),
            )?;
        }
        if !self.host_metrics.is_zero() {
            tasks.spawn(
                "host_metrics",
                host_metrics_loop(
                    self.series.clone(),
                    self.scrape.metadata.clone(),
                    self.host_metrics,
                ),
            );
        }
        Ok(())
    }
}

type LogSide = (
    Arc<pharos_logs::LogStore>,
    Arc<pharos_evaluate::log_rules::LogRules>,
);

/// The log store (replaying its WAL before anything can send to it) and the log rules,
/// which watch every durable batch and write their counters through the series writer;
/// `None` when logs are off.
async fn open_logs(
    config: &Config,
    data_dir: &Path,
    store: &Arc<Store>,
    alerting: &Alerting,
    metrics: &MetricsSide,
) -> anyhow::Result<Option<LogSide>> {
    if !config.logs.enabled {
        return Ok(None);
    }
    let dir = data_dir.join("logs");
    let settings = config.logs.store_settings();
    let log_store =
        tokio::task::spawn_blocking(move || pharos_logs::LogStore::open(&dir, settings))
            .await?
            .context("cannot open the log store")?;
    let log_rules = pharos_evaluate::log_rules::LogRules::new(
        store.clone(),
        alerting.sink.clone(),
        metrics.series.clone(),
        pharos_evaluate::log_rules::LogRuleSettings::default(),
    );
    Ok(Some((log_store, log_rules)))
}

/// Syncs and closes the stores' write-ahead logs off the async threads.
async fn close_stores(logs: Option<LogSide>, tsdb: Arc<Tsdb>) {
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
}
