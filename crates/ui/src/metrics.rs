//! `/metrics/explore`: type PromQL, see it as a chart over a range (one line per series,
//! a legend of label sets) or as a table at one instant, with the query's fault marked
//! when it does not parse. Metric and label names complete from the Prometheus API
//! (`explorer.js`); without JavaScript a datalist offers the metric names.

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use pharos_model::series::LabelSet;
use pharos_promql::{QueryError, QueryValue};
use serde::Deserialize;

use super::chart::{self, TimeChart};
use super::layout::{self, Nav};
use super::time_range::{self, TimeRange};
use super::{guard, units};
use pharos_web::SharedState;

/// Lines drawn at most; more make an unreadable chart and a slow page.
pub const MAX_SERIES: usize = 50;
/// Rows of an instant result shown at most.
const MAX_ROWS: usize = 500;
/// Metric names offered in the datalist.
const MAX_NAMES: usize = 2000;

const SCRIPT: &str = include_str!("explorer.js");

pub async fn script() -> impl IntoResponse {
    crate::layout::javascript(SCRIPT)
}

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    tab: Option<String>,
}

pub async fn explore(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let p = q.map(|q| q.0).unwrap_or_default();
    let now = chrono::Utc::now().timestamp_millis();
    let (range, notes) = time_range::from_params(
        p.range.as_deref(),
        p.end.as_deref(),
        p.step.as_deref(),
        "1h",
        now,
    );
    let query = p.q.clone().unwrap_or_default();
    let table = p.tab.as_deref() == Some("table");
    let names = metric_names(&state).await;

    let result = if query.trim().is_empty() {
        None
    } else if table {
        Some((
            true,
            time_range::instant_query(&state, query.clone(), range.end_ms).await,
        ))
    } else {
        match time_range::range_query(&state, query.clone(), &range).await {
            // A range vector (`x[5m]`) cannot be graphed; show it as Prometheus's table does.
            Err(e) if e.message.contains("range vector") => Some((
                true,
                time_range::instant_query(&state, query.clone(), range.end_ms).await,
            )),
            r => Some((false, r)),
        }
    };

    let body = html! {
        h1 { "Metrics" }
        p.small.muted { "PromQL over everything Pharos scrapes and receives. " a href="/metrics/cardinality" { "Cardinality" } " · " a href="/dashboards" { "Dashboards" } }
        form.explore method="get" action="/metrics/explore" {
            div.querybox {
                input #promql type="text" name="q" value=(query) list="metric-names" autocomplete="off" spellcheck="false" placeholder="e.g. sum by (status) (rate(http_requests_total[5m]))" aria-label="PromQL query" autofocus;
                datalist #metric-names { @for n in &names { option value=(n) {} } }
            }
            div.controls {
                (time_range::picker(&range))
                button.primary type="submit" name="tab" value="graph" { "Graph" }
                button.secondary type="submit" name="tab" value="table" { "Table" }
            }
        }
        @for n in &notes { p.small.muted { (n) } }
        @match &result {
            None => { (help(&names)) }
            Some((_, Err(e))) => { (query_error(&query, e)) }
            Some((as_table, Ok(r))) => {
                @for w in &r.warnings { div.warn-box { "Warning: " (w) } }
                @for i in &r.infos { p.small.muted { "Info: " (i) } }
                @if *as_table { (instant_table(&r.value, units::guess(&query), &query)) }
                @else { (range_chart(&r.value, &range, units::guess(&query), &query)) }
            }
        }
        script src="/metrics/explorer.js" defer {}
    };
    layout::page("Metrics", Nav::Metrics, signed_in, body).into_response()
}

async fn metric_names(state: &SharedState) -> Vec<String> {
    let Some(m) = state.metrics_store.clone() else {
        return Vec::new();
    };
    tokio::task::spawn_blocking(move || {
        use pharos_model::series::SeriesSource;
        m.db.label_values(
            pharos_model::series::METRIC_NAME,
            &[],
            i64::MIN / 2,
            i64::MAX / 2,
        )
        .unwrap_or_default()
    })
    .await
    .map(|mut v| {
        v.truncate(MAX_NAMES);
        v
    })
    .unwrap_or_default()
}

fn help(names: &[String]) -> Markup {
    html! {
        div.onboarding {
            @if names.is_empty() {
                p { "No metrics stored yet. Add a " code { "scrape_configs" } " job to " code { "pharos.yaml" } " (as in a " code { "prometheus.yml" } "), or point a Prometheus's " code { "remote_write" } " at " code { "/api/v1/write" } "." }
            } @else {
                p { (names.len()) " metrics stored. Start typing a name, or try one of these:" }
                ul.examples {
                    @for q in examples(names) {
                        li { a href={ "/metrics/explore?q=" (encode(&q)) } { code { (q) } } }
                    }
                }
            }
        }
    }
}

