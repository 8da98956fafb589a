//! `pharos.yaml`: what the user typed, parsed once into checked types. `${ENV_VAR}` is
//! replaced before parsing, on the same line, so every error still points at the line and
//! column the user wrote, with the path of the field at fault.

mod checks;
mod cross_section;
mod env_substitution;
mod locate;
mod sections;
#[cfg(test)]
mod tests;

use std::path::Path;

use pharos_ingest::sentry::ScrubConfig;
use pharos_model::MonitorSpec;
use pharos_model::maintenance::MaintenanceWindow;
use pharos_model::project::ProjectSpec;
use pharos_notify::ReceiverConfig;
use pharos_notify::dispatch::{InhibitRuleConfig, NamedTimeIntervalConfig, RouteConfig, Routing};
use pharos_notify::template_files::TemplateFilesError;
use pharos_scrape::config::{ScrapeConfig, deserialize_scrape_configs};
use pharos_web::WebSettings;
use serde::Deserialize;

use checks::{
    checked_dashboard_patterns, checked_maintenance, checked_projects, checked_receivers,
    checked_rule_file_patterns, checked_scrubbing, checked_slos, checked_template_patterns,
    unique_monitors,
};
use cross_section::{
    checked_incidents, checked_routing, checked_status_pages, ignored_scrape_fields,
};
use env_substitution::substitute_env;
use locate::locate;
pub use sections::{BackupConfig, GlobalSection, LogsConfig, MetricsSettings, Retention};

