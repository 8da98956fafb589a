//! Prometheus's command-line flags as `/api/v1/status/flags` lists them, each with the
//! Pharos setting that does its job (only those Pharos has an equivalent of), so a tool
//! reading Prometheus's flags finds the retention, limits and addresses in force.

use std::collections::BTreeMap;

use crate::ServeArgs;
use crate::config::Config;

pub(super) fn prometheus_flags(config: &Config, args: &ServeArgs) -> BTreeMap<String, String> {
    let m = &config.metrics;
    let engine = m.engine_options();
    let retention_size =
        pharos_app::prometheus_config::byte_size(m.retention_size.map_or(0, |b| b.0));
    let pairs = [
        (
            "config.file",
            args.config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("web.listen-address", args.listen.to_string()),
        ("web.external-url", config.web.external_url().to_string()),
        (
            "web.max-connections",
            config.web.connections.max.to_string(),
        ),
        // `POST /-/reload` is always there, with the admin permission.
        ("web.enable-lifecycle", "true".into()),
        ("web.enable-remote-write-receiver", "true".into()),
        ("web.enable-admin-api", "false".into()),
        (
            "storage.tsdb.path",
            args.data_dir.join("metrics").display().to_string(),
        ),
        ("storage.tsdb.retention.time", m.retention.to_string()),
        ("storage.tsdb.retention.size", retention_size),
        ("storage.tsdb.wal-compression", "false".into()),
        (
            "query.lookback-delta",
            pharos_model::HumanDuration::from_secs((engine.lookback_delta_ms / 1000) as u64)
                .to_string(),
        ),
        ("query.timeout", m.query_timeout.to_string()),
        ("query.max-samples", m.query_max_samples.to_string()),
        ("query.max-concurrency", m.query_max_concurrency.to_string()),
        (
            "log.level",
            std::env::var("PHAROS_LOG").unwrap_or_else(|_| "info".into()),
        ),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
