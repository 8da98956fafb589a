//! Checks across sections, run once the whole file is read: routes name receivers and
//! time intervals, routes name escalation policies, policies name receivers and on-call
//! schedules. An error points at the deepest part of its path found in the file.

use std::path::Path;

use pharos_notify::dispatch::{InhibitRuleConfig, NamedTimeIntervalConfig, RouteConfig, Routing};

use super::locate::locate;
use super::{Config, ConfigError};

/// Resolves the routing sections (references across sections are checked here, once all
/// are read) and keeps them as Alertmanager's YAML for `GET /api/v2/status`.
pub(super) fn checked_routing(
    config: &Config,
    text: &str,
    path: &Path,
) -> Result<Routing, ConfigError> {
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
pub(super) fn checked_incidents(
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