/// The whole config file. Every section is optional: no file at all is a valid config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub web: WebSettings,
    #[serde(default)]
    pub retention: Retention,
    /// Uptime, health and heartbeat monitors.
    #[serde(default, deserialize_with = "unique_monitors")]
    pub monitors: Vec<MonitorSpec>,
    /// Where alerts are sent, in Alertmanager's layout (`name` and `webhook_configs`,
    /// `slack_configs`, `telegram_configs`, `email_configs`, `pagerduty_configs`, …).
    /// Read by `parse` from `receivers_as_written` once `global:`'s Alertmanager
    /// defaults (`smtp_smarthost`, `slack_api_url`, …) are filled in.
    #[serde(skip)]
    pub receivers: Vec<ReceiverConfig>,
    /// `receivers:` as written, before the defaults of `global:`.
    #[serde(default, rename = "receivers")]
    receivers_as_written: Vec<serde_norway::Value>,
    /// Alertmanager's `templates:`: files of `{{ define "name" }}` blocks that receiver
    /// templates call with `{{ template "name" . }}`, relative to this file; a glob is
    /// allowed in the file name (`templates/*.tmpl`). Read again on every reload.
    #[serde(default, deserialize_with = "checked_template_patterns")]
    pub templates: Vec<String>,
    /// Alertmanager's `route:` tree, pasted as it is; without it every receiver gets every
    /// alert as it changes.
    #[serde(default)]
    pub route: Option<RouteConfig>,
    /// Alertmanager's `inhibit_rules:`.
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// Alertmanager's `time_intervals:` for routes' `mute_time_intervals` and
    /// `active_time_intervals`.
    #[serde(default)]
    pub time_intervals: Vec<NamedTimeIntervalConfig>,
    /// The older name of `time_intervals:`, still read.
    #[serde(default)]
    pub mute_time_intervals: Vec<NamedTimeIntervalConfig>,
    /// The four sections above, checked against each other and `receivers` by `parse`.
    #[serde(skip)]
    pub routing: Routing,
    /// Windows during which the listed monitors (all when none are listed) do not alert.
    #[serde(default, deserialize_with = "checked_maintenance")]
    pub maintenance: Vec<MaintenanceWindow>,
    /// Error-tracking projects: each is a Sentry DSN (`http://<key>@host:port/<id>`).
    #[serde(default, deserialize_with = "checked_projects")]
    pub projects: Vec<ProjectSpec>,
    /// Secret scrubbing of error events before they are stored (on by default).
    #[serde(default, deserialize_with = "checked_scrubbing")]
    pub scrubbing: ScrubConfig,
    /// Prometheus's `global:` section (scrape interval and timeout defaults) and
    /// Alertmanager's (receiver defaults, `resolve_timeout`), side by side.
    #[serde(default)]
    pub global: GlobalSection,
    /// Prometheus's `scrape_configs:` section, as it is in a `prometheus.yml`.
    #[serde(default, deserialize_with = "deserialize_scrape_configs")]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// The metrics store: retention and limits.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// Dashboard files, Pharos YAML or Grafana JSON, relative to this file; a glob is
    /// allowed in the last path segment (`dashboards/*.yaml`). Read again on every reload.
    #[serde(default, deserialize_with = "checked_dashboard_patterns")]
    pub dashboards: Vec<String>,
    /// Show the dashboards built into Pharos (host, Pharos, probes, error tracking,
    /// logs); `false` hides them. A dashboard with the same id replaces one. Unset (and
    /// with no config file) they are shown.
    #[serde(default)]
    pub builtin_dashboards: Option<bool>,
    /// What those files hold, read by [`Config::load`].
    #[serde(skip)]
    pub loaded_dashboards: Vec<pharos_app::dashboards::Dashboard>,
    /// Prometheus rule files (alerting and recording rules), relative to this file; globs
    /// allowed. Read again on every reload; a bad file refuses the whole config.
    #[serde(default, deserialize_with = "checked_rule_file_patterns")]
    pub rule_files: Vec<String>,
    /// The groups of those files, read by [`Config::load`], and the rules of `slos`.
    #[serde(skip)]
    pub loaded_rules: Vec<pharos_evaluate::rules::RuleGroupSpec>,
    /// Service level objectives: each becomes recording rules of its error ratio and
    /// burn-rate alerts (file `slos` on `/rules`), and a page with its budget.
    #[serde(default, deserialize_with = "checked_slos")]
    pub slos: Vec<pharos_model::slo::SloSpec>,
    /// Pharos's extension: who is told when an incident stays unacknowledged; a route
    /// names one with `escalation: <name>`.
    #[serde(default)]
    pub escalation_policies: Vec<pharos_notify::incidents::EscalationPolicyConfig>,
    /// Pharos's extension: on-call rotations; `oncall:<name>` in an escalation step.
    #[serde(default)]
    pub oncall: Vec<pharos_notify::oncall::ScheduleConfig>,
    /// Alert name → Markdown runbook file (relative to this file), shown with incidents.
    #[serde(default)]
    pub runbooks: std::collections::BTreeMap<String, String>,
    /// A directory of `<alertname>.md` runbooks, relative to this file.
    #[serde(default)]
    pub runbooks_dir: Option<String>,
    /// The four sections above, checked against each other and `receivers` by `parse`.
    #[serde(skip)]
    pub incidents: pharos_notify::incidents::IncidentSettings,
    /// Prometheus's and Alertmanager's `tracing:` (where they send their own traces):
    /// read so their files paste as they are; Pharos sends none, and warns.
    #[serde(default)]
    tracing: Option<serde_norway::Value>,
    /// Log collection, storage, retention and log rules.
    #[serde(default)]
    pub logs: LogsConfig,
    /// Scheduled backups of the data directory (`pharos backup` takes one on request).
    #[serde(default)]
    pub backup: Option<BackupConfig>,
    /// What is allowed but probably wrong (a status page component without a monitor of
    /// the config), each at its line; logged at start and reload, printed by `pharos check`.
    #[serde(skip)]
    pub warnings: Vec<ConfigError>,
}

/// A config error with where it is: `pharos.yaml:12:7: monitors[2].http.timeout: ...`.
pub type ConfigError = pharos_model::yaml::FileError;

