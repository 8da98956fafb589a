//! Pharos's dashboard format, YAML (the commented `dashboards.example.yaml` at the
//! repository root is the reference and is parsed by a test):
//!
//! ```yaml
//! title: Orders
//! range: 6h
//! variables:
//!   - { name: job, value: api, options: [api, worker] }
//! rows:
//!   - title: Traffic
//!     panels:
//!       - title: Requests per second
//!         expr: sum by (status) (rate(http_requests_total{job="$job"}[$__rate_interval]))
//!         legend: "{{status}}"
//!         unit: reqps
//! ```
//!
//! Every PromQL expression is parsed when the file is read (with the variables' values
//! and `$__interval` & co. filled in), so a typo is reported as
//! `line:column: rows[0].panels[1].expr: …` rather than on the page.

use std::cell::RefCell;

use serde::{Deserialize, Deserializer};

use super::variables::{self, Context};
use super::{
    Dashboard, DashboardError, GRID_COLUMNS, Panel, PanelKind, Reduce, Row, Source, Target,
    Threshold, Variable,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDashboard {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// The range shown by default: `1h`, `6h`, `24h`, `7d`…
    #[serde(default, deserialize_with = "range")]
    range: Option<String>,
    #[serde(default)]
    variables: Vec<RawVariable>,
    #[serde(default)]
    rows: Vec<RawRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    name: String,
    #[serde(default)]
    value: Option<OneOrMany>,
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    all_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    panels: Vec<RawPanel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPanel {
    #[serde(default)]
    title: String,
    #[serde(default, rename = "type")]
    kind: RawKind,
    /// One target: shorthand for `targets: [{expr, legend}]`.
    #[serde(default, deserialize_with = "checked_expr")]
    expr: Option<String>,
    #[serde(default)]
    legend: Option<String>,
    #[serde(default)]
    targets: Vec<RawTarget>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    decimals: Option<u8>,
    #[serde(default)]
    thresholds: Vec<RawThreshold>,
    #[serde(default, deserialize_with = "width")]
    width: Option<u8>,
    #[serde(default, deserialize_with = "height")]
    height: Option<u8>,
    #[serde(default)]
    reduce: Option<RawReduce>,
    #[serde(default)]
    description: Option<String>,
    /// A text panel's content.
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
enum RawKind {
    #[default]
    #[serde(alias = "graph", alias = "time_series")]
    Timeseries,
    #[serde(alias = "singlestat", alias = "single_stat")]
    Stat,
    Table,
    Text,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawReduce {
    #[serde(alias = "lastNotNull")]
    Last,
    First,
    #[serde(alias = "avg")]
    Mean,
    Max,
    Min,
    Sum,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(deserialize_with = "required_expr")]
    expr: String,
    #[serde(default)]
    legend: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawThreshold {
    Value(f64),
    Colored { value: f64, color: String },
}

thread_local! {
    /// The variables of the document being read, so `expr` fields can be checked as
    /// PromQL where serde still knows their line and column (a check after the whole
    /// document is read could only name the field).
    static CHECK: RefCell<Option<Context>> = const { RefCell::new(None) };
}

fn check_promql(expr: &str) -> Result<(), String> {
    let expanded = CHECK.with(|c| {
        c.borrow()
            .as_ref()
            .map(|ctx| variables::expand(expr, ctx))
            .unwrap_or_else(|| expr.to_string())
    });
    pharos_promql::parse(&expanded).map(|_| ()).map_err(|e| {
        e.message
            .trim_start_matches("invalid parameter \"query\": ")
            .to_string()
    })
}

fn checked_expr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(e) = &s {
        check_promql(e).map_err(serde::de::Error::custom)?;
    }
    Ok(s)
}

fn required_expr<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_promql(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

fn range<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if let Some(r) = &s
        && r.parse::<pharos_model::HumanDuration>().is_err()
    {
        return Err(serde::de::Error::custom(format!(
            "{r:?} is not a duration such as 1h, 6h or 7d"
        )));
    }
    Ok(s)
}

fn width<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let w = Option::<u8>::deserialize(d)?;
    if let Some(w) = w
        && !(1..=GRID_COLUMNS).contains(&w)
    {
        return Err(serde::de::Error::custom(format!(
            "width {w} is outside 1 to {GRID_COLUMNS} (the grid is {GRID_COLUMNS} columns wide)"
        )));
    }
    Ok(w)
}

fn height<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let h = Option::<u8>::deserialize(d)?;
    if let Some(h) = h
        && !(2..=40).contains(&h)
    {
        return Err(serde::de::Error::custom(format!(
            "height {h} is outside 2 to 40 (units of 30 px, as Grafana's)"
        )));
    }
    Ok(h)
}

/// Only the variables, read leniently first so expressions can be checked with them.
#[derive(Deserialize, Default)]
struct VariablesOnly {
    #[serde(default)]
    variables: Vec<RawVariable>,
}

fn variable(v: RawVariable) -> Variable {
    let current = match v.value {
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(m)) => m,
        None => v.options.first().cloned().into_iter().collect(),
    };
    Variable {
        name: v.name,
        current,
        options: v.options,
        all_value: v.all_value,
    }
}

