//! The sections of `pharos.yaml` that are plain settings with defaults: `logs:`,
//! `metrics:` and `retention:`. The defaults live here so that an absent section and an
//! empty one mean the same thing.

use pharos_model::HumanDuration;
use pharos_scrape::config::ByteSize;
use serde::Deserialize;

use super::checks::checked_log_rules;

/// The `logs:` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// On unless turned off; off, the log endpoints answer 503 and no listener starts.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How long entries are kept, per service and level (default 7d).
    #[serde(default)]
    pub retention: pharos_logs::RetentionSettings,
    /// Disk budget of the log store; the oldest days go first.
    #[serde(default)]
    pub max_disk: Option<pharos_logs::ByteSize>,
    /// Syslog listeners (UDP, TCP, TLS); none by default. Read at start only.
    #[serde(default)]
    pub syslog: crate::syslog::SyslogConfig,
    /// Forbidden, rate-limited, threshold and count rules on log lines.
    #[serde(default, deserialize_with = "checked_log_rules")]
    pub rules: Vec<pharos_evaluate::log_rules::LogRuleSpec>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            enabled: true,
            retention: Default::default(),
            max_disk: None,
            syslog: Default::default(),
            rules: Vec::new(),
        }
    }
}

impl LogsConfig {
    pub fn store_settings(&self) -> pharos_logs::LogSettings {
        pharos_logs::LogSettings {
            retention: self.retention.clone(),
            max_disk: self.max_disk,
            ..Default::default()
        }
    }
}

fn default_true() -> bool {
    true
}

/// `metrics:` — the time-series store's settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// How long samples are kept (Prometheus's `--storage.tsdb.retention.time`).
    #[serde(default = "default_metrics_retention")]
    pub retention: HumanDuration,
    /// Oldest blocks are deleted above this size (`--storage.tsdb.retention.size`).
    #[serde(default)]
    pub retention_size: Option<ByteSize>,
    /// The most series the store holds; appends creating more are refused.
    #[serde(default = "default_max_series")]
    pub max_series: usize,
    /// How often Pharos records its own metrics (job `pharos`); `0s` turns it off.
    #[serde(default = "default_self_interval")]
    pub self_scrape_interval: HumanDuration,
    /// How often this machine's CPU, memory, disk and network are recorded (job `node`,
    /// node_exporter's metric names); `0s` turns it off.
    #[serde(default = "default_self_interval")]
    pub host_metrics_interval: HumanDuration,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            retention: default_metrics_retention(),
            retention_size: None,
            max_series: default_max_series(),
            self_scrape_interval: default_self_interval(),
            host_metrics_interval: default_self_interval(),
        }
    }
}

fn default_metrics_retention() -> HumanDuration {
    HumanDuration::from_secs(15 * 86_400)
}

fn default_max_series() -> usize {
    1_000_000
}

fn default_self_interval() -> HumanDuration {
    HumanDuration::from_secs(15)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// How long every raw check result is kept; hourly uptime roll-ups are kept a year.
    #[serde(default = "default_results_retention")]
    pub results: HumanDuration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            results: default_results_retention(),
        }
    }
}

fn default_results_retention() -> HumanDuration {
    HumanDuration::from_secs(30 * 86_400)
}
