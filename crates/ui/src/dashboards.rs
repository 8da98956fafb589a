//! `/dashboards` (the list, and a form to paste a Grafana JSON export or a Pharos YAML
//! dashboard) and `/dashboards/<id>` (its rows of panels over a picked range, with a
//! picker per template variable; choices are kept in the URL as Grafana's
//! `?var-<name>=`).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use pharos_promql::{QueryError, QueryResult};
use serde::Deserialize;

use super::chart::{self, Line, Mark, TimeChart};
use super::layout::{self, Nav};
use super::legend;
use super::metrics::{encode, query_error};
use super::time_range::{self, TimeRange};
use super::{error_page, guard, may_post, units};
use pharos_app::dashboards::variables::{self, Context};
use pharos_app::dashboards::{Dashboard, Panel, PanelKind, Source, Threshold};
use pharos_web::SharedState;
use pharos_web::api::ApiError;

/// Lines per panel at most.
const MAX_SERIES: usize = 30;
/// Values a stat panel shows at most (one per series).
const MAX_STATS: usize = 6;
/// Rows a table panel shows at most.
const MAX_ROWS: usize = 100;

pub async fn list(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    layout::page(
        "Dashboards",
        Nav::Dashboards,
        signed_in,
        list_body(&state, None, "", may_post(&caller, "/dashboards")),
    )
    .into_response()
}

/// The list, with the import form and delete buttons for those who may change dashboards.
fn list_body(state: &SharedState, error: Option<&str>, pasted: &str, may_change: bool) -> Markup {
    let all = state.dashboards.list();
    let problems = state.dashboards.problems();
    html! {
        h1 { "Dashboards" }
        @if all.is_empty() {
            div.onboarding {
                p { "No dashboards yet. List dashboard files in " code { "pharos.yaml" } " (" code { "dashboards: [dashboards/*.yaml, grafana/*.json]" } ", see " code { "dashboards.example.yaml" } "), or paste one below." }
            }
        } @else {
            table.dashboards {
                thead { tr { th { "Dashboard" } th.num { "Panels" } th { "From" } th {} } }
                tbody {
                    @for d in &all {
                        tr data-dashboard=(d.id) {
                            td { a href={ "/dashboards/" (d.id) } { (d.title) }
                                @if let Some(desc) = &d.description { div.small.muted { (desc) } } }
                            td.num { (d.rows.iter().map(|r| r.panels.len()).sum::<usize>()) }
                            td.small { @match &d.source {
                                Source::Config(p) => { "config: " code { (p.display()) } }
                                Source::Uploaded => { "uploaded" }
                                Source::Builtin => { span.badge.builtin title="Built into Pharos, read-only; a dashboard with the same id replaces it" { "Built-in" } }
                            } }
                            td { @if may_change && matches!(d.source, Source::Uploaded) {
                                form method="post" action={ "/dashboards/" (d.id) "/delete" } {
                                    button.danger type="submit" { "Delete" }
                                }
                            } }
                        }
                    }
                }
            }
        }
        @for p in &problems { div.warn-box { "Not loaded: " (p) } }
        @if may_change {
            h2 { "Import" }
            @if let Some(e) = error { div.error-box role="alert" { (e) } }
            form.stack.import method="post" action="/dashboards" {
                label { "Grafana dashboard JSON or Pharos dashboard YAML"
                    span.hint { "Grafana: Dashboard settings → JSON Model, or Export → Save to file. Time series, graph, stat and table panels on Prometheus are drawn; other panel types show as placeholders." }
                    textarea name="content" rows="10" spellcheck="false" { (pasted) }
                }
                div { button.primary type="submit" { "Import" } }
            }
            p.small.muted { "Or with the API: " code { "curl -X POST -H \"Authorization: Bearer $TOKEN\" --data-binary @dashboard.json " (state.settings().external_url()) "/api/v1/dashboards" } }
        }
    }
}

#[derive(Deserialize)]
pub struct Upload {
    #[serde(default)]
    content: String,
}

pub async fn upload(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Form(form): Form<Upload>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let st = state.clone();
    let content = form.content.clone();
    let stored = tokio::task::spawn_blocking(move || {
        pharos_web::api::dashboards::store_upload(&st, content.as_bytes())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))
    .and_then(|r| r);
    match stored {
        Ok(d) => Redirect::to(&format!("/dashboards/{}", d.id)).into_response(),
        Err(e) => (
            e.status,
            layout::page(
                "Dashboards",
                Nav::Dashboards,
                signed_in,
                list_body(
                    &state,
                    Some(&e.message),
                    &form.content,
                    may_post(&caller, "/dashboards"),
                ),
            ),
        )
            .into_response(),
    }
}

