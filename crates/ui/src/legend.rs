//! What a series is called in a chart's legend and tooltips, and the legend itself.
//!
//! - With a legend format (Grafana's `{{label}}`), that, as Grafana does.
//! - Without one, only the labels whose values differ between the query's series
//!   (`{mode="idle"}` rather than `node_cpu_seconds_total{cpu="0", instance="vm", …}`),
//!   as Grafana does; the full label set stays in the legend entry's tooltip.
//! - A series with no labels at all (`sum(rate(x[5m]))`) is called by its query, never
//!   `{}`.
//!
//! The legend shows the first [`VISIBLE`] entries; the rest fold away behind "and N more".

use maud::{Markup, html};
use pharos_model::series::LabelSet;
use pharos_promql::QueryValue;

use super::chart::{Line, color};
use super::metrics::series_label;
use super::units;

/// Legend entries shown before "and N more".
pub const VISIBLE: usize = 8;

/// Characters of a query used as a name before it is cut with "…".
const MAX_QUERY_NAME: usize = 100;

/// A query as a series' name: whitespace collapsed, cut when long.
pub fn query_name(expr: &str) -> String {
    let compact = expr.split_whitespace().collect::<Vec<_>>().join(" ");
    if compact.chars().count() > MAX_QUERY_NAME {
        let cut: String = compact.chars().take(MAX_QUERY_NAME - 1).collect();
        format!("{cut}…")
    } else {
        compact
    }
}

/// The full name of one series, for tooltips: its label set, or its query when it has
/// no labels.
pub fn full_name(labels: &LabelSet, expr: &str) -> String {
    if labels.is_empty() {
        query_name(expr)
    } else {
        labels.to_string()
    }
}

