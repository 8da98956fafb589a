//! Checks of one section, run as it is deserialised (`deserialize_with`), so a bad value
//! fails with serde's path to it and the line and column it is on.

use std::collections::HashSet;

use pharos_ingest::sentry::{ScrubConfig, Scrubber};
use pharos_model::MonitorSpec;
use pharos_model::maintenance::MaintenanceWindow;
use pharos_model::project::ProjectSpec;
use pharos_notify::ReceiverConfig;
use pharos_notify::alertmanager_global::AlertmanagerGlobal;
use serde::{Deserialize, Deserializer};

pub(super) fn checked_log_rules<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<pharos_evaluate::log_rules::LogRuleSpec>, D::Error> {
    let specs = Vec::<pharos_evaluate::log_rules::LogRuleSpec>::deserialize(d)?;
    pharos_evaluate::log_rules::validate_rules(&specs).map_err(serde::de::Error::custom)?;
    Ok(specs)
}

pub(super) fn checked_rule_file_patterns<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    let patterns = Vec::<String>::deserialize(d)?;
    for p in &patterns {
        pharos_evaluate::rules::file::check_pattern(p).map_err(serde::de::Error::custom)?;
    }
    Ok(patterns)
}

pub(super) fn checked_template_patterns<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    let patterns = Vec::<String>::deserialize(d)?;
    for p in &patterns {
        pharos_notify::template_files::check_pattern(p).map_err(serde::de::Error::custom)?;
    }
    Ok(patterns)
}

pub(super) fn unique_monitors<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<MonitorSpec>, D::Error> {
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

/// The path of a value read from plain YAML values (`email_configs[0]`, or `.` for the
/// root), ending at the key itself when the error is about an unknown one, so that its
/// line is found; empty for the root.
pub(super) fn path_with_unknown_field(path: &str, message: &str) -> String {
    let path = if path == "." { "" } else { path };
    match message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split_once('`'))
    {
        // serde_path_to_error's path may already end at the key.
        Some((key, _)) if path == key || path.ends_with(&format!(".{key}")) => path.to_string(),
        Some((key, _)) if path.is_empty() => key.to_string(),
        Some((key, _)) => format!("{path}.{key}"),
        None => path.to_string(),
    }
}

/// Reads `receivers:` as written, each after `global`'s Alertmanager defaults are filled
/// in (a receiver's own field wins); names must be unique. An error points at the field.
pub(super) fn checked_receivers(
    written: &[serde_norway::Value],
    global: &AlertmanagerGlobal,
    text: &str,
    path: &std::path::Path,
) -> Result<Vec<ReceiverConfig>, super::ConfigError> {
    let mut receivers = Vec::with_capacity(written.len());
    let mut seen = HashSet::new();
    for (i, r) in written.iter().enumerate() {
        let mut r = r.clone();
        global.apply(&mut r);
        let receiver: ReceiverConfig = serde_path_to_error::deserialize(r).map_err(|e| {
            let at = path_with_unknown_field(&e.path().to_string(), &e.inner().to_string());
            let mut message = e.into_inner().to_string();
            // `missing field `from`` in `email_configs[0]`: say which global key sets it.
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'))
                && let Some(list) = at.rsplit('.').next().and_then(|l| l.split('[').next())
                && let Some(key) = AlertmanagerGlobal::key_for(list, field)
            {
                message = format!("{message} (set it here, or `{key}` in `global:`)");
            }
            let field = if at.is_empty() {
                format!("receivers[{i}]")
            } else {
                format!("receivers[{i}].{at}")
            };
            super::cross_section::at_deepest(text, path, field, message)
        })?;
        if let Err((field, message)) = receiver.check() {
            return Err(super::cross_section::at_deepest(
                text,
                path,
                format!("receivers[{i}].{field}"),
                message,
            ));
        }
        if !seen.insert(receiver.name.clone()) {
            return Err(super::error_at(
                text,
                path,
                format!("receivers[{i}].name"),
                format!("two receivers are named {:?}", receiver.name),
            ));
        }
        // A receiver without integrations is allowed, as in Alertmanager: routing an
        // alert there records it without telling anyone ("warning → log only").
        receivers.push(receiver);
    }
    Ok(receivers)
}

pub(super) fn checked_projects<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ProjectSpec>, D::Error> {
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

pub(super) fn checked_dashboard_patterns<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    let patterns = Vec::<String>::deserialize(d)?;
    for p in &patterns {
        pharos_app::dashboards::check_pattern(p).map_err(serde::de::Error::custom)?;
    }
    Ok(patterns)
}

pub(super) fn checked_scrubbing<'de, D: Deserializer<'de>>(d: D) -> Result<ScrubConfig, D::Error> {
    let config = ScrubConfig::deserialize(d)?;
    Scrubber::new(&config).map_err(serde::de::Error::custom)?;
    Ok(config)
}

pub(super) fn checked_maintenance<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<MaintenanceWindow>, D::Error> {
    let windows = Vec::<MaintenanceWindow>::deserialize(d)?;
    for w in &windows {
        w.validate()
            .map_err(|e| serde::de::Error::custom(format!("maintenance {:?}: {e}", w.name)))?;
    }
    Ok(windows)
}

/// A duration that must not be zero (a zero query timeout would fail every query).
pub(super) fn positive_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<pharos_model::HumanDuration, D::Error> {
    let v = pharos_model::HumanDuration::deserialize(d)?;
    if v.as_duration().is_zero() {
        return Err(serde::de::Error::custom("must be more than 0s"));
    }
    Ok(v)
}

/// SLOs with unique names, each checked on its own (`slos[1].objective: …`); their
/// selectors are checked as PromQL when their rules are made (`Config::load`).
pub(super) fn checked_slos<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<pharos_model::slo::SloSpec>, D::Error> {
    let slos = Vec::<pharos_model::slo::SloSpec>::deserialize(d)?;
    let mut seen = HashSet::new();
    for (i, s) in slos.iter().enumerate() {
        s.validate()
            .map_err(|e| serde::de::Error::custom(format!("[{i}].{e}")))?;
        if !seen.insert(s.name.as_str()) {
            return Err(serde::de::Error::custom(format!(
                "[{i}].name: another SLO is named {:?}",
                s.name
            )));
        }
    }
    Ok(slos)
}