pub async fn delete(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = guard(&state, &caller, None, &uri) {
        return r;
    }
    if state
        .dashboards
        .get(&id)
        .is_some_and(|d| matches!(d.source, Source::Config(_)))
    {
        return error_page(
            ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "this dashboard comes from the config file; remove it there and reload",
            ),
            true,
        );
    }
    if state
        .dashboards
        .get(&id)
        .is_some_and(|d| d.source == Source::Builtin)
    {
        return error_page(
            ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "this dashboard is built into Pharos; upload one with the same id to replace it, or set builtin_dashboards: false",
            ),
            true,
        );
    }
    match state.dashboards.remove(&id) {
        Ok(_) => Redirect::to("/dashboards").into_response(),
        Err(e) => error_page(ApiError::internal(e.to_string()), true),
    }
}

/// What a panel's queries gave.
enum Outcome {
    Range(QueryResult),
    Instant(QueryResult),
    Failed(String, QueryError),
}

struct PanelResult {
    /// One per target, in order: (expanded expression, legend, outcome).
    targets: Vec<(String, Option<String>, Outcome)>,
}

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(d) = state.dashboards.get(&id) else {
        return error_page(ApiError::not_found(format!("dashboard {id:?}")), signed_in);
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let now = chrono::Utc::now().timestamp_millis();
    let (range, notes) = time_range::from_params(
        get("range"),
        get("end"),
        get("step"),
        d.default_range.as_deref().unwrap_or("6h"),
        now,
    );
    let chosen: Vec<(String, String)> = params
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("var-").map(|n| (n.to_string(), v.clone())))
        .collect();
    let ctx = Context::new(&d.variables, &chosen, range.range_ms(), range.step_ms);
    let results = run_panels(&state, &d, &ctx, &range).await;

    let body = html! {
        p.small { a href="/dashboards" { "← All dashboards" } }
        h1 { (d.title)
            @if d.source == Source::Builtin {
                " " span.badge.builtin data-testid="builtin" title="Built into Pharos and read-only. To change it, upload a dashboard with the same id (yours replaces this one), or hide all built-in dashboards with builtin_dashboards: false in pharos.yaml." { "Built-in" }
            }
        }
        @if let Some(desc) = &d.description { p.muted { (desc) } }
        form.dashboard-controls method="get" action={ "/dashboards/" (d.id) } {
            @for v in &d.variables {
                @let current = chosen.iter().filter(|(n, _)| *n == v.name).map(|(_, x)| x.as_str()).next()
                    .or(v.current.first().map(String::as_str)).unwrap_or("");
                label.inline { (v.name) " "
                    @if v.options.is_empty() {
                        input name={ "var-" (v.name) } value=(current) size="12";
                    } @else {
                        select name={ "var-" (v.name) } {
                            @for o in &v.options { option value=(o) selected[o == current] { (o) } }
                            @if !v.options.iter().any(|o| o == current) { option value=(current) selected { (current) } }
                        }
                    }
                }
            }
            (time_range::picker(&range))
            button.primary type="submit" { "Show" }
        }
        @for n in &notes { p.small.muted { (n) } }
        @for n in &d.notes { p.small.muted { "Import: " (n) } }
        @for (ri, row) in d.rows.iter().enumerate() {
            section.dash-row {
                @if let Some(t) = &row.title { h2 { (t) } }
                div.grid {
                    @for (pi, p) in row.panels.iter().enumerate() {
                        (panel(p, results.get(&(ri, pi)), &range))
                    }
                }
            }
        }
        @if d.rows.iter().all(|r| r.panels.is_empty()) { p.muted { "This dashboard has no panels." } }
        p.small.muted { "Times in UTC · step " (variables::duration(range.step_ms)) }
    };
    layout::page(&d.title, Nav::Dashboards, signed_in, body).into_response()
}

