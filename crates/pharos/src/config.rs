//! `pharos.yaml`: what the user typed, parsed once into checked types. `${ENV_VAR}` is
//! replaced before parsing, on the same line, so every error still points at the line and
//! column the user wrote, with the path of the field at fault.

use std::collections::HashSet;
use std::path::Path;

use pharos_ingest::sentry::{ScrubConfig, Scrubber};
use pharos_model::maintenance::MaintenanceWindow;
use pharos_model::project::ProjectSpec;
use pharos_model::{HumanDuration, MonitorSpec};
use pharos_notify::ReceiverConfig;
use pharos_notify::dispatch::{InhibitRuleConfig, NamedTimeIntervalConfig, RouteConfig, Routing};
use pharos_scrape::config::{ByteSize, GlobalConfig, ScrapeConfig, deserialize_scrape_configs};
use pharos_web::WebSettings;
use serde::{Deserialize, Deserializer};

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
    #[serde(default, deserialize_with = "unique_receivers")]
    pub receivers: Vec<ReceiverConfig>,
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
    /// Prometheus's `global:` section (scrape interval and timeout defaults).
    #[serde(default)]
    pub global: GlobalConfig,
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
    /// What those files hold, read by [`Config::load`].
    #[serde(skip)]
    pub loaded_dashboards: Vec<pharos_app::dashboards::Dashboard>,
    /// Prometheus rule files (alerting and recording rules), relative to this file; globs
    /// allowed. Read again on every reload; a bad file refuses the whole config.
    #[serde(default, deserialize_with = "checked_rule_file_patterns")]
    pub rule_files: Vec<String>,
    /// The groups of those files, read by [`Config::load`].
    #[serde(skip)]
    pub loaded_rules: Vec<pharos_evaluate::rules::RuleGroupSpec>,
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
    /// Log collection, storage, retention and log rules.
    #[serde(default)]
    pub logs: LogsConfig,
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

fn checked_log_rules<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<pharos_evaluate::log_rules::LogRuleSpec>, D::Error> {
    let specs = Vec::<pharos_evaluate::log_rules::LogRuleSpec>::deserialize(d)?;
    pharos_evaluate::log_rules::validate_rules(&specs).map_err(serde::de::Error::custom)?;
    Ok(specs)
}

fn checked_rule_file_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let patterns = Vec::<String>::deserialize(d)?;
    for p in &patterns {
        pharos_evaluate::rules::file::check_pattern(p).map_err(serde::de::Error::custom)?;
    }
    Ok(patterns)
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

fn unique_monitors<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MonitorSpec>, D::Error> {
    let monitors = Vec::<MonitorSpec>::deserialize(d)?;
    let mut seen = HashSet::new();
    for m in &monitors {
        if !seen.insert(m.id.clone()) {
            return Err(serde::de::Error::custom(format!(
                "two monitors have the id {:?}; give one of them a different `id:` or name",
                m.id.as_str()
            )));
        }
    }
    Ok(monitors)
}

fn unique_receivers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ReceiverConfig>, D::Error> {
    let receivers = Vec::<ReceiverConfig>::deserialize(d)?;
    let mut seen = HashSet::new();
    for r in &receivers {
        if !seen.insert(r.name.clone()) {
            return Err(serde::de::Error::custom(format!(
                "two receivers are named {:?}",
                r.name
            )));
        }
        // A receiver without integrations is allowed, as in Alertmanager: routing an
        // alert there records it without telling anyone ("warning → log only").
    }
    Ok(receivers)
}

fn checked_projects<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ProjectSpec>, D::Error> {
    let projects = Vec::<ProjectSpec>::deserialize(d)?;
    let (mut ids, mut names, mut keys) = (HashSet::new(), HashSet::new(), HashSet::new());
    for p in &projects {
        p.validate()
            .map_err(|e| serde::de::Error::custom(format!("project {:?}: {e}", p.name)))?;
        if !ids.insert(p.id) {
            return Err(serde::de::Error::custom(format!(
                "two projects have the id {}",
                p.id
            )));
        }
        if !names.insert(p.name.clone()) {
            return Err(serde::de::Error::custom(format!(
                "two projects are named {:?}",
                p.name
            )));
        }
        for k in &p.keys {
            if !keys.insert(k.key().to_string()) {
                return Err(serde::de::Error::custom(format!(
                    "project {:?}: a key is listed twice (keys belong to one project)",
                    p.name
                )));
            }
        }
    }
    Ok(projects)
}

