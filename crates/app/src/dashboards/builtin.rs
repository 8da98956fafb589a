//! The dashboards every Pharos shows without configuration, embedded in the binary: the
//! host (`node_*`, read from `/proc` by the scrape crate's `host.rs`), Pharos itself (its
//! own `/metrics`, scraped as `job="pharos"`), probes (`probe_*` and `monitor_up`, written
//! by every check), error tracking (`pharos_error_events_total` & co.) and logs
//! (`pharos_log_lines_total` & co.).
//!
//! They are read-only: a dashboard from the config or an upload with the same id is shown
//! instead ([`super::DashboardSet::list`]), and `builtin_dashboards: false` in
//! `pharos.yaml` hides them all. Every expression uses only series Pharos writes itself;
//! `crates/pharos/tests/builtin_dashboards.rs` checks that the host and Pharos ones
//! answer on a fresh install.

use super::{Dashboard, DashboardError, Source};

/// (file name, YAML), in the order the list shows them.
pub const FILES: [(&str, &str); 5] = [
    ("host.yaml", include_str!("builtin/host.yaml")),
    ("pharos.yaml", include_str!("builtin/pharos.yaml")),
    ("probes.yaml", include_str!("builtin/probes.yaml")),
    ("errors.yaml", include_str!("builtin/errors.yaml")),
    ("logs.yaml", include_str!("builtin/logs.yaml")),
];

/// Parses one built-in file, naming it in the error.
fn parse_one(name: &str, text: &str) -> Result<Dashboard, DashboardError> {
    let mut d = super::parse(text, name.trim_end_matches(".yaml"), Source::Builtin)
        .map_err(|e| e.in_file(std::path::Path::new(name)))?;
    d.source = Source::Builtin;
    Ok(d)
}

/// Every built-in dashboard. One that does not parse (which the tests rule out) is
/// logged and left out rather than stopping Pharos.
pub fn all() -> Vec<Dashboard> {
    FILES
        .iter()
        .filter_map(|(name, text)| match parse_one(name, text) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(operation = "dashboards_builtin", error = %e, "built-in dashboard not loaded");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsing checks every expression with the PromQL parser (with `$__rate_interval`
    /// and `$__range` filled in), so this also covers every query.
    #[test]
    fn every_builtin_dashboard_and_expression_parses() {
        let mut ids = Vec::new();
        for (name, text) in FILES {
            let d = parse_one(name, text).unwrap_or_else(|e| panic!("{e}"));
            assert!(super::super::valid_id(&d.id), "{name}: id {:?}", d.id);
            assert!(d.id.starts_with("pharos-"), "{name}: {}", d.id);
            assert!(!ids.contains(&d.id), "{name}: id {} used twice", d.id);
            ids.push(d.id.clone());
            let panels: Vec<_> = d.rows.iter().flat_map(|r| &r.panels).collect();
            assert!(!panels.is_empty(), "{name} has no panels");
            for p in panels {
                assert!(!p.targets.is_empty(), "{name}: {:?} has no query", p.title);
                for t in &p.targets {
                    let ctx =
                        super::super::variables::Context::new(&d.variables, &[], 3_600_000, 15_000);
                    let expr = super::super::variables::expand(&t.expr, &ctx);
                    pharos_promql::parse(&expr)
                        .unwrap_or_else(|e| panic!("{name}: {:?}: {expr}: {e:?}", p.title));
                }
            }
        }
        assert_eq!(all().len(), FILES.len());
    }
}
