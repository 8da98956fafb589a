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

/// `web.status_page` (the older form) and `web.status_pages` are not both used; a
/// component whose monitor is not in `monitors:` is a warning, not an error, as a monitor
/// made through the API may have that id (the page leaves it out until one does).
pub(super) fn checked_status_pages(
    config: &Config,
    text: &str,
    path: &Path,
) -> Result<Vec<ConfigError>, ConfigError> {
    let web = &config.web;
    let legacy_used = !web.status_page.monitors.is_empty()
        || web.status_page.title != pharos_model::status_page::default_title();
    if !web.status_pages.is_empty() && legacy_used {
        return Err(super::error_at(
            text,
            path,
            "web.status_page".into(),
            "use `web.status_pages` or the older `web.status_page`, not both: move its monitors into a page of `status_pages`".into(),
        ));
    }
    // `/` on a page's host is the page: Pharos's own host would lose its overview.
    let own_host = web
        .external_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    for (p, page) in web.status_pages.iter().enumerate() {
        for (h, host) in page.hosts.iter().enumerate() {
            if own_host.as_deref() == Some(host.as_str()) {
                return Err(at_deepest(
                    text,
                    path,
                    format!("web.status_pages[{p}].hosts[{h}]"),
                    format!(
                        "{host:?} is the host of `web.external_url`, where `/` is Pharos's overview; give the status page a host of its own"
                    ),
                ));
            }
        }
    }
    let known = |id: &pharos_model::MonitorId| config.monitors.iter().any(|m| &m.id == id);
    let warn = |field: String, id: &pharos_model::MonitorId| {
        at_deepest(
            text,
            path,
            field,
            format!(
                "no monitor {:?} in `monitors:`; the page leaves this component out until a monitor with this id exists (made through the API)",
                id.as_str()
            ),
        )
    };
    let mut warnings = Vec::new();
    for (i, id) in web.status_page.monitors.iter().enumerate() {
        if !known(id) {
            warnings.push(warn(format!("web.status_page.monitors[{i}]"), id));
        }
    }
    for (p, page) in web.status_pages.iter().enumerate() {
        // Sections are the ungrouped components (if any), then the groups in order.
        let mut group = 0;
        for section in &page.sections {
            let prefix = match &section.group {
                None => format!("web.status_pages[{p}].components"),
                Some(_) => {
                    group += 1;
                    format!("web.status_pages[{p}].groups[{}].components", group - 1)
                }
            };
            for (c, component) in section.components.iter().enumerate() {
                if !known(&component.monitor) {
                    warnings.push(warn(format!("{prefix}[{c}].monitor"), &component.monitor));
                }
            }
        }
    }
    Ok(warnings)
}

/// A warning per field of `global:` and `scrape_configs` that Pharos reads (so a
/// `prometheus.yml` pastes as it is) but does not act on, at the field's line.
pub(super) fn ignored_scrape_fields(config: &Config, text: &str, path: &Path) -> Vec<ConfigError> {
    let global = config
        .global
        .ignored_fields()
        .into_iter()
        .map(|f| (format!("global.{}", f.field), f.reason));
    let jobs = config
        .scrape_configs
        .iter()
        .enumerate()
        .flat_map(|(i, job)| {
            job.ignored_fields()
                .into_iter()
                .map(move |f| (format!("scrape_configs[{i}].{}", f.field), f.reason))
        });
    global
        .chain(jobs)
        .map(|(field, reason)| {
            at_deepest(text, path, field, format!("read but not used: {reason}"))
        })
        .collect()
}

/// An error about `field` at the line of the deepest part of its path in the file: an item
/// of a flow-style list (`[a, b]`) has no line of its own, so its list's key stands in.
pub(super) fn at_deepest(text: &str, path: &Path, field: String, message: String) -> ConfigError {
    let mut at = locate(text, &field);
    let mut key = field.as_str();
    while at.is_none() {
        key = match key
            .strip_suffix(']')
            .and_then(|f| f.rfind('[').map(|i| &f[..i]))
        {
            Some(list) => list,
            None => match key.rsplit_once('.') {
                Some((head, _)) => head,
                None => break,
            },
        };
        at = locate(text, key);
    }
    ConfigError {
        file: path.to_path_buf(),
        line: at.map(|a| a.0),
        column: at.map(|a| a.1),
        field: Some(field.clone()),
        message,
    }
}