/// Runs every panel's targets side by side (each query on the blocking pool).
async fn run_panels(
    state: &SharedState,
    d: &Arc<Dashboard>,
    ctx: &Context,
    range: &TimeRange,
) -> std::collections::HashMap<(usize, usize), PanelResult> {
    let mut tasks = Vec::new();
    for (ri, row) in d.rows.iter().enumerate() {
        for (pi, p) in row.panels.iter().enumerate() {
            let instant = match p.kind {
                PanelKind::Table => true,
                PanelKind::TimeSeries | PanelKind::Stat => false,
                _ => continue,
            };
            for t in &p.targets {
                let expr = variables::expand(&t.expr, ctx);
                let (state, range, legend) = (state.clone(), range.clone(), t.legend.clone());
                tasks.push((
                    (ri, pi),
                    tokio::spawn(async move {
                        let out = if instant {
                            match time_range::instant_query(&state, expr.clone(), range.end_ms)
                                .await
                            {
                                Ok(r) => Outcome::Instant(r),
                                Err(e) => Outcome::Failed(expr.clone(), e),
                            }
                        } else {
                            match time_range::range_query(&state, expr.clone(), &range).await {
                                Ok(r) => Outcome::Range(r),
                                Err(e) => Outcome::Failed(expr.clone(), e),
                            }
                        };
                        (expr, legend, out)
                    }),
                ));
            }
        }
    }
    let mut out: std::collections::HashMap<(usize, usize), PanelResult> = Default::default();
    for (key, task) in tasks {
        let r = match task.await {
            Ok(r) => r,
            Err(e) => (
                String::new(),
                None,
                Outcome::Failed(
                    String::new(),
                    QueryError {
                        kind: pharos_promql::ErrorType::Execution,
                        message: format!("query task failed: {e}"),
                        position: None,
                    },
                ),
            ),
        };
        out.entry(key)
            .or_insert_with(|| PanelResult {
                targets: Vec::new(),
            })
            .targets
            .push(r);
    }
    out
}

fn marks(t: &[Threshold]) -> Vec<Mark> {
    t.iter()
        .map(|t| Mark {
            value: t.value,
            color: t.color.clone(),
        })
        .collect()
}

/// The colour of the highest threshold `v` reaches.
fn threshold_color(t: &[Threshold], v: f64) -> Option<String> {
    t.iter()
        .rev()
        .find(|t| v >= t.value)
        .map(|t| chart::css_color(&t.color))
}

fn panel(p: &Panel, r: Option<&PanelResult>, range: &TimeRange) -> Markup {
    let style = match p.x {
        Some(x) => format!(
            "grid-column:{} / span {}",
            x as u32 + 1,
            p.width
                .min(pharos_app::dashboards::GRID_COLUMNS - x.min(23))
        ),
        None => format!("grid-column:span {}", p.width),
    };
    let unit = p.unit.as_deref().unwrap_or("short");
    let empty: Vec<(String, Option<String>, Outcome)> = Vec::new();
    let targets = r.map(|r| &r.targets).unwrap_or(&empty);
    let failures: Vec<(&String, &QueryError)> = targets
        .iter()
        .filter_map(|(_, _, o)| match o {
            Outcome::Failed(q, e) => Some((q, e)),
            _ => None,
        })
        .collect();
    html! {
        div.panel style=(style) data-panel-type=(p.kind.name()) title=[p.description.as_deref()] {
            div.panel-head {
                h3 { (if p.title.is_empty() { "Untitled" } else { p.title.as_str() }) }
                @if let Some((q, _, _)) = targets.first() {
                    a.small href={ "/metrics/explore?q=" (encode(q)) "&range=" (encode(&range.name)) } title="Open in the explorer" { "explore" }
                }
            }
            @match &p.kind {
                PanelKind::TimeSeries => { (timeseries_panel(p, targets, range, unit)) }
                PanelKind::Stat => { (stat_panel(p, targets, unit)) }
                PanelKind::Table => { (table_panel(p, targets, unit)) }
                PanelKind::Text(t) => { div.text-panel { (t) } }
                PanelKind::Unsupported(t) => {
                    div.placeholder data-testid="unsupported-panel" {
                        "Panel type " code { (t) } " is not drawn by Pharos."
                        @if !p.targets.is_empty() {
                            ul.small { @for t in &p.targets { li { a href={ "/metrics/explore?q=" (encode(&t.expr)) } { code { (t.expr) } } } } }
                        }
                    }
                }
            }
            @if p.targets.is_empty() && matches!(p.kind, PanelKind::TimeSeries | PanelKind::Stat | PanelKind::Table) {
                p.small.muted { "No Prometheus query in this panel." }
            }
            @for (q, e) in &failures { (query_error(q, e)) }
        }
    }
}

/// Every target's lines, named per target ([`legend::names`]), with their full names.
fn collect_lines(targets: &[(String, Option<String>, Outcome)]) -> (Vec<Line>, Vec<String>) {
    let mut lines = Vec::new();
    let mut full = Vec::new();
    for (expr, legend_format, o) in targets {
        if let Outcome::Range(r) | Outcome::Instant(r) = o {
            let (l, f) = legend::lines_of(&r.value, legend_format.as_deref(), expr);
            lines.extend(l);
            full.extend(f);
        }
    }
    (lines, full)
}

/// A panel whose queries ran and matched nothing: a neutral "No data" (a missing series
/// is not a healthy one), saying why it may be empty.
fn no_data() -> Markup {
    html! {
        div.no-data data-testid="no-data" {
            div.no-data-title { "No data" }
            div.small.muted { "No series matched this panel's queries in this range. Open one in the explorer to check its metric names and labels." }
        }
    }
}

