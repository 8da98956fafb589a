//! `pharos serve`: opens the store, starts the monitor engine and the delivery worker,
//! serves HTTP, and applies config reloads (SIGHUP, `POST /-/reload`).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use pharos_evaluate::{AlertRouter, EngineSettings, ErrorAlerts, MonitorEngine, ProbeMetrics};
use pharos_ingest::sentry::Scrubber;
use pharos_notify::{DeliveryMetrics, DeliveryWorker, Receivers, RetryPolicy};
use pharos_store::Store;
use pharos_web::sentry::ErrorIngest;
use pharos_web::{AppState, WebSettings};
use prometheus::Registry;
use tokio::sync::Notify;

use crate::ServeArgs;
use crate::config::Config;
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
    web: Arc<RwLock<WebSettings>>,
    errors: Arc<ErrorIngest>,
    /// The external URL alerts link to, shared with the error alert evaluator.
    external: Arc<RwLock<String>>,
    retention: RwLock<Duration>,
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
        self.engine.set_settings(EngineSettings {
            external_url: external,
            maintenance: config.maintenance.clone(),
        });
        self.engine.refresh_maintenance().await?;
        self.engine.reconcile(&fresh).await?;
        *self.retention.write().unwrap_or_else(|p| p.into_inner()) =
            config.retention.results.as_duration();
        *self.web.write().unwrap_or_else(|p| p.into_inner()) = config.web;
        tracing::info!(
            operation = "config_apply",
            monitors = config.monitors.len(),
            receivers = config.receivers.len(),
            projects = config.projects.len(),
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
    let router: AlertRouter = {
        let receivers = receivers.clone();
        Arc::new(move |alert| {
            receivers
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .deliveries_for(alert)
        })
    };
    let deliveries_waiting = Arc::new(Notify::new());
    let engine = MonitorEngine::new(
        store.clone(),
        router.clone(),
        deliveries_waiting.clone(),
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
        pharos_web::sentry::IngestMetrics::new(&registry)?,
    ));
    let external = Arc::new(RwLock::new(String::new()));
    let error_alerts = ErrorAlerts::new(
        store.clone(),
        router.clone(),
        deliveries_waiting.clone(),
        external.clone(),
    );

    let web = Arc::new(RwLock::new(WebSettings::default()));
    let live = Arc::new(Live {
        errors: errors.clone(),
        external,
        config_path: args.config.clone(),
        listen: args.listen,
        store: store.clone(),
        engine: engine.clone(),
        receivers: receivers.clone(),
        web: web.clone(),
        retention: RwLock::new(config.retention.results.as_duration()),
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
    live.apply(config).await?;

    let worker = DeliveryWorker::new(
        store.clone(),
        receivers,
        deliveries_waiting,
        RetryPolicy::default(),
        delivery_metrics,
    )?;
    tokio::spawn(worker.run());
    tokio::spawn(error_alerts.run(signal_rx));
    tokio::spawn(prune_loop(live.clone()));
    tokio::spawn(sighup_loop(live.clone()));

    let reload: pharos_web::Reload = {
        let live = live.clone();
        Arc::new(move || {
            let live = live.clone();
            Box::pin(async move { live.reload().await })
        })
    };
    let state = Arc::new(AppState {
        store,
        engine: engine.clone(),
        errors,
        registry,
        metrics: http_metrics,
        access: pharos_web::Access::new(&admin.value),
        settings: web,
        reload,
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
    axum::serve(listener, pharos_web::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    engine.stop_all();
    tracing::info!(operation = "shutdown", "pharos stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
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

/// Drops raw results and error payloads past their retention once an hour.
async fn prune_loop(live: Arc<Live>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let retention = *live.retention.read().unwrap_or_else(|p| p.into_inner());
        let Ok(retention) = chrono::Duration::from_std(retention) else {
            continue;
        };
        let store = live.store.clone();
        let pruned = tokio::task::spawn_blocking(move || {
            Ok::<_, pharos_store::StoreError>(
                store.prune(Utc::now(), retention)? + store.errors().prune(Utc::now())?,
            )
        });
        match pruned.await {
            Ok(Ok(n)) if n > 0 => {
                tracing::info!(operation = "prune", rows = n, "old results dropped")
            }
            Ok(Err(e)) => tracing::warn!(operation = "prune", error = %e, "pruning failed"),
            _ => {}
        }
    }
}
