//! `/slos`: every SLO of the config with its indicator now, the error budget left (as a
//! share and as time) and how fast it burns; `/slos/{name}`: one SLO with its budget over
//! the window, its burn rate per alert window and the rules that alert on it.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{Markup, html};
use pharos_app::slos::SloStatus;
use pharos_model::slo::{BURN_TIERS, Indicator};

use super::chart::{self, Line, Mark, TimeChart};
use super::layout::{self, Nav};
use super::{error_page, guard};
use pharos_web::{PublicPage, SharedState};

pub async fn list(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Alerts), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let slos = match state.slos().await {
        Ok(s) => s,
        Err(e) => return error_page(e, signed_in),
    };
    let body = html! {
        h1 { "Service level objectives" }
        @if slos.is_empty() {
            p.muted #no-slos {
                "No SLOs yet. Write them under " code { "slos:" } " in pharos.yaml — an objective over a window on a monitor's checks, "
                "a ratio of two counters or a latency histogram — and reload; each gets burn-rate alerts."
            }
        } @else {
            div.table-scroll {
                table.results #slos {
                    thead { tr { th { "SLO" } th { "Objective" } th.num { "Now" } th.num { "Budget left" } th { "Burning" } } }
                    tbody {
                        @for s in &slos {
                            tr data-slo=(s.spec.name) {
                                td { a href={ "/slos/" (s.spec.name) } { (s.spec.name) }
                                    @if let Some(d) = &s.spec.description { br; span.small.muted { (d) } } }
                                td { (s.spec.objective) "% over " (s.window_text) br; span.small.muted { (indicator(&s.spec.indicator)) } }
                                td.num { (percent(s.sli)) }
                                td.num { (budget_left(s)) }
                                td { (burn_badge(s.burn)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page("SLOs", Nav::Slos, signed_in, body).into_response()
}

pub async fn detail(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    Path(name): Path<String>,
) -> Response {
    let signed_in = match guard(&state, &caller, Some(PublicPage::Alerts), &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (s, points) = match state.slo(&name).await {
        Ok(r) => r,
        Err(e) => return error_page(e, signed_in),
    };
    let end = Utc::now().timestamp_millis();
    let window_ms = s.spec.window.as_duration().as_millis() as i64;
    let lines = [Line {
        label: "error budget left".into(),
        points: points
            .iter()
            .map(|p| (p.t_ms, p.budget_remaining * 100.0))
            .collect(),
    }];
    let marks = [Mark {
        value: 0.0,
        color: "red".into(),
    }];
    let label = format!("Error budget left over {}, in %", s.window_text);
    let chart = chart::time_series(&TimeChart {
        lines: &lines,
        start_ms: end - window_ms,
        end_ms: end,
        step_ms: (window_ms / 60).max(60_000),
        unit: "%",
        decimals: Some(1),
        marks: &marks,
        width: 800,
        height: 220,
        label: &label,
    });
    let body = html! {
        p.small { a href="/slos" { "← SLOs" } }
        h1 { (s.spec.name) " " (burn_badge(s.burn)) }
        @if let Some(d) = &s.spec.description { p { (d) } }
        div.slo-tiles {
            div.slo-tile { span.label { "Objective" } strong { (s.spec.objective) "%" } span.small.muted { "over " (s.window_text) } }
            div.slo-tile #slo-sli { span.label { "Now" } strong { (percent(s.sli)) } span.small.muted { (indicator(&s.spec.indicator)) } }
            div.slo-tile #slo-budget { span.label { "Error budget left" } strong { (budget_left(&s)) } span.small.muted { "of " (duration(s.budget_seconds)) } }
        }
        h2 { "Error budget over the window" }
        (chart)
        h2 { "Burn rate" }
        p.small.muted { "How many times faster than the objective allows errors come now (1× spends the budget exactly over the window). "
            a href={ "/rules?group=slo:" (s.spec.name) } { "The alerting rules" } " fire "
            code { "SLOBurnRateFast" } " (critical) and " code { "SLOBurnRateSlow" } " (warning) when both windows of a tier pass it." }
        div.table-scroll {
            table.results.compact #slo-burn {
                thead { tr { th { "Tier" } th { "Long window" } th { "Short window" } th.num { "Threshold" } } }
                tbody {
                    @for t in BURN_TIERS {
                        tr {
                            td { @if t.page { "page (fast)" } @else { "ticket (slow)" } }
                            td { (t.long) ": " (rate(s.burn_rates.get(t.long).copied().flatten())) }
                            td { (t.short) ": " (rate(s.burn_rates.get(t.short).copied().flatten())) }
                            td.num { (t.factor) "×" }
                        }
                    }
                }
            }
        }
    };
    layout::page(&s.spec.name, Nav::Slos, signed_in, body).into_response()
}

fn indicator(i: &Indicator) -> Markup {
    html! {
        @match i {
            Indicator::Monitor(id) => { "checks of monitor " a href={ "/monitors/" (id) } { (id) } }
            Indicator::Ratio { errors, total } => { "errors " code { (errors) } " of " code { (total) } }
            Indicator::Latency { histogram, threshold } => { "requests of " code { (histogram) } " under " (threshold) }
            Indicator::Sessions(project) => { "crash-free sessions of project " (project) }
        }
    }
}

fn percent(v: Option<f64>) -> Markup {
    html! {
        @match v {
            Some(v) => { (format!("{v:.3}")) "%" }
            None => { span.muted { "no data" } }
        }
    }
}

fn rate(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".into(), |v| format!("{v:.2}×"))
}

fn budget_left(s: &SloStatus) -> Markup {
    html! {
        @match (s.budget_remaining, s.budget_remaining_seconds) {
            (Some(b), Some(secs)) => {
                span class={ @if b < 0.0 { "bad" } @else if b < 0.25 { "warn" } @else { "good" } } { (format!("{:.1}", b * 100.0)) "%" }
                " · " (duration(secs.max(0.0))) @if b < 0.0 { " (overspent by " (duration(-secs)) ")" }
            }
            _ => { span.muted { "no data" } }
        }
    }
}

fn burn_badge(burn: &str) -> Markup {
    let (class, text) = match burn {
        "fast" => ("badge down", "burning fast"),
        "slow" => ("badge degraded", "burning"),
        "ok" => ("badge up", "within budget"),
        _ => ("badge unknown", "no data"),
    };
    html! { span class=(class) data-burn=(burn) { (text) } }
}

/// `3h 36m`, `12m`, `45s`.
fn duration(secs: f64) -> String {
    let s = secs.round() as i64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}
