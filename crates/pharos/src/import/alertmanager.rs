//! An Alertmanager config: Pharos reads `global` (beside Prometheus's keys), `route`,
//! `receivers`, `inhibit_rules`, `time_intervals` and `templates` as Alertmanager writes
//! them, so they are carried as they are; what Pharos has no place for is named.

use serde_norway::Mapping;

use super::Imported;

/// Sections Pharos reads in Alertmanager's own shape.
const CARRIED: [&str; 7] = [
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "templates",
];

pub fn convert(text: &str) -> Result<Imported, String> {
    let config: Mapping = serde_norway::from_str(text)
        .map_err(|e| format!("not an Alertmanager config (YAML): {e}"))?;
    let mut out = Imported::default();
    for (key, value) in config {
        let name = key.as_str().unwrap_or_default().to_string();
        if CARRIED.contains(&name.as_str()) {
            out.section(&name, value);
        } else {
            out.not_carried(format!("{name}: no such section in Pharos"));
        }
    }
    if out.sections.contains_key("templates") {
        out.notes
            .push("templates: the paths are read relative to the written config".into());
    }
    Ok(out)
}