/// An error about `field` of the file `text` read from `path`, at the field's line.
fn error_at(text: &str, path: &Path, field: String, message: String) -> ConfigError {
    let (line, column) = locate(text, &field).map_or((None, None), |(l, c)| (Some(l), Some(c)));
    ConfigError {
        file: path.to_path_buf(),
        line,
        column,
        field: Some(field),
        message,
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            field: None,
            message: format!("cannot read config file: {e}"),
        })?;
        let config = Config::parse(&text, path, &|name| std::env::var(name).ok())?;
        // Jobs are checked against `global` once both sections are read.
        pharos_scrape::manager::ScrapeManager::check(&config.global, &config.scrape_configs)
            .map_err(|e| ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                field: Some("scrape_configs".into()),
                message: e.to_string(),
            })?;
        let mut config = config;
        let base = path.parent().unwrap_or(Path::new(""));
        config.loaded_dashboards = pharos_app::dashboards::load_patterns(&config.dashboards, base)
            .map_err(|e| {
                // An error inside a dashboard file names that file; one about the list
                // itself (a missing file) points at its entry here.
                let (line, column) = match (&e.file, &e.field) {
                    (None, Some(f)) => {
                        locate(&text, f).map_or((None, None), |(l, c)| (Some(l), Some(c)))
                    }
                    _ => (e.line, e.column),
                };
                ConfigError {
                    file: e.file.clone().unwrap_or_else(|| path.to_path_buf()),
                    line,
                    column,
                    field: e.field.clone(),
                    message: e.message,
                }
            })?;
        config.loaded_rules = pharos_evaluate::rules::load_rule_files(&config.rule_files, base)
            .map_err(|e| match e {
                pharos_evaluate::rules::RuleFilesError::Pattern { index, message } => {
                    error_at(&text, path, format!("rule_files[{index}]"), message)
                }
                pharos_evaluate::rules::RuleFilesError::File(e) => e,
            })?;
        pharos_notify::template_files::apply_template_files(
            &config.templates,
            base,
            &mut config.receivers,
        )
        .map_err(|e| match e {
            TemplateFilesError::Pattern { index, message } => {
                error_at(&text, path, format!("templates[{index}]"), message)
            }
            TemplateFilesError::File(e) => e,
            TemplateFilesError::Undefined { field, message } => {
                error_at(&text, path, field, message)
            }
        })?;
        for (i, slo) in config.slos.iter().enumerate() {
            let groups =
                pharos_evaluate::slo::rule_groups(std::slice::from_ref(slo)).map_err(|errors| {
                    let message = errors
                        .first()
                        .map(|e| format!("not a PromQL series selector: {}", e.message))
                        .unwrap_or_default();
                    error_at(&text, path, format!("slos[{i}].indicator"), message)
                })?;
            config.loaded_rules.extend(groups);
        }
        Ok(config)
    }

    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = substitute_env(text, path, env)?;
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let mut config: Config = pharos_model::yaml::from_yaml(&text).map_err(|e| {
            let (mut message, mut field) = (e.message, e.field);
            let (mut line, mut column) = (e.line, e.column);
            // serde_norway places errors raised after a value was read (checks across
            // fields) at the start of an enclosing node; walk the path to the key itself.
            let message_key = message
                .split_once(": ")
                .map(|(k, _)| k.to_string())
                .filter(|k| {
                    !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
                });
            if let Some(k) = &message_key {
                let full = match &field {
                    // `[0].scrape_interval` from a section read item by item.
                    Some(f) if k.starts_with('[') => format!("{f}{k}"),
                    Some(f) => format!("{f}.{k}"),
                    None => k.clone(),
                };
                // A flow-style list (`[a, b]`) has no line per item: fall back to its key.
                let found = locate(&text, &full).or_else(|| {
                    full.strip_suffix(']')
                        .and_then(|f| f.rfind('[').map(|i| &f[..i]))
                        .and_then(|key| locate(&text, key))
                });
                if let Some((l, c)) = found {
                    (line, column) = (Some(l), Some(c));
                    message = message[k.len() + 2..].to_string();
                    field = Some(full);
                }
            } else if let Some((l, c)) = field.as_deref().and_then(|f| locate(&text, f)) {
                (line, column) = (Some(l), Some(c));
            }
            ConfigError {
                file: path.to_path_buf(),
                line,
                column,
                field,
                message,
            }
        })?;
        config.receivers = checked_receivers(
            &std::mem::take(&mut config.receivers_as_written),
            &config.global.alertmanager,
            &text,
            path,
        )?;
        config.routing = checked_routing(&config, &text, path)?;
        if let Some(t) = config.global.alertmanager.resolve_timeout {
            config.routing.resolve_timeout = t.as_duration();
        }
        config.incidents = checked_incidents(&config, &text, path)?;
        config.warnings = checked_status_pages(&config, &text, path)?;
        config
            .warnings
            .extend(ignored_scrape_fields(&config, &text, path));
        if config.tracing.as_ref().is_some_and(|t| !t.is_null()) {
            config.warnings.push(error_at(
                &text,
                path,
                "tracing".into(),
                "read but not used: Pharos does not send traces of its own".into(),
            ));
        }
        for (key, reason) in config.global.alertmanager.unused_keys() {
            config.warnings.push(error_at(
                &text,
                path,
                format!("global.{key}"),
                format!("read but not used: {reason}"),
            ));
        }
        Ok(config)
    }
}