fn checked_dashboard_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let patterns = Vec::<String>::deserialize(d)?;
    for p in &patterns {
        pharos_app::dashboards::check_pattern(p).map_err(serde::de::Error::custom)?;
    }
    Ok(patterns)
}

fn checked_scrubbing<'de, D: Deserializer<'de>>(d: D) -> Result<ScrubConfig, D::Error> {
    let config = ScrubConfig::deserialize(d)?;
    Scrubber::new(&config).map_err(serde::de::Error::custom)?;
    Ok(config)
}

fn checked_maintenance<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<MaintenanceWindow>, D::Error> {
    let windows = Vec::<MaintenanceWindow>::deserialize(d)?;
    for w in &windows {
        w.validate()
            .map_err(|e| serde::de::Error::custom(format!("maintenance {:?}: {e}", w.name)))?;
    }
    Ok(windows)
}

/// A config error with where it is: `pharos.yaml:12:7: monitors[2].http.timeout: ...`.
pub type ConfigError = pharos_model::yaml::FileError;

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
            .map_err(|message| ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                field: Some("scrape_configs".into()),
                message,
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
                    let field = format!("rule_files[{index}]");
                    let (line, column) =
                        locate(&text, &field).map_or((None, None), |(l, c)| (Some(l), Some(c)));
                    ConfigError {
                        file: path.to_path_buf(),
                        line,
                        column,
                        field: Some(field),
                        message,
                    }
                }
                pharos_evaluate::rules::RuleFilesError::File(e) => e,
            })?;
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
        config.routing = checked_routing(&config, &text, path)?;
        config.incidents = checked_incidents(&config, &text, path)?;
        Ok(config)
    }
}

/// Resolves the routing sections (references across sections are checked here, once all
/// are read) and keeps them as Alertmanager's YAML for `GET /api/v2/status`.
fn checked_routing(config: &Config, text: &str, path: &Path) -> Result<Routing, ConfigError> {
    let receivers: Vec<String> = config.receivers.iter().map(|r| r.name.clone()).collect();
    let mut routing = Routing::from_config(
        config.route.as_ref(),
        &config.inhibit_rules,
        &config.time_intervals,
        &config.mute_time_intervals,
        &receivers,
    )
    .map_err(|e| {
        // The deepest part of the path that is in the file (a matcher list item is).
        let mut field = e.field.as_str();
        let mut at = locate(text, field);
        while at.is_none() && field.contains('.') {
            field = field.rsplit_once('.').map_or(field, |(head, _)| head);
            at = locate(text, field);
        }
        ConfigError {
            file: path.to_path_buf(),
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            field: Some(e.field.clone()),
            message: e.message,
        }
    })?;
    routing.original = alertmanager_yaml(config, &receivers);
    Ok(routing)
}