/// The legend names of a query's series, in order (see the module doc).
pub fn names(sets: &[&LabelSet], legend: Option<&str>, expr: &str) -> Vec<String> {
    let format = legend.filter(|f| !f.trim().is_empty());
    let varying: Vec<&str> = if sets.len() > 1 {
        let mut names: Vec<&str> = sets
            .iter()
            .flat_map(|s| s.iter().map(|l| l.name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter(|n| sets.iter().any(|s| s.get(n) != sets[0].get(n)))
            .collect()
    } else {
        Vec::new()
    };
    sets.iter()
        .map(|s| {
            if let Some(f) = format {
                let named = series_label(s, Some(f));
                if !named.trim().is_empty() {
                    return named;
                }
            }
            if varying.is_empty() {
                return full_name(s, expr);
            }
            let only = LabelSet::new(
                s.iter()
                    .filter(|l| varying.contains(&l.name.as_str()))
                    .map(|l| (l.name.clone(), l.value.clone())),
            );
            if only.is_empty() {
                // This series lacks every label the others differ by.
                full_name(s, expr)
            } else {
                only.to_string()
            }
        })
        .collect()
}

/// A query's result as chart lines named by [`names`], with each line's full name.
pub fn lines_of(v: &QueryValue, legend: Option<&str>, expr: &str) -> (Vec<Line>, Vec<String>) {
    match v {
        QueryValue::Matrix(ms) => {
            let sets: Vec<&LabelSet> = ms.iter().map(|s| &s.labels).collect();
            let lines = names(&sets, legend, expr)
                .into_iter()
                .zip(ms)
                .map(|(label, s)| Line {
                    label,
                    points: s.samples.iter().map(|x| (x.t, x.v)).collect(),
                })
                .collect();
            (lines, sets.iter().map(|s| full_name(s, expr)).collect())
        }
        QueryValue::Vector(vs) => {
            let sets: Vec<&LabelSet> = vs.iter().map(|s| &s.labels).collect();
            let lines = names(&sets, legend, expr)
                .into_iter()
                .zip(vs)
                .map(|(label, s)| Line {
                    label,
                    points: vec![(s.sample.t, s.sample.v)],
                })
                .collect();
            (lines, sets.iter().map(|s| full_name(s, expr)).collect())
        }
        QueryValue::Scalar { t, v } => {
            let name = legend
                .filter(|f| !f.trim().is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| query_name(expr));
            (
                vec![Line {
                    label: name,
                    points: vec![(*t, *v)],
                }],
                vec![query_name(expr)],
            )
        }
        QueryValue::String { .. } => (Vec::new(), Vec::new()),
    }
}

/// The legend under a chart: a swatch, the name (the full name on hover) and the last
/// value of each line; after [`VISIBLE`] entries the rest fold behind "and N more".
pub fn legend(lines: &[Line], full: &[String], unit: &str, decimals: Option<u8>) -> Markup {
    let entry = |i: usize, l: &Line| {
        let title = full.get(i).unwrap_or(&l.label);
        html! {
            li title=(title) {
                span.swatch style={ "background:" (color(i)) } {}
                span.label { (l.label) }
                @if let Some(&(_, v)) = l.points.iter().rev().find(|p| p.1.is_finite()) {
                    span.last.muted { (units::format(unit, v, decimals)) }
                }
            }
        }
    };
    let (shown, rest) = lines.split_at(lines.len().min(VISIBLE));
    html! {
        ul.legend data-testid="legend" {
            @for (i, l) in shown.iter().enumerate() { (entry(i, l)) }
        }
        @if !rest.is_empty() {
            details.legend-more {
                summary.small { "and " (rest.len()) " more" }
                ul.legend.legend-rest {
                    @for (j, l) in rest.iter().enumerate() { (entry(VISIBLE + j, l)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::new(pairs.iter().copied())
    }

    #[test]
    fn an_aggregate_without_labels_is_named_by_its_query_not_braces() {
        let empty = set(&[]);
        let n = names(&[&empty], None, "sum(rate(x[5m]))");
        assert_eq!(n, ["sum(rate(x[5m]))"]);
        assert_eq!(
            names(&[&empty], Some("p95"), "histogram_quantile(0.95, …)"),
            ["p95"]
        );
        // Two aggregates from one target (say `a or b`) both keep the query.
        let n = names(&[&empty, &set(&[("mode", "user")])], None, "q");
        assert_eq!(n, ["q", "{mode=\"user\"}"]);
        let long = format!("sum({})", "x".repeat(200));
        assert!(query_name(&long).ends_with('…'));
        assert!(query_name("sum(\n  rate(x[5m])\n)") == "sum( rate(x[5m]) )");
    }

    #[test]
    fn only_the_labels_that_differ_are_shown() {
        let a = set(&[
            ("__name__", "node_cpu_seconds_total"),
            ("cpu", "0"),
            ("instance", "vm"),
            ("job", "node"),
            ("mode", "idle"),
        ]);
        let b = set(&[
            ("__name__", "node_cpu_seconds_total"),
            ("cpu", "0"),
            ("instance", "vm"),
            ("job", "node"),
            ("mode", "user"),
        ]);
        assert_eq!(
            names(&[&a, &b], None, "node_cpu_seconds_total"),
            ["{mode=\"idle\"}", "{mode=\"user\"}"]
        );
        // One series keeps all its labels.
        assert_eq!(names(&[&a], None, "q"), [a.to_string()]);
        // Different metrics keep their names.
        let c = set(&[("__name__", "node_load1"), ("job", "node")]);
        let d = set(&[("__name__", "node_load5"), ("job", "node")]);
        assert_eq!(names(&[&c, &d], None, "q"), ["node_load1", "node_load5"]);
        // A legend format wins; an empty result of one falls back.
        assert_eq!(names(&[&a, &b], Some("{{mode}}"), "q"), ["idle", "user"]);
        assert_eq!(
            names(&[&a, &b], Some("{{missing}}"), "q"),
            ["{mode=\"idle\"}", "{mode=\"user\"}"]
        );
    }

    #[test]
    fn the_legend_folds_after_a_few_and_keeps_full_names_on_hover() {
        let lines: Vec<Line> = (0..12)
            .map(|i| Line {
                label: format!("{{i=\"{i}\"}}"),
                points: vec![(0, i as f64)],
            })
            .collect();
        let full: Vec<String> = (0..12)
            .map(|i| format!("x{{i=\"{i}\", job=\"a\"}}"))
            .collect();
        let html = legend(&lines, &full, "short", None).into_string();
        assert!(html.contains("and 4 more"), "{html}");
        assert!(
            html.contains("title=\"x{i=&quot;3&quot;, job=&quot;a&quot;}\""),
            "{html}"
        );
    }
}