/// A few queries that make sense for what is stored.
fn examples(names: &[String]) -> Vec<String> {
    let mut out = vec!["up".to_string()];
    if let Some(c) = names
        .iter()
        .find(|n| n.ends_with("_total") && !n.starts_with("pharos_"))
    {
        out.push(format!("sum by (job) (rate({c}[5m]))"));
    }
    if let Some(b) = names.iter().find(|n| n.ends_with("_seconds_bucket")) {
        out.push(format!(
            "histogram_quantile(0.95, sum by (le) (rate({b}[5m])))"
        ));
    }
    if names.iter().any(|n| n == "pharos_tsdb_head_series") {
        out.push("pharos_tsdb_head_series".into());
    }
    out
}

pub fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The error, and the query with the part the parser complains about marked.
pub fn query_error(query: &str, e: &QueryError) -> Markup {
    let message = e
        .message
        .trim_start_matches("invalid parameter \"query\": ")
        .to_string();
    let at = e
        .position
        .clone()
        .filter(|r| {
            r.end <= query.len() && query.is_char_boundary(r.start) && query.is_char_boundary(r.end)
        })
        .or_else(|| fault_position(query, &message));
    html! {
        div.error-box role="alert" data-testid="query-error" {
            strong { (pharos_error_kind(e)) } " " (message)
            @if let Some(r) = at {
                @let end = if r.end > r.start { r.end } else { next_char(query, r.start) };
                pre.query-fault {
                    (&query[..r.start])
                    mark { @if r.start < query.len() { (&query[r.start..end]) } @else { (PreEscaped("&nbsp;")) } }
                    (&query[end..])
                }
                p.small { "At character " (query[..r.start].chars().count() + 1) "." }
            }
        }
    }
}

fn pharos_error_kind(e: &QueryError) -> &'static str {
    match e.kind {
        pharos_promql::ErrorType::BadData => "The query does not parse:",
        pharos_promql::ErrorType::Execution => "The query failed:",
        pharos_promql::ErrorType::Timeout => "The query took too long:",
        pharos_promql::ErrorType::Canceled => "The query was cancelled:",
    }
}

fn next_char(s: &str, i: usize) -> usize {
    s[i..].chars().next().map_or(i, |c| i + c.len_utf8())
}

/// Where a parse error is when the parser gave no position: the character it names, an
/// unterminated string, or the first bracket without its pair.
pub fn fault_position(query: &str, message: &str) -> Option<std::ops::Range<usize>> {
    // "unexpected character inside braces: '!'", "unexpected character: '@'"
    if let Some(rest) = message.split("unexpected character").nth(1) {
        let ch = rest
            .split(['\'', '"'])
            .nth(1)
            .and_then(|c| c.chars().next());
        if let Some(c) = ch
            && let Some(i) = query.find(c)
        {
            return Some(i..i + c.len_utf8());
        }
    }
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut quote: Option<(char, usize)> = None;
    let mut escaped = false;
    for (i, c) in query.char_indices() {
        if let Some((q, _)) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some((c, i)),
            '#' => break,
            '(' | '{' | '[' => stack.push((c, i)),
            ')' | '}' | ']' => {
                let want = match c {
                    ')' => '(',
                    '}' => '{',
                    _ => '[',
                };
                match stack.pop() {
                    Some((open, _)) if open == want => {}
                    _ => return Some(i..i + 1),
                }
            }
            _ => {}
        }
    }
    if let Some((_, i)) = quote {
        return Some(i..i + 1);
    }
    if let Some((_, i)) = stack.last() {
        return Some(*i..*i + 1);
    }
    // "unexpected end of input" and the like: the end of the query.
    if message.contains("end of input") || message.contains("unexpected <EOF>") {
        return Some(query.len()..query.len());
    }
    None
}

