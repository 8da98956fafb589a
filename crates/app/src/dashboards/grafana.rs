//! Import of a Grafana dashboard JSON export (the "Export → Save to file" JSON, the HTTP
//! API's `{"dashboard": …}` wrapper, or the pre-5.0 `rows` layout).
//!
//! Carried over: time-series / graph, stat / singlestat (gauges shown as a stat), table
//! and text panels on Prometheus targets (`expr`, `legendFormat`), units
//! (`fieldConfig.defaults.unit`, the old `yaxes[0].format` and `format`), thresholds,
//! decimals, the stat reducer, `gridPos` (rows from row panels, widths and order from the
//! grid), template variables of type query, custom, interval, constant and textbox (their
//! current value, or the first option), and the default time range. Any other panel type
//! becomes a placeholder that names it; targets on other data sources are dropped with a
//! note. Grafana JSON is read leniently: versions differ in which fields they write.

use serde_json::Value;

use super::{
    Dashboard, DashboardError, GRID_COLUMNS, Panel, PanelKind, Reduce, Row, Source, Target,
    Threshold, Variable,
};

pub fn import(text: &str) -> Result<Dashboard, DashboardError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| DashboardError {
        line: Some(e.line()),
        column: Some(e.column()),
        ..DashboardError::new(format!("not valid JSON: {e}"))
    })?;
    let root = match doc.get("dashboard") {
        Some(d) if d.is_object() => d,
        _ => &doc,
    };
    if !root.is_object() {
        return Err(DashboardError::new(
            "a Grafana dashboard is a JSON object with `panels`",
        ));
    }
    let mut notes = Vec::new();
    let variables = root
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(variable).collect())
        .unwrap_or_default();
    let rows = if let Some(panels) = root.get("panels").and_then(Value::as_array) {
        grid_rows(panels, &mut notes)
    } else {
        legacy_rows(root.get("rows"), &mut notes)
    };
    let dashboard = Dashboard {
        id: str_of(root, "uid").map(super::slug).unwrap_or_default(),
        title: str_of(root, "title").unwrap_or_default().to_string(),
        description: str_of(root, "description")
            .filter(|d| !d.is_empty())
            .map(String::from),
        source: Source::Uploaded,
        default_range: root
            .pointer("/time/from")
            .and_then(Value::as_str)
            .and_then(|f| f.strip_prefix("now-"))
            .filter(|r| r.parse::<pharos_model::HumanDuration>().is_ok())
            .map(String::from),
        variables,
        rows,
        notes,
    };
    super::check_colours(&dashboard)?;
    Ok(dashboard)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn num_of(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Values as strings: Grafana writes `current.value` as a string or a list.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn variable(v: &Value) -> Option<Variable> {
    let name = str_of(v, "name")?.to_string();
    let kind = str_of(v, "type").unwrap_or("query");
    if matches!(kind, "datasource" | "adhoc") {
        return None;
    }
    let mut options: Vec<String> = v
        .get("options")
        .and_then(Value::as_array)
        .map(|o| o.iter().flat_map(|o| strings(o.get("value"))).collect())
        .unwrap_or_default();
    if options.is_empty() && matches!(kind, "custom" | "interval" | "constant") {
        options = str_of(v, "query")
            .unwrap_or_default()
            .split(',')
            .map(|o| {
                // Custom options may be `label : value`.
                o.rsplit_once(" : ")
                    .map_or(o, |(_, val)| val)
                    .trim()
                    .to_string()
            })
            .filter(|o| !o.is_empty())
            .collect();
    }
    let mut current = strings(v.pointer("/current/value"));
    if current.is_empty() && matches!(kind, "textbox" | "constant") {
        current = str_of(v, "query").map(String::from).into_iter().collect();
    }
    if current.is_empty() {
        current = match options.first() {
            Some(o) => vec![o.clone()],
            // A query variable Pharos cannot run: match everything rather than nothing.
            None => vec!["$__all".to_string()],
        };
    }
    // Interval variables may say `auto`; a minute is what Grafana picks for most ranges.
    if kind == "interval" {
        for c in &mut current {
            if c == "$__auto_interval" || c.starts_with("$__auto") || c == "auto" {
                *c = "1m".into();
            }
        }
    }
    let all_value = str_of(v, "allValue")
        .filter(|a| !a.is_empty())
        .map(String::from);
    Some(Variable {
        name,
        current,
        options,
        all_value,
    })
}

/// Schema 16 and later: one flat list of panels placed on a grid, `row` panels starting
/// a section (holding their panels themselves when collapsed).
fn grid_rows(panels: &[Value], notes: &mut Vec<String>) -> Vec<Row> {
    let mut sorted: Vec<&Value> = panels.iter().collect();
    sorted.sort_by_key(|p| (grid(p, "y"), grid(p, "x")));
    let mut rows: Vec<Row> = Vec::new();
    let mut current = Row::default();
    for p in sorted {
        if str_of(p, "type") == Some("row") {
            if !current.panels.is_empty() || current.title.is_some() {
                rows.push(std::mem::take(&mut current));
            }
            current.title = str_of(p, "title").map(String::from);
            if let Some(inner) = p.get("panels").and_then(Value::as_array) {
                let mut inner: Vec<&Value> = inner.iter().collect();
                inner.sort_by_key(|p| (grid(p, "y"), grid(p, "x")));
                current
                    .panels
                    .extend(inner.into_iter().map(|p| panel(p, None, notes)));
            }
            continue;
        }
        current.panels.push(panel(p, None, notes));
    }
    if !current.panels.is_empty() || current.title.is_some() {
        rows.push(current);
    }
    rows
}

fn grid(p: &Value, key: &str) -> i64 {
    p.pointer(&format!("/gridPos/{key}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Before schema 16: `rows[]` of panels with `span` out of 12.
fn legacy_rows(rows: Option<&Value>, notes: &mut Vec<String>) -> Vec<Row> {
    let Some(rows) = rows.and_then(Value::as_array) else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| Row {
            title: str_of(r, "title")
                .filter(|t| !t.is_empty() && r.get("showTitle") != Some(&Value::Bool(false)))
                .map(String::from),
            panels: r
                .get("panels")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let span = num_of(p, "span").unwrap_or(12.0);
                            panel(p, Some((span * 2.0).round() as i64), notes)
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn kind_of(t: &str, p: &Value) -> PanelKind {
    match t {
        "timeseries" | "graph" | "trend" => PanelKind::TimeSeries,
        "stat" | "singlestat" | "gauge" | "bargauge" => PanelKind::Stat,
        "table" | "table-old" => PanelKind::Table,
        "text" => PanelKind::Text(
            p.pointer("/options/content")
                .or_else(|| p.get("content"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        other => PanelKind::Unsupported(other.to_string()),
    }
}

/// The data source type a panel or target names, when it is not Prometheus. Grafana
/// writes a name (`"Prometheus"`, `"${DS_PROMETHEUS}"`) or `{type, uid}`.
fn foreign_datasource(v: &Value) -> Option<String> {
    match v.get("datasource")? {
        Value::Object(o) => {
            let t = o
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("prometheus");
            let ok = ["prometheus", "datasource", "-- Mixed --", "grafana"].contains(&t)
                || t.contains("prometheus");
            (!ok).then(|| t.to_string())
        }
        Value::String(s) => {
            let l = s.to_lowercase();
            [
                "loki",
                "elasticsearch",
                "influx",
                "graphite",
                "postgres",
                "mysql",
                "tempo",
                "jaeger",
            ]
            .iter()
            .find(|k| l.contains(*k))
            .map(|k| k.to_string())
        }
        _ => None,
    }
}

fn panel(p: &Value, legacy_width: Option<i64>, notes: &mut Vec<String>) -> Panel {
    let title = str_of(p, "title").unwrap_or_default().to_string();
    let type_name = str_of(p, "type").unwrap_or("graph");
    let mut kind = if p.get("libraryPanel").is_some() && p.get("targets").is_none() {
        PanelKind::Unsupported("library panel".into())
    } else {
        kind_of(type_name, p)
    };
    if matches!(
        kind,
        PanelKind::TimeSeries | PanelKind::Stat | PanelKind::Table
    ) && let Some(ds) = foreign_datasource(p)
    {
        kind = PanelKind::Unsupported(format!("{type_name} on a {ds} data source"));
    }
    let mut targets = Vec::new();
    if matches!(
        kind,
        PanelKind::TimeSeries | PanelKind::Stat | PanelKind::Table
    ) {
        for t in p
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if t.get("hide") == Some(&Value::Bool(true)) {
                continue;
            }
            if let Some(ds) = foreign_datasource(t) {
                notes.push(format!(
                    "panel {title:?}: a target on a {ds} data source was left out"
                ));
                continue;
            }
            let Some(expr) = str_of(t, "expr").filter(|e| !e.trim().is_empty()) else {
                continue;
            };
            let legend = str_of(t, "legendFormat")
                .filter(|l| !l.is_empty() && *l != "__auto")
                .map(String::from);
            targets.push(Target {
                expr: expr.to_string(),
                legend,
            });
        }
    }
    let defaults = p.pointer("/fieldConfig/defaults");
    let unit = defaults
        .and_then(|d| str_of(d, "unit"))
        .or_else(|| p.pointer("/yaxes/0/format").and_then(Value::as_str))
        .or_else(|| str_of(p, "format"))
        .filter(|u| !u.is_empty())
        .map(String::from);
    let decimals = defaults
        .and_then(|d| num_of(d, "decimals"))
        .or_else(|| num_of(p, "decimals"))
        .filter(|d| (0.0..=10.0).contains(d))
        .map(|d| d as u8);
    let reduce = p
        .pointer("/options/reduceOptions/calcs/0")
        .and_then(Value::as_str)
        .or_else(|| str_of(p, "valueName"))
        .and_then(Reduce::parse)
        .unwrap_or_default();
    let width = legacy_width
        .or_else(|| p.pointer("/gridPos/w").and_then(Value::as_i64))
        .unwrap_or(12)
        .clamp(1, GRID_COLUMNS as i64) as u8;
    let x = (legacy_width.is_none())
        .then(|| p.pointer("/gridPos/x").and_then(Value::as_i64))
        .flatten()
        .map(|x| x.clamp(0, GRID_COLUMNS as i64 - 1) as u8);
    let height = p
        .pointer("/gridPos/h")
        .and_then(Value::as_i64)
        .or_else(|| {
            // Old panels give a height in pixels ("250px").
            str_of(p, "height")
                .and_then(|h| h.trim_end_matches("px").parse::<i64>().ok())
                .map(|px| px / 30)
        })
        .unwrap_or(8)
        .clamp(2, 40) as u8;
    Panel {
        title,
        kind,
        targets,
        unit,
        decimals,
        thresholds: thresholds(p),
        width,
        x,
        height,
        reduce,
        description: str_of(p, "description")
            .filter(|d| !d.is_empty())
            .map(String::from),
    }
}

fn thresholds(p: &Value) -> Vec<Threshold> {
    let mut out = Vec::new();
    if let Some(steps) = p
        .pointer("/fieldConfig/defaults/thresholds/steps")
        .and_then(Value::as_array)
    {
        // Grafana's first step has value null: the base colour, not a threshold.
        for s in steps {
            if let Some(value) = num_of(s, "value") {
                out.push(Threshold {
                    value,
                    color: str_of(s, "color").unwrap_or("red").to_string(),
                });
            }
        }
    } else if let Some(t) = str_of(p, "thresholds") {
        // singlestat: "80,90" with `colors` [ok, warning, critical].
        let colors = strings(p.get("colors"));
        for (i, v) in t
            .split(',')
            .filter_map(|v| v.trim().parse::<f64>().ok())
            .enumerate()
        {
            out.push(Threshold {
                value: v,
                color: colors
                    .get(i + 1)
                    .cloned()
                    .unwrap_or_else(|| if i == 0 { "orange" } else { "red" }.to_string()),
            });
        }
    } else if let Some(list) = p.get("thresholds").and_then(Value::as_array) {
        // graph: [{value, colorMode: "critical" | "warning" | "custom", …}]
        for t in list {
            if let Some(value) = num_of(t, "value") {
                let color = match str_of(t, "colorMode") {
                    Some("warning") => "orange".to_string(),
                    Some("custom") => str_of(t, "lineColor").unwrap_or("red").to_string(),
                    _ => "red".to_string(),
                };
                out.push(Threshold { value, color });
            }
        }
    }
    out.sort_by(|a, b| a.value.total_cmp(&b.value));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Grafana dashboard of seed 003 ("Order Monitoring"), unchanged.
    const SEED_003: &str = include_str!("../../tests/fixtures/grafana-seed-003.json");

    #[test]
    fn seed_003_imports() {
        let d = super::super::parse(SEED_003, "x", Source::Uploaded).unwrap();
        assert_eq!(d.title, "Order Monitoring");
        assert_eq!(d.id, "orders-dashboard");
        assert_eq!(d.rows.len(), 1);
        let p = &d.rows[0].panels[0];
        assert_eq!(p.title, "Orders Created");
        assert_eq!(p.kind, PanelKind::TimeSeries);
        assert_eq!(
            p.targets,
            vec![Target {
                expr: "sum(increase(orders_created_total[24h])) by (channel)".into(),
                legend: Some("{{channel}}".into()),
            }]
        );
        assert_eq!((p.width, p.x, p.height), (12, Some(0), 8));
        assert!(d.notes.is_empty());
    }

    const RICH: &str = r#"{
      "dashboard": {
        "uid": "svc", "title": "Service", "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": [
          {"name": "job", "type": "query", "query": "label_values(up, job)",
           "current": {"text": "api", "value": "api"}, "includeAll": true},
          {"name": "env", "type": "custom", "query": "prod,stage", "current": {}},
          {"name": "window", "type": "interval", "query": "1m,5m", "current": {"value": "$__auto_interval_window"}},
          {"name": "ds", "type": "datasource", "query": "prometheus"}
        ]},
        "panels": [
          {"type": "stat", "title": "Up", "gridPos": {"x": 12, "y": 0, "w": 6, "h": 4},
           "datasource": {"type": "prometheus", "uid": "abc"},
           "fieldConfig": {"defaults": {"unit": "percentunit", "decimals": 1,
             "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}, {"color": "red", "value": 0.9}]}}},
           "options": {"reduceOptions": {"calcs": ["mean"]}},
           "targets": [{"expr": "avg(up{job=\"$job\"})", "refId": "A"}]},
          {"type": "graph", "title": "Latency", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
           "yaxes": [{"format": "s"}, {"format": "short"}],
           "targets": [{"expr": "histogram_quantile(0.95, sum by (le) (rate(x_bucket[$__rate_interval])))", "legendFormat": "p95"},
                       {"expr": "hidden", "hide": true}]},
          {"type": "row", "title": "Details", "gridPos": {"x": 0, "y": 8, "w": 24, "h": 1}, "collapsed": true,
           "panels": [{"type": "heatmap", "title": "Buckets", "gridPos": {"x": 0, "y": 9, "w": 24, "h": 8}}]},
          {"type": "logs", "title": "Logs", "datasource": {"type": "loki", "uid": "l"}, "gridPos": {"x": 0, "y": 20, "w": 24, "h": 8},
           "targets": [{"expr": "{app=\"x\"}"}]},
          {"type": "singlestat", "title": "Old", "format": "bytes", "thresholds": "80,90", "valueName": "max",
           "colors": ["green", "orange", "red"], "gridPos": {"x": 0, "y": 9, "w": 6, "h": 4},
           "targets": [{"expr": "process_resident_memory_bytes"}]}
        ]
      },
      "meta": {}
    }"#;

    #[test]
    fn variables_grid_units_and_placeholders() {
        let d = import(RICH).unwrap();
        assert_eq!(d.id, "svc");
        assert_eq!(d.default_range.as_deref(), Some("24h"));
        let names: Vec<&str> = d.variables.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["job", "env", "window"]);
        assert_eq!(d.variables[0].current, ["api"]);
        assert_eq!(d.variables[1].current, ["prod"]);
        assert_eq!(d.variables[1].options, ["prod", "stage"]);
        assert_eq!(d.variables[2].current, ["1m"]);

        // Ordered by the grid: the graph at x=0 before the stat at x=12.
        assert_eq!(d.rows[0].panels[0].title, "Latency");
        let graph = &d.rows[0].panels[0];
        assert_eq!(graph.unit.as_deref(), Some("s"));
        assert_eq!(graph.targets.len(), 1, "hidden targets are left out");
        let stat = &d.rows[0].panels[1];
        assert_eq!(stat.kind, PanelKind::Stat);
        assert_eq!(stat.unit.as_deref(), Some("percentunit"));
        assert_eq!(stat.decimals, Some(1));
        assert_eq!(stat.reduce, Reduce::Mean);
        assert_eq!(
            stat.thresholds,
            vec![Threshold {
                value: 0.9,
                color: "red".into()
            }]
        );

        // The collapsed row keeps its panels; y=9 (heatmap) and y=9 (singlestat) follow it.
        let details = &d.rows[1];
        assert_eq!(details.title.as_deref(), Some("Details"));
        assert_eq!(
            details.panels[0].kind,
            PanelKind::Unsupported("heatmap".into())
        );
        let old = details.panels.iter().find(|p| p.title == "Old").unwrap();
        assert_eq!(old.kind, PanelKind::Stat);
        assert_eq!(old.reduce, Reduce::Max);
        assert_eq!(
            old.thresholds[1],
            Threshold {
                value: 90.0,
                color: "red".into()
            }
        );
        let logs = details.panels.iter().find(|p| p.title == "Logs").unwrap();
        assert_eq!(logs.kind, PanelKind::Unsupported("logs".into()));
    }

    #[test]
    fn legacy_rows_and_bad_json() {
        let d = import(r#"{"title": "Old", "rows": [{"title": "R", "panels": [{"type": "graph", "span": 6, "targets": [{"expr": "up"}]}]}]}"#).unwrap();
        assert_eq!(d.rows[0].title.as_deref(), Some("R"));
        assert_eq!(d.rows[0].panels[0].width, 12);
        let e = import("{\n  \"panels\": [,]\n}").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn a_threshold_colour_that_is_not_a_colour_is_refused() {
        let with = |colour: &str| {
            import(
                &serde_json::json!({"title": "T", "panels": [{"type": "stat", "title": "Load",
                "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}, "targets": [{"expr": "up"}],
                "fieldConfig": {"defaults": {"thresholds": {"steps": [
                    {"color": "green", "value": null}, {"color": colour, "value": 1}]}}}}]})
                .to_string(),
            )
        };
        let e = with("#fff;background:url(https://evil.example/x)").unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("rows[0].panels[0].thresholds[0].color"),
            "{e}"
        );
        assert!(
            e.message.contains("Load") && e.message.contains("is not a colour"),
            "{e}"
        );
        assert_eq!(
            with("dark-red").unwrap().rows[0].panels[0].thresholds[0].color,
            "dark-red"
        );
        assert!(with("rgba(245, 54, 54, 0.9)").is_ok());
    }
}
