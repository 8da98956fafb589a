//! Transactions grouped by name (throughput, p50/p95/p99, failure rate) and one
//! transaction's slowest samples with a span waterfall, read from the span store (so a
//! streamed segment's children that arrived after it are there), or from the stored
//! transaction event for one stored before the span store.

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use pharos_ingest::sentry::event::parse_timestamp;
use pharos_store::Store;
use pharos_store::errors::{Project, TransactionSample, TransactionSummary};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, Nav, ago, millis};
use super::{error_page, guard, waterfall};
use pharos_web::SharedState;

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

const PERIODS: &[(&str, i64)] = &[("1h", 1), ("24h", 24), ("7d", 168), ("30d", 720)];

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
    let p = q.map(|q| q.0).unwrap_or_default();
    let project = p.project.as_deref().and_then(|s| s.parse::<i64>().ok());
    let period = p.period.clone().unwrap_or_else(|| "24h".into());
    let hours = PERIODS
        .iter()
        .find(|(n, _)| *n == period)
        .map_or(24, |(_, h)| *h);
    let now = Utc::now();
    let since = now - Duration::hours(hours);
    let name = p.name.clone();
    let loaded = state
        .with_store(move |s| load(s, project, name.as_deref(), since, now))
        .await;
    let data = match loaded {
        Ok(v) => v,
        Err(e) => return error_page(e, signed_in),
    };
    let view = View {
        project,
        period: &period,
        name: p.name.as_deref(),
    };
    let body = body(&view, &data);
    layout::page("Performance", Nav::Performance, signed_in, body).into_response()
}

/// What the page shows, read from the error store in one go.
struct Loaded {
    projects: Vec<Project>,
    summaries: Vec<TransactionSummary>,
    /// The slowest samples of the one transaction asked for by name.
    samples: Vec<TransactionSample>,
}

fn load(
    s: &Store,
    project: Option<i64>,
    name: Option<&str>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> pharos_store::Result<Loaded> {
    let projects = s.errors().projects()?;
    let mut summaries = s.errors().transaction_summaries(project, since, now)?;
    let samples = match name {
        Some(n) => {
            summaries.retain(|t| t.name == n);
            match project.or(summaries.first().map(|t| t.project_id)) {
                Some(pid) => s.errors().slowest_transactions(pid, n, since, 10)?,
                None => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    Ok(Loaded {
        projects,
        summaries,
        samples,
    })
}

/// What the page was asked for, so its links keep the project and period.
struct View<'a> {
    project: Option<i64>,
    period: &'a str,
    name: Option<&'a str>,
}

impl View<'_> {
    /// One transaction's page, or with `None` all of them.
    fn link(&self, name: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(pr) = self.project {
            s.append_pair("project", &pr.to_string());
        }
        s.append_pair("period", self.period);
        if let Some(n) = name {
            s.append_pair("name", n);
        }
        format!("/transactions?{}", s.finish())
    }
}

fn body(v: &View, d: &Loaded) -> Markup {
    html! {
        h1 { "Performance" }
        (filter_form(v, &d.projects))
        @if let Some(n) = v.name { p.small { a href=(v.link(None)) { "← All transactions" } } h2 { code { (n) } } }
        @if d.summaries.is_empty() {
            p.muted #no-transactions { "No transactions in the last " (v.period) ". Set " code { "traces_sample_rate" } " in " code { "sentry_sdk.init" } " to send them." }
        } @else {
            (summary_table(v, &d.summaries, &d.projects))
        }
        @if !d.samples.is_empty() {
            h2 { "Slowest samples" }
            @for sample in &d.samples {
                details.sample open[std::ptr::eq(sample, &d.samples[0])] {
                    summary { strong { (millis(Some(sample.duration_ms))) } " · " (sample.status) " · " (ago(Some(sample.start))) @if let Some(r) = &sample.release { " · " (r) } " · " code.small { (sample.event_id) } }
                    (waterfall(sample))
                }
            }
        }
    }
}

fn filter_form(v: &View, projects: &[Project]) -> Markup {
    html! {
        form.search method="get" action="/transactions" {
            select name="project" aria-label="Project" {
                option value="" { "All projects" }
                @for pr in projects { option value=(pr.id) selected[v.project == Some(pr.id)] { (pr.name) } }
            }
            select name="period" aria-label="Period" {
                @for (n, _) in PERIODS { option value=(n) selected[*n == v.period] { "last " (n) } }
            }
            @if let Some(n) = v.name { input type="hidden" name="name" value=(n); }
            button.primary type="submit" { "Show" }
        }
    }
}

fn summary_table(v: &View, summaries: &[TransactionSummary], projects: &[Project]) -> Markup {
    let project_name = |id: i64| {
        projects
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    };
    html! {
        table.transactions {
            thead { tr { th { "Transaction" } th { "Project" } th.num { "Count" } th.num { "Per min" } th.num { "p50" } th.num { "p95" } th.num { "p99" } th.num { "Max" } th.num { "Failure rate" } } }
            tbody {
                @for t in summaries {
                    tr {
                        td { a href=(v.link(Some(&t.name))) { (t.name) } @if let Some(op) = &t.op { span.small.muted { " " (op) } } }
                        td { (project_name(t.project_id)) }
                        td.num { (t.count) }
                        td.num { (format!("{:.2}", t.throughput)) }
                        td.num { (millis(Some(t.p50_ms))) }
                        td.num.p95 { (millis(Some(t.p95_ms))) }
                        td.num { (millis(Some(t.p99_ms))) }
                        td.num { (millis(Some(t.max_ms))) }
                        td.num { (format!("{:.1}%", t.failure_rate * 100.0)) }
                    }
                }
            }
        }
    }
}

/// Spans as bars on the transaction's time line.
fn waterfall(sample: &TransactionSample) -> Markup {
    let start = sample
        .payload
        .get("start_timestamp")
        .and_then(parse_timestamp)
        .unwrap_or(sample.start);
    let offset = |at: DateTime<Utc>| (at - start).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    let mut spans: Vec<(f64, f64, String, String)> = if sample.spans.is_empty() {
        event_spans(&sample.payload, start)
    } else {
        sample
            .spans
            .iter()
            .map(|s| {
                (
                    offset(s.start),
                    s.duration_ms,
                    s.op.clone().unwrap_or_default(),
                    s.name.clone(),
                )
            })
            .collect()
    };
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let rows: Vec<waterfall::Row> = spans
        .into_iter()
        .map(|(offset_ms, duration_ms, op, desc)| waterfall::Row {
            depth: 0,
            service: None,
            label: html! { code { (op) } " " span.small { (desc) } },
            status: None,
            timing: waterfall::Timing::Bar {
                offset_ms,
                duration_ms,
            },
            kind: waterfall::RowKind::Span,
        })
        .collect();
    waterfall::table(sample.duration_ms, &rows)
}

/// The spans of a transaction event as stored in its payload: (offset, duration, op,
/// description).
fn event_spans(tx: &Value, start: DateTime<Utc>) -> Vec<(f64, f64, String, String)> {
    tx.get("spans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let a = s.get("start_timestamp").and_then(parse_timestamp)?;
            let b = s.get("timestamp").and_then(parse_timestamp).unwrap_or(a);
            let off = (a - start).num_microseconds()? as f64 / 1000.0;
            let len = (b - a).num_microseconds()? as f64 / 1000.0;
            let op = s
                .get("op")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let desc = s
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            Some((off, len, op, desc))
        })
        .collect()
}