/// `{{label}}` replaced by the series' value of that label (Grafana's legend format);
/// without one, Prometheus's notation of the label set.
pub fn series_label(labels: &LabelSet, legend: Option<&str>) -> String {
    let Some(fmt) = legend.filter(|f| !f.trim().is_empty()) else {
        let s = labels.to_string();
        return if s.is_empty() { "{}".into() } else { s };
    };
    let mut out = String::new();
    let mut rest = fmt;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find("}}") {
            Some(j) => {
                out.push_str(labels.get(after[..j].trim()).unwrap_or(""));
                rest = &after[j + 2..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn range_chart(v: &QueryValue, r: &TimeRange, unit: &str, query: &str) -> Markup {
    let (mut lines, mut full) = super::legend::lines_of(v, None, query);
    let total = lines.len();
    lines.truncate(MAX_SERIES);
    full.truncate(MAX_SERIES);
    let label = format!("{query}, {} series", total);
    html! {
        div.chartbox.big data-testid="chart" {
            (chart::time_series(&TimeChart {
                lines: &lines,
                start_ms: r.start_ms,
                end_ms: r.end_ms,
                step_ms: r.step_ms,
                unit,
                decimals: None,
                marks: &[],
                width: 1100,
                height: 340,
                label: &label,
            }))
            p.small.muted.caption {
                (total) " series · step " (pharos_app::dashboards::variables::duration(r.step_ms))
                " · times in UTC"
                @if total > MAX_SERIES { " · " strong { "showing the first " (MAX_SERIES) ", " (total - MAX_SERIES) " left out" } " — narrow the query with labels or an aggregation" }
            }
            (super::legend::legend(&lines, &full, unit, None))
        }
    }
}

/// An instant result as a table of full label sets; a series with none (an aggregate) is
/// named by the query, as in the legend.
fn instant_table(v: &QueryValue, unit: &str, query: &str) -> Markup {
    let fmt = |x: f64| pharos_promql::format_value(x);
    html! {
        @match v {
            QueryValue::Scalar { v, .. } => {
                table.results data-testid="results" { thead { tr { th { "Scalar" } th.num { "Value" } } }
                    tbody { tr { td { "scalar" } td.num title=(units::format(unit, *v, None)) { (fmt(*v)) } } } }
            }
            QueryValue::String { v, .. } => {
                table.results data-testid="results" { tbody { tr { td { "string" } td { (v) } } } }
            }
            QueryValue::Vector(vs) => {
                p.small.muted { (vs.len()) " series"
                    @if vs.len() > MAX_ROWS { ", showing the first " (MAX_ROWS) } }
                table.results data-testid="results" {
                    thead { tr { th { "Series" } th.num { "Value" } } }
                    tbody {
                        @for s in vs.iter().take(MAX_ROWS) {
                            tr { td { code { (super::legend::full_name(&s.labels, query)) } } td.num title=(units::format(unit, s.sample.v, None)) { (fmt(s.sample.v)) } }
                        }
                    }
                }
                @if vs.is_empty() { p.muted { "Empty result: no series match at this time." } }
            }
            QueryValue::Matrix(ms) => {
                p.small.muted { (ms.len()) " series (a range vector: each sample with its time)" }
                table.results data-testid="results" {
                    thead { tr { th { "Series" } th { "Samples" } } }
                    tbody {
                        @for s in ms.iter().take(MAX_ROWS) {
                            tr { td { code { (super::legend::full_name(&s.labels, query)) } }
                                td.small { @for x in s.samples.iter().rev().take(20) { (fmt(x.v)) " @" (x.t as f64 / 1000.0) br; } } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_found_without_a_position() {
        assert_eq!(
            fault_position("sum(rate(x[5m])", "invalid promql query"),
            Some(3..4)
        );
        assert_eq!(
            fault_position("up{a=\"b}", "unterminated quoted string \""),
            Some(5..6)
        );
        assert_eq!(fault_position("up)", "x"), Some(2..3));
        assert_eq!(
            fault_position("up{a!b}", "unexpected character inside braces: 'b'"),
            Some(5..6)
        );
    }

    #[test]
    fn legends_follow_grafana() {
        let l = LabelSet::new([("__name__", "x"), ("channel", "web"), ("job", "api")]);
        assert_eq!(
            series_label(&l, Some("{{channel}} ({{ job }})")),
            "web (api)"
        );
        assert_eq!(series_label(&l, None), "x{channel=\"web\", job=\"api\"}");
        assert_eq!(series_label(&LabelSet::new::<&str, &str>([]), None), "{}");
    }

    #[test]
    fn the_fault_is_marked() {
        let e = QueryError {
            kind: pharos_promql::ErrorType::BadData,
            message: "invalid parameter \"query\": invalid promql query".into(),
            position: None,
        };
        let html = query_error("sum(rate(x[5m])", &e).into_string();
        assert!(html.contains("sum<mark>(</mark>rate(x[5m])"), "{html}");
    }
}