/// Whether at least one target ran (and so an empty result means no data, not an error).
fn ran(targets: &[(String, Option<String>, Outcome)]) -> bool {
    targets
        .iter()
        .any(|(_, _, o)| !matches!(o, Outcome::Failed(..)))
}

fn timeseries_panel(
    p: &Panel,
    targets: &[(String, Option<String>, Outcome)],
    range: &TimeRange,
    unit: &str,
) -> Markup {
    let (mut lines, mut full) = collect_lines(targets);
    let total = lines.len();
    if total == 0 && ran(targets) {
        return no_data();
    }
    lines.truncate(MAX_SERIES);
    full.truncate(MAX_SERIES);
    let height = (p.height as u32 * 30).saturating_sub(70).max(110);
    let width = (p.width as u32 * 48).max(240);
    let marks = marks(&p.thresholds);
    html! {
        (chart::time_series(&TimeChart {
            lines: &lines,
            start_ms: range.start_ms,
            end_ms: range.end_ms,
            step_ms: range.step_ms,
            unit,
            decimals: p.decimals,
            marks: &marks,
            width,
            height,
            label: &p.title,
        }))
        @if total > MAX_SERIES { p.small.muted { "Showing " (MAX_SERIES) " of " (total) " series." } }
        (legend::legend(&lines, &full, unit, p.decimals))
    }
}

fn stat_panel(p: &Panel, targets: &[(String, Option<String>, Outcome)], unit: &str) -> Markup {
    let (lines, _) = collect_lines(targets);
    if lines.is_empty() && ran(targets) {
        return no_data();
    }
    let values: Vec<(String, Option<f64>)> = lines
        .iter()
        .take(MAX_STATS)
        .map(|l| {
            (
                l.label.clone(),
                p.reduce.apply(l.points.iter().map(|x| x.1)),
            )
        })
        .collect();
    html! {
        div.stats {
            @for (label, v) in &values {
                @let color = v.and_then(|v| threshold_color(&p.thresholds, v));
                div.stat {
                    div.stat-value.empty[v.is_none()] style=[color.as_ref().map(|c| format!("color:{c}"))] data-testid="stat-value" {
                        (v.map(|v| units::format(unit, v, p.decimals)).unwrap_or_else(|| "–".into()))
                    }
                    @if values.len() > 1 { div.small.muted { (label) } }
                }
            }
        }
    }
}

fn table_panel(p: &Panel, targets: &[(String, Option<String>, Outcome)], unit: &str) -> Markup {
    let mut rows: Vec<(String, f64)> = Vec::new();
    for (expr, legend_format, o) in targets {
        if let Outcome::Instant(r) = o {
            let (lines, _) = legend::lines_of(&r.value, legend_format.as_deref(), expr);
            rows.extend(
                lines
                    .into_iter()
                    .filter_map(|l| l.points.first().map(|p| (l.label.clone(), p.1))),
            );
        }
    }
    let total = rows.len();
    if total == 0 && ran(targets) {
        return no_data();
    }
    html! {
        table.results.compact {
            thead { tr { th { "Series" } th.num { "Value" } } }
            tbody {
                @for (label, v) in rows.iter().take(MAX_ROWS) {
                    @let color = threshold_color(&p.thresholds, *v);
                    tr { td { (label) } td.num style=[color.map(|c| format!("color:{c}"))] { (units::format(unit, *v, p.decimals)) } }
                }
            }
        }
        @if total > MAX_ROWS { p.small.muted { "Showing " (MAX_ROWS) " of " (total) " rows." } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_promql::QueryValue;

    fn empty(expr: &str) -> (String, Option<String>, Outcome) {
        (
            expr.to_string(),
            None,
            Outcome::Range(QueryResult {
                value: QueryValue::Matrix(Vec::new()),
                warnings: Vec::new(),
                infos: Vec::new(),
                ordered: false,
            }),
        )
    }

    /// The example dashboard on a fresh install showed a big green "No data" in its stat.
    #[test]
    fn a_panel_without_series_says_no_data_neutrally() {
        let targets = [empty("sum(rate(http_requests_total[5m]))")];
        let stat = Panel {
            kind: PanelKind::Stat,
            ..Panel::default()
        };
        let html = stat_panel(&stat, &targets, "short").into_string();
        assert!(html.contains("data-testid=\"no-data\""), "{html}");
        assert!(!html.contains("stat-value"), "no green stat value: {html}");
        let range = TimeRange {
            name: "1h".into(),
            start_ms: 0,
            end_ms: 3_600_000,
            step_ms: 15_000,
            end: None,
            step: None,
        };
        let html = timeseries_panel(&Panel::default(), &targets, &range, "short").into_string();
        assert!(html.contains("data-testid=\"no-data\""), "{html}");
    }
}