/// Escalation policies, on-call schedules and runbooks, checked against each other and
/// the receivers; the error points at the deepest part of its path found in the file.
fn checked_incidents(
    config: &Config,
    text: &str,
    path: &Path,
) -> Result<pharos_notify::incidents::IncidentSettings, ConfigError> {
    let receivers: Vec<String> = config.receivers.iter().map(|r| r.name.clone()).collect();
    let fail = |e: pharos_notify::incidents::IncidentConfigError| {
        // The deepest part of the path in the file: an item of a flow-style list
        // (`[a, b]`) has no line of its own, so its list's key stands in.
        let mut field = e.field.as_str();
        let mut at = locate(text, field);
        while at.is_none() {
            field = match field
                .strip_suffix(']')
                .and_then(|f| f.rfind('[').map(|i| &f[..i]))
            {
                Some(list) => list,
                None => match field.rsplit_once('.') {
                    Some((head, _)) => head,
                    None => break,
                },
            };
            at = locate(text, field);
        }
        ConfigError {
            file: path.to_path_buf(),
            line: at.map(|a| a.0),
            column: at.map(|a| a.1),
            field: Some(e.field.clone()),
            message: e.message,
        }
    };
    let settings = pharos_notify::incidents::IncidentSettings::from_config(
        &config.escalation_policies,
        &config.oncall,
        &config.runbooks,
        config.runbooks_dir.as_deref(),
        path.parent().unwrap_or(Path::new("")),
        &receivers,
    )
    .map_err(fail)?;
    // Every route's `escalation:` names a policy.
    let mut routes = vec![("route".to_string(), config.route.as_ref())];
    while let Some((field, Some(route))) = routes.pop() {
        if let Some(name) = &route.escalation
            && !settings.policies.contains_key(name)
        {
            return Err(fail(pharos_notify::incidents::IncidentConfigError {
                field: format!("{field}.escalation"),
                message: format!(
                    "escalation policy {name:?} is not defined in `escalation_policies`"
                ),
            }));
        }
        for (i, child) in route.routes.iter().enumerate() {
            routes.push((format!("{field}.routes[{i}]"), Some(child)));
        }
    }
    Ok(settings)
}

/// The routing sections as an `alertmanager.yml` (receivers by name only, no secrets), so
/// `amtool config routes` reads what Pharos routes by.
fn alertmanager_yaml(config: &Config, receivers: &[String]) -> String {
    #[derive(serde::Serialize)]
    struct Named<'a> {
        name: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Original<'a> {
        route: RouteConfig,
        receivers: Vec<Named<'a>>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        inhibit_rules: &'a [InhibitRuleConfig],
        #[serde(skip_serializing_if = "Vec::is_empty")]
        time_intervals: Vec<NamedTimeIntervalConfig>,
    }
    let route = config
        .route
        .clone()
        .unwrap_or_else(|| RouteConfig::every_receiver(receivers));
    let original = Original {
        route,
        receivers: receivers.iter().map(|n| Named { name: n }).collect(),
        inhibit_rules: &config.inhibit_rules,
        time_intervals: config
            .time_intervals
            .iter()
            .chain(&config.mute_time_intervals)
            .cloned()
            .collect(),
    };
    serde_norway::to_string(&original).unwrap_or_default()
}

/// The 1-based line and column of the key at `path` (`monitors[2].http.timeout`) in a
/// block-style YAML document; `None` where the document is written otherwise.
fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    // A `- key: value` line holds the first key of its item after the dash.
    let content = |i: usize, item_line: Option<usize>| -> Option<(usize, &str)> {
        let l = lines[i];
        let body = l.trim_start();
        if body.is_empty() || body.starts_with('#') {
            return None;
        }
        let lead = l.len() - body.len();
        match (item_line == Some(i), body.strip_prefix("- ")) {
            (true, Some(rest)) => Some((
                lead + 2 + (rest.len() - rest.trim_start().len()),
                rest.trim_start(),
            )),
            _ => Some((lead, body)),
        }
    };
    let mut item_line: Option<usize> = None;
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((k, i)) => (k, Some(i.trim_end_matches(']').parse::<usize>().ok()?)),
            None => (segment, None),
        };
        let mut indent = None;
        let mut hit = None;
        for i in start..lines.len() {
            let Some((lead, body)) = content(i, item_line) else {
                continue;
            };
            let block_indent = match indent {
                Some(x) => x,
                None => {
                    if parent_indent.is_some_and(|p| lead <= p) {
                        break;
                    }
                    *indent.insert(lead)
                }
            };
            if lead < block_indent {
                break;
            }
            if lead == block_indent
                && body
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with(':'))
            {
                hit = Some((i, lead));
                break;
            }
        }
        let (i, lead) = hit?;
        found = Some((i + 1, lead + 1));
        parent_indent = Some(lead);
        start = i + 1;
        item_line = None;
        if let Some(n) = index {
            let mut seen = 0;
            let mut item_indent = None;
            let mut hit = None;
            for j in start..lines.len() {
                let Some((lead_j, body)) = content(j, None) else {
                    continue;
                };
                let ii = *item_indent.get_or_insert(lead_j);
                if lead_j < ii || (lead_j == ii && !body.starts_with("- ")) {
                    break;
                }
                if lead_j == ii {
                    if seen == n {
                        hit = Some((j, lead_j));
                        break;
                    }
                    seen += 1;
                }
            }
            let (j, lead_j) = hit?;
            found = Some((j + 1, lead_j + 1));
            parent_indent = Some(lead_j);
            start = j;
            item_line = Some(j);
        }
    }
    found
}

