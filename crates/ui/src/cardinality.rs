//! `/metrics/cardinality`: which metrics hold the series, which labels have the most
//! values, which label pairs are on the most series, and what keeps growing, with the
//! label that explodes on each growing metric named outright.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::metrics::encode;
use super::{error_page, guard};
use pharos_app::cardinality::{Count, Report, report};
use pharos_web::SharedState;
use pharos_web::api::ApiError;

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    limit: Option<usize>,
}

/// A label with at least this many values on one metric is called out.
const EXPLODING_VALUES: usize = 100;

pub async fn page(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let limit = q.ok().and_then(|q| q.0.limit).unwrap_or(20).clamp(1, 1000);
    let Some(m) = state.metrics_store.clone() else {
        return error_page(
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the metrics store is not enabled",
            ),
            signed_in,
        );
    };
    let history = state.cardinality.clone();
    let r = match tokio::task::spawn_blocking(move || report(&m.db, &history, limit)).await {
        Ok(r) => r,
        Err(e) => return error_page(ApiError::internal(e.to_string()), signed_in),
    };
    layout::page("Cardinality", Nav::Metrics, signed_in, body(&r)).into_response()
}

fn per(d: Duration) -> String {
    let s = d.as_secs();
    if s < 90 {
        format!("{s} s")
    } else {
        format!("{} min", (s + 30) / 60)
    }
}

fn growth(c: &Count) -> Markup {
    html! {
        @match c.growth {
            Some((g, d)) if g > 0 => { span.grow { "+" (g) } span.small.muted { " in " (per(d)) } }
            Some((g, d)) if g < 0 => { span.muted { (g) " in " (per(d)) } }
            Some(_) => { span.muted { "–" } }
            None => {}
        }
    }
}

fn bar_table(
    title: &str,
    what: &str,
    rows: &[Count],
    link: impl Fn(&str) -> Option<String>,
    show_growth: bool,
    testid: &str,
) -> Markup {
    let max = rows.iter().map(|c| c.value).max().unwrap_or(1).max(1);
    html! {
        section.card-table data-testid=(testid) {
            h2 { (title) }
            @if rows.is_empty() { p.muted { "Nothing yet." } } @else {
                table.cardinality {
                    thead { tr { th { "Name" } th.num { (what) } @if show_growth { th.num { "Growth" } } } }
                    tbody {
                        @for c in rows {
                            tr {
                                td {
                                    div.barcell {
                                        span.fill style={ "width:" (c.value * 100 / max) "%" } {}
                                        span.text { @match link(&c.name) { Some(href) => { a href=(href) { code { (c.name) } } }, None => { code { (c.name) } } } }
                                    }
                                }
                                td.num { (c.value) }
                                @if show_growth { td.num { (growth(c)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn body(r: &Report) -> Markup {
    let explore = |q: &str| Some(format!("/metrics/explore?tab=table&q={}", encode(q)));
    let count_query = |m: &str| explore(&format!("count by (__name__) ({{__name__=\"{m}\"}})"));
    let label_query = |l: &str| explore(&format!("count by ({l}) ({{{l}!=\"\"}})"));
    let pair_query = |p: &str| match p.split_once('=') {
        Some((n, v)) => explore(&format!("count by (__name__) ({{{n}=\"{v}\"}})")),
        None => None,
    };
    html! {
        h1 { "Cardinality" }
        p.small.muted { a href="/metrics/explore" { "← Explorer" } " · also as JSON: " a href="/api/v1/status/tsdb" { code { "/api/v1/status/tsdb" } } }
        div.cards {
            div.card { div.label { "Series in memory" } div.value data-testid="total-series" { (r.total_series) } }
            div.card { div.label { "Change" } div.value.small {
                @match r.total_growth { Some((g, d)) => { (if g > 0 { "+" } else { "" }) (g) " in " (per(d)) }, None => { "measuring…" } }
            } }
            div.card { div.label { "Metrics" } div.value { (r.total_metrics) } }
        }
        @let exploding: Vec<_> = r.suspects.iter().filter(|s| s.labels.first().is_some_and(|l| l.1 >= EXPLODING_VALUES)).collect();
        @if !exploding.is_empty() {
            div.warn-box data-testid="exploding" {
                strong { "Exploding label values. " }
                @for s in &exploding {
                    @if let Some((label, n)) = s.labels.first() {
                        div {
                            code { (s.metric) } " has " strong { (n) } " values of " code { (label) }
                            @if s.new_series_last_hour > 0 { " (" (s.new_series_last_hour) " new series in the last hour)" }
                            ". A label such as a user or request id makes a new series per value; drop it with "
                            code { "metric_relabel_configs" } " (action " code { "labeldrop" } ") or record it in logs or error events instead."
                        }
                    }
                }
            }
        }
        @let growing: Vec<_> = r.suspects.iter().filter(|s| s.growing).collect();
        @if !growing.is_empty() {
            section.card-table data-testid="growing" {
                h2 { "Growing" }
                p.small.muted { "Metrics gaining series"
                    @if r.total_growth.is_some() { " since the oldest snapshot (taken each minute, the last 15 kept)" } @else { " (series created in the last hour on top of older ones; per-minute growth appears after the next snapshot)" }
                    ", and their labels with the most values." }
                table.cardinality {
                    thead { tr { th { "Metric" } th.num { "Series" } th.num { "New (1 h)" } th.num { "Growth" } th { "Labels by values" } } }
                    tbody {
                        @for s in &growing {
                            @let g = r.growing.iter().find(|g| g.name == s.metric);
                            tr {
                                td { a href=[count_query(&s.metric)] { code { (s.metric) } } }
                                td.num { (s.series) }
                                td.num { (s.new_series_last_hour) }
                                td.num { @if let Some(g) = g { (growth(g)) } }
                                td.small { @for (i, (l, n)) in s.labels.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    @if *n >= EXPLODING_VALUES { strong.grow { code { (l) } " " (n) } } @else { code { (l) } " " (n) }
                                } }
                            }
                        }
                    }
                }
            }
        }
        div.cardinality-grid {
            (bar_table("Metrics by series", "Series", &r.metrics, count_query, r.total_growth.is_some(), "by-metric"))
            (bar_table("Labels by distinct values", "Values", &r.labels, label_query, r.total_growth.is_some(), "by-label"))
            (bar_table("Label pairs by series", "Series", &r.label_pairs, pair_query, false, "by-pair"))
            (bar_table("New series in the last hour", "Series", &r.new_last_hour, count_query, false, "new-series"))
        }
    }
}