/// Parses Pharos's YAML dashboard format.
pub fn parse(text: &str) -> Result<Dashboard, DashboardError> {
    if text.trim().is_empty() {
        return Err(DashboardError::new("the dashboard file is empty"));
    }
    let vars: Vec<Variable> = serde_norway::from_str::<VariablesOnly>(text)
        .map(|v| v.variables.into_iter().map(variable).collect())
        .unwrap_or_default();
    let ctx = Context::for_checking(&vars);
    CHECK.with(|c| *c.borrow_mut() = Some(ctx));
    let raw: Result<RawDashboard, _> = pharos_model::yaml::from_yaml(text);
    CHECK.with(|c| *c.borrow_mut() = None);
    let raw = raw.map_err(|e| {
        let (field, message) = (e.field.unwrap_or_default(), e.message);
        let (mut line, mut column) = (e.line, e.column);
        if let Some((l, c)) = line.and_then(|l| key_at_or_after(text, l, &field)) {
            (line, column) = (Some(l), Some(c));
        }
        DashboardError {
            file: None,
            line,
            column,
            field: (!field.is_empty()).then_some(field),
            message,
        }
    })?;
    let dashboard = build(raw);
    super::check_colours(&dashboard)?;
    Ok(dashboard)
}

/// serde_norway places an error raised after a value was read at the start of the
/// enclosing mapping (the `- title:` line of a panel); the key at fault is found on that
/// line or the lines after it, within the same item.
fn key_at_or_after(text: &str, line: usize, field: &str) -> Option<(usize, usize)> {
    let key = field.rsplit('.').next()?;
    if key.is_empty() || key.contains('[') {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = line.checked_sub(1)?;
    let first = lines.get(start)?;
    let item_indent = first.len() - first.trim_start().len();
    for (i, l) in lines.iter().enumerate().skip(start) {
        let body = l.trim_start();
        let indent = l.len() - body.len();
        if i > start && !body.is_empty() && !body.starts_with('#') && indent <= item_indent {
            break;
        }
        let (col, rest) = match body.strip_prefix("- ") {
            Some(r) => (
                indent + 2 + (r.len() - r.trim_start().len()),
                r.trim_start(),
            ),
            None => (indent, body),
        };
        if rest
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with(':'))
        {
            return Some((i + 1, col + 1));
        }
    }
    None
}

fn build(raw: RawDashboard) -> Dashboard {
    let rows = raw
        .rows
        .into_iter()
        .map(|r| Row {
            title: r.title,
            panels: r.panels.into_iter().map(panel).collect(),
        })
        .collect();
    Dashboard {
        id: raw.id.map(|i| super::slug(&i)).unwrap_or_default(),
        title: raw.title.unwrap_or_default(),
        description: raw.description,
        source: Source::Uploaded,
        default_range: raw.range,
        variables: raw.variables.into_iter().map(variable).collect(),
        rows,
        notes: Vec::new(),
    }
}