/// Replaces `${NAME}` with the environment variable's value; `$${` stays a literal `${`.
/// An unset variable is an error at its position, so a missing secret is never sent empty.
fn substitute_env(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        // Comment lines may mention ${VAR} in prose; only values are expanded.
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        let mut col = 1;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            if after.starts_with("$${") {
                out.push_str("${");
                rest = &after[3..];
                col += i + 3;
                continue;
            }
            if let Some(body) = after.strip_prefix("${") {
                let Some(end) = body.find('}') else {
                    return Err(env_error(
                        path,
                        line_no,
                        col + i,
                        "unclosed ${ ... }".into(),
                    ));
                };
                let name = &body[..end];
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(env_error(
                        path,
                        line_no,
                        col + i,
                        format!("${{{name}}} is not an environment variable name"),
                    ));
                }
                match env(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        return Err(env_error(
                            path,
                            line_no,
                            col + i,
                            format!("environment variable {name} is not set"),
                        ));
                    }
                }
                rest = &body[end + 1..];
                col += i + 3 + end;
            } else {
                out.push('$');
                rest = &after[1..];
                col += i + 1;
            }
        }
        out.push_str(rest);
    }
    Ok(out)
}

fn env_error(path: &Path, line_no: usize, column: usize, message: String) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line: Some(line_no + 1),
        column: Some(column),
        field: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("pharos.yaml"), &|n| {
            (n == "TOKEN").then(|| "s3cret".to_string())
        })
    }

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pharos.example.yaml");
        let text =
            std::fs::read_to_string(&path).expect("pharos.example.yaml at the repository root");
        let env = |_: &str| Some("example-secret".to_string());
        let config = Config::parse(&text, &path, &env).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            config.monitors.len() >= 4,
            "the example shows every kind of monitor"
        );
        assert!(!config.receivers.is_empty());
        assert_eq!(config.projects[0].keys.len(), 2);
        assert!(config.projects[0].alerts.transaction_p95.is_some());
        assert_eq!(config.scrubbing.patterns.len(), 1);
    }

    /// Regression: errors inside a scrape job named only `scrape_configs` at line 1.
    #[test]
    fn scrape_job_errors_name_the_job_field_and_its_line() {
        let e = parse("scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_protocols: [OpenMetricsText9]\n").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(4), Some("scrape_configs[1].scrape_protocols[0]")),
            "{e}"
        );
        let e = parse("scrape_configs:\n  - job_name: a\n    scrape_interval: soon\n").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(3), Some("scrape_configs[0].scrape_interval")),
            "{e}"
        );
        let c = parse("scrape_configs:\n  - job_name: a\n    scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]\n").unwrap();
        assert_eq!(c.scrape_configs.len(), 1);
    }

    #[test]
    fn project_errors_name_the_field() {
        let e = parse("projects:\n  - id: 1\n    name: bot\n    rate_limit: lots\n").unwrap_err();
        assert!(e.to_string().contains("projects[0].rate_limit"), "{e}");
        let e = parse("projects:\n  - {id: 1, name: a}\n  - {id: 1, name: b}\n").unwrap_err();
        assert!(e.to_string().contains("two projects have the id 1"), "{e}");
        let e = parse("projects:\n  - {id: 1, name: a, keys: ['bad key!']}\n").unwrap_err();
        assert!(e.to_string().contains("keys[0]"), "{e}");
        let e = parse("scrubbing:\n  patterns: ['(']\n").unwrap_err();
        assert!(e.to_string().contains("scrubbing"), "{e}");
    }

    #[test]
    fn dashboard_errors_name_file_line_and_field() {
        let dir = std::env::temp_dir().join(format!("pharos-config-dash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ok.yaml"), "title: Fine\n").unwrap();
        std::fs::write(
            dir.join("bad.yaml"),
            "title: Bad\nrows:\n  - panels:\n      - expr: 'sum(up'\n",
        )
        .unwrap();
        let cfg = dir.join("pharos.yaml");
        std::fs::write(&cfg, "dashboards:\n  - ok.yaml\n").unwrap();
        let c = Config::load(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.loaded_dashboards[0].id, "fine");
        std::fs::write(&cfg, "dashboards:\n  - ok.yaml\n  - bad.yaml\n").unwrap();
        let e = Config::load(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("bad.yaml:4:") && e.contains("rows[0].panels[0].expr"),
            "{e}"
        );
        std::fs::write(&cfg, "dashboards:\n  - ok.yaml\n  - gone.yaml\n").unwrap();
        let e = Config::load(&cfg).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(3), Some("dashboards[1]")),
            "{e}"
        );
        let e = parse("dashboards: [dashboards/*.txt]\n").unwrap_err();
        assert!(e.to_string().contains("dashboards"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn routing_errors_name_line_and_field() {
        let receivers = "receivers:\n  - name: ops\n    webhook_configs: [{url: 'http://x/'}]\n";
        let e = parse(&format!("{receivers}route:\n  receiver: ops\n  routes:\n    - matchers: ['a=\"b\"']\n      receiver: pager\n")).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(8), Some("route.routes[0].receiver")),
            "{e}"
        );
        assert!(e.to_string().contains("\"pager\" is not defined"), "{e}");
        let c = parse(&format!(
            "{receivers}route:\n  receiver: ops\n  group_by: ['...']\n"
        ))
        .unwrap();
        assert!(
            c.routing.original.contains("receiver: ops"),
            "{}",
            c.routing.original
        );
        let c = parse(receivers).unwrap();
        assert_eq!(c.routing.receivers_for(&Default::default()), ["ops"]);
    }

    #[test]
    fn empty_file_is_default() {
        let c = parse("# nothing yet\n").unwrap();
        assert!(c.monitors.is_empty());
    }

    #[test]
    fn env_substitution_keeps_positions() {
        let c = parse("monitors:\n  - name: api\n    http:\n      url: https://example.com/\n      headers:\n        Authorization: \"Bearer ${TOKEN}\"\n").unwrap();
        let pharos_model::MonitorCheck::Http(h) = &c.monitors[0].check else {
            panic!()
        };
        assert_eq!(h.headers["Authorization"], "Bearer s3cret");
        let e = parse("monitors:\n  - name: api\n    http:\n      url: ${MISSING}\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(4), Some(12)));
        assert!(e.to_string().contains("MISSING is not set"), "{e}");
        assert_eq!(
            substitute_env("a: $${X} $5", Path::new("f"), &|_| None).unwrap(),
            "a: ${X} $5"
        );
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let e = parse("monitors:\n  - name: api\n    http:\n      url: https://example.com/\n      timeout: soon\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(5), Some(7)), "{e}");
        assert!(
            e.field
                .as_deref()
                .unwrap_or("")
                .contains("monitors[0].http.timeout"),
            "{e}"
        );
        let e = parse("monitors:\n  - name: api\n    interval: 0s\n    http:\n      url: https://example.com/\n").unwrap_err();
        assert!(e.to_string().contains("interval"), "{e}");
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse("monitors:\n  - name: a\n    tcp: {address: 'x:1'}\n  - name: b\n    heartbeat:\n      period: 1m\n      token: 'ab'\n").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.field.as_deref()),
            (Some(7), Some(7), Some("monitors[1].heartbeat.token")),
            "{e}"
        );
        let e = parse("monitor:\n  - name: api\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `monitor`"), "{e}");
        let e = parse("monitors:\n  - name: api\n    http:\n      url: not a url\n").unwrap_err();
        assert!(e.field.as_deref().unwrap_or("").contains("url"), "{e}");
        let e = parse("monitors:\n  - name: a\n    tcp: {address: 'x:1'}\n  - name: a\n    tcp: {address: 'x:2'}\n").unwrap_err();
        assert!(e.to_string().contains("two monitors"), "{e}");
    }
}
