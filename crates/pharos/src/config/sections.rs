//! The sections of `pharos.yaml` that are plain settings with defaults: `logs:`,
//! `metrics:` and `retention:`, and `global:`, which holds Prometheus's keys and
//! Alertmanager's side by side. The defaults live here so that an absent section and an
//! empty one mean the same thing.

use std::num::NonZeroUsize;

use pharos_model::HumanDuration;
use pharos_scrape::config::ByteSize;
use serde::Deserialize;

use super::checks::{checked_log_rules, positive_duration};

/// `global:`: Prometheus's keys (scrape and evaluation defaults) and Alertmanager's
/// (receiver defaults such as `smtp_smarthost`, and `resolve_timeout`). The two tools
/// share no key, so either file's `global:` (or both merged) pastes as it is; each key
/// goes to the tool that has it. Reads as Prometheus's part where that is wanted.
#[derive(Clone, Debug, Default)]
pub struct GlobalSection {
    pub prometheus: pharos_scrape::config::GlobalConfig,
    pub alertmanager: pharos_notify::alertmanager_global::AlertmanagerGlobal,
}

impl std::ops::Deref for GlobalSection {
    type Target = pharos_scrape::config::GlobalConfig;

    fn deref(&self) -> &Self::Target {
        &self.prometheus
    }
}

impl<'de> Deserialize<'de> for GlobalSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use pharos_notify::alertmanager_global::AlertmanagerGlobal;
        use serde_norway::{Mapping, Value};
        // `global:` with nothing under it is null, as an absent section.
        let Some(all) = Option::<Mapping>::deserialize(d)? else {
            return Ok(GlobalSection::default());
        };
        let mut prometheus = Mapping::new();
        let mut alertmanager = std::collections::BTreeMap::new();
        for (k, v) in all {
            match k.as_str() {
                Some(name) if AlertmanagerGlobal::is_key(name) => {
                    alertmanager.insert(name.to_string(), v);
                }
                _ => {
                    prometheus.insert(k, v);
                }
            }
        }
        // Read from plain values (to split the keys), so the path inside the section is
        // put in front of the message for the loader to find the line again.
        let prometheus =
            serde_path_to_error::deserialize(Value::Mapping(prometheus)).map_err(|e| {
                let path = super::checks::path_with_unknown_field(
                    &e.path().to_string(),
                    &e.inner().to_string(),
                );
                let inner = e.into_inner();
                if path.is_empty() {
                    serde::de::Error::custom(inner)
                } else {
                    serde::de::Error::custom(format!("{path}: {inner}"))
                }
            })?;
        let alertmanager =
            AlertmanagerGlobal::from_keys(alertmanager).map_err(serde::de::Error::custom)?;
        Ok(GlobalSection {
            prometheus,
            alertmanager,
        })
    }
}

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
    /// Most samples Pharos's own scrape may hold (`sample_limit` of job `pharos`); over
    /// it the scrape fails as a Prometheus scrape does and stores nothing. `0` is no limit.
    #[serde(default = "default_self_scrape_sample_limit")]
    pub self_scrape_sample_limit: usize,
    /// Longest a PromQL query may run, rules included (`--query.timeout`); a query of the
    /// API waits at most this long for a slot.
    #[serde(
        default = "default_query_timeout",
        deserialize_with = "positive_duration"
    )]
    pub query_timeout: HumanDuration,
    /// Most samples a query may load (`--query.max-samples`).
    #[serde(default = "default_query_max_samples")]
    pub query_max_samples: NonZeroUsize,
    /// Queries of the API and the pages evaluated at once (`--query.max-concurrency`).
    #[serde(default = "default_query_max_concurrency")]
    pub query_max_concurrency: NonZeroUsize,
}

impl MetricsSettings {
    /// The PromQL engine's limits, the same for the API's queries and the rules.
    pub fn engine_options(&self) -> pharos_promql::EngineOptions {
        pharos_promql::EngineOptions {
            max_samples: self.query_max_samples.get(),
            timeout: self.query_timeout.as_duration(),
            ..pharos_promql::EngineOptions::default()
        }
    }
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            retention: default_metrics_retention(),
            retention_size: None,
            max_series: default_max_series(),
            self_scrape_interval: default_self_interval(),
            host_metrics_interval: default_self_interval(),
            self_scrape_sample_limit: default_self_scrape_sample_limit(),
            query_timeout: default_query_timeout(),
            query_max_samples: default_query_max_samples(),
            query_max_concurrency: default_query_max_concurrency(),
        }
    }
}

/// Pharos's own `/metrics` holds from a hundred samples to a few thousand (per-issue and
/// per-transaction series of a busy project); what requests and ingest can add to it is
/// then bounded to 5 % of the default `max_series`.
fn default_self_scrape_sample_limit() -> usize {
    50_000
}

fn default_query_timeout() -> HumanDuration {
    HumanDuration::from_secs(120)
}

fn default_query_max_samples() -> NonZeroUsize {
    NonZeroUsize::new(50_000_000).expect("non-zero")
}

fn default_query_max_concurrency() -> NonZeroUsize {
    NonZeroUsize::new(20).expect("non-zero")
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

/// `backup:`: a backup every `interval` into a new `pharos-<time>` directory of
/// `directory`, keeping the newest `keep`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    #[serde(default = "default_backup_interval")]
    pub interval: HumanDuration,
    /// An absolute path; the service user must be able to write it.
    #[serde(deserialize_with = "absolute_path")]
    pub directory: std::path::PathBuf,
    #[serde(default = "default_backups_kept")]
    pub keep: std::num::NonZeroUsize,
}

impl BackupConfig {
    pub fn schedule(&self) -> pharos_app::backup::BackupSchedule {
        pharos_app::backup::BackupSchedule {
            interval: self.interval.as_duration(),
            directory: self.directory.clone(),
            keep: self.keep.get(),
        }
    }
}

fn absolute_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::path::PathBuf, D::Error> {
    let path = std::path::PathBuf::deserialize(d)?;
    if !path.is_absolute() {
        return Err(serde::de::Error::custom(format!(
            "{} is not an absolute path: backups must not depend on the directory Pharos starts in",
            path.display()
        )));
    }
    Ok(path)
}

fn default_backup_interval() -> HumanDuration {
    HumanDuration::from_secs(86_400)
}

fn default_backups_kept() -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(7).expect("7 is not zero")
}

fn default_results_retention() -> HumanDuration {
    HumanDuration::from_secs(30 * 86_400)
}
