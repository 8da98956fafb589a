//! A Prometheus config: `global`, `scrape_configs` and `rule_files` are Pharos's own
//! sections in Prometheus's shape and are carried as they are; the rest is named.

use serde_norway::Mapping;

use super::Imported;

pub fn convert(text: &str) -> Result<Imported, String> {
    let config: Mapping =
        serde_norway::from_str(text).map_err(|e| format!("not a Prometheus config (YAML): {e}"))?;
    let mut out = Imported::default();
    for (key, value) in config {
        let name = key.as_str().unwrap_or_default().to_string();
        match name.as_str() {
            "global" | "scrape_configs" | "rule_files" => out.section(&name, value),
            "alerting" => out.not_carried(
                "alerting: Pharos routes its rules' alerts itself (route: and receivers:, or `pharos import alertmanager`)",
            ),
            "remote_write" | "remote_read" => out.not_carried(format!(
                "{name}: Pharos receives remote_write but does not send it"
            )),
            "storage" | "tracing" | "otlp" | "runtime" => out.not_carried(format!(
                "{name}: see metrics: in pharos.yaml for the store's settings"
            )),
            other => out.not_carried(format!("{other}: no such section in Pharos")),
        }
    }
    if out.sections.contains_key("rule_files") {
        out.notes
            .push("rule_files: the paths are read relative to the written config".into());
    }
    Ok(out)
}