fn panel(p: RawPanel) -> Panel {
    let mut targets: Vec<Target> = p
        .expr
        .map(|expr| Target {
            expr,
            legend: p.legend.clone(),
        })
        .into_iter()
        .collect();
    targets.extend(p.targets.into_iter().map(|t| Target {
        expr: t.expr,
        legend: t.legend,
    }));
    let kind = match p.kind {
        RawKind::Timeseries => PanelKind::TimeSeries,
        RawKind::Stat => PanelKind::Stat,
        RawKind::Table => PanelKind::Table,
        RawKind::Text => PanelKind::Text(p.text.unwrap_or_default()),
    };
    let mut thresholds: Vec<Threshold> = p
        .thresholds
        .into_iter()
        .map(|t| match t {
            RawThreshold::Value(value) => Threshold {
                value,
                color: "red".into(),
            },
            RawThreshold::Colored { value, color } => Threshold { value, color },
        })
        .collect();
    thresholds.sort_by(|a, b| a.value.total_cmp(&b.value));
    let reduce = match p.reduce {
        None | Some(RawReduce::Last) => Reduce::Last,
        Some(RawReduce::First) => Reduce::First,
        Some(RawReduce::Mean) => Reduce::Mean,
        Some(RawReduce::Max) => Reduce::Max,
        Some(RawReduce::Min) => Reduce::Min,
        Some(RawReduce::Sum) => Reduce::Sum,
    };
    let default_width = match kind {
        PanelKind::Stat => 6,
        _ => 12,
    };
    Panel {
        title: p.title,
        kind: kind.clone(),
        targets,
        unit: p.unit,
        decimals: p.decimals,
        thresholds,
        width: p.width.unwrap_or(default_width),
        x: None,
        height: p.height.unwrap_or(match kind {
            PanelKind::Stat => 4,
            _ => 8,
        }),
        reduce,
        description: p.description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = r#"
title: Orders
range: 6h
variables:
  - name: job
    value: api
    options: [api, worker]
rows:
  - title: Traffic
    panels:
      - title: Requests per second
        expr: sum by (status) (rate(http_requests_total{job="$job"}[$__rate_interval]))
        legend: "{{status}}"
        unit: reqps
      - title: Error ratio
        type: stat
        unit: percentunit
        thresholds:
          - { value: 0.01, color: orange }
          - 0.05
        targets:
          - expr: sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))
  - panels:
      - title: Slowest endpoints
        type: table
        width: 24
        expr: topk(5, histogram_quantile(0.95, sum by (le, endpoint) (rate(http_request_duration_seconds_bucket[5m]))))
"#;

    #[test]
    fn reads_rows_panels_targets_units_and_thresholds() {
        let d = parse(ORDERS).unwrap();
        assert_eq!(d.title, "Orders");
        assert_eq!(d.default_range.as_deref(), Some("6h"));
        assert_eq!(d.variables[0].current, vec!["api"]);
        assert_eq!(d.rows.len(), 2);
        let p = &d.rows[0].panels[0];
        assert_eq!(p.kind, PanelKind::TimeSeries);
        assert_eq!(p.targets[0].legend.as_deref(), Some("{{status}}"));
        assert_eq!(p.unit.as_deref(), Some("reqps"));
        let stat = &d.rows[0].panels[1];
        assert_eq!(stat.kind, PanelKind::Stat);
        assert_eq!(stat.width, 6);
        assert_eq!(stat.thresholds.len(), 2);
        assert_eq!(stat.thresholds[1].color, "red");
        assert_eq!(d.rows[1].panels[0].kind, PanelKind::Table);
        assert_eq!(d.rows[1].panels[0].width, 24);
    }

    #[test]
    fn bad_promql_names_line_and_field() {
        let text = "title: x\nrows:\n  - panels:\n      - title: a\n        expr: up\n      - title: b\n        expr: sum(rate(foo[5m])\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("rows[0].panels[1].expr"), "{e}");
        assert_eq!(e.line, Some(7), "{e}");
        let text = "title: x\nrows:\n  - panels:\n      - title: a\n        targets:\n          - expr: 'up{'\n";
        let e = parse(text).unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("rows[0].panels[0].targets[0].expr"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let e = parse("title: x\nrows:\n  - panels:\n      - titel: a\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `titel`"), "{e}");
        assert_eq!(e.line, Some(4), "{e}");
        let e = parse("title: x\nrows:\n  - panels:\n      - width: 30\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("rows[0].panels[0].width"), "{e}");
        let e = parse("title: x\nrows:\n  - panels:\n      - type: heatmap\n").unwrap_err();
        assert!(e.to_string().contains("heatmap"), "{e}");
        let e = parse("range: soon\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("range"), "{e}");
        let e = parse("rows:\n  - panels:\n      - { title: a, type: stat, expr: up, thresholds: [{ value: 1, color: \"red;background:url(x)\" }] }\n").unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("rows[0].panels[0].thresholds[0].color"),
            "{e}"
        );
    }

    #[test]
    fn variables_make_expressions_valid() {
        // `$window` is not PromQL until the variable's value is put in.
        let text = "variables:\n  - { name: window, value: 5m }\nrows:\n  - panels:\n      - expr: rate(x[$window])\n";
        assert!(parse(text).is_ok());
    }

    #[test]
    fn example_file_parses() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards.example.yaml");
        let text = std::fs::read_to_string(&path).expect("dashboards.example.yaml at the root");
        let d = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert!(!d.rows.is_empty());
    }
}
