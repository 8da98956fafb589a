//! `/logs/rules`: each log rule with its state, its matches in the window and in all,
//! the last line it matched, and its patterns with their own counts (what
//! `/api/v1/log_rules` answers). `/logs/storage`: the log store's disk use per day,
//! entries, indexing lag, and the retention and disk budget in force.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use pharos_evaluate::log_rules::{LogRuleKind, LogRuleStatus};
use pharos_logs::{Keep, LogSettings, LogStoreStats};

use super::{quote_value, turned_off};
use crate::guard;
use crate::layout::{self, Nav, ago};
use crate::units;
use pharos_web::SharedState;

pub async fn rules(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(logs) = state.logs.clone() else {
        return turned_off("Log rules", Nav::LogRules, signed_in);
    };
    let status = logs.rules.as_ref().map(|r| r.status()).unwrap_or_default();
    let firing = status.iter().filter(|r| r.state == "firing").count();
    let body = html! {
        h1 { "Log rules" }
        p.small.muted {
            "Rules on log lines from the " code { "logs.rules" } " section of " code { "pharos.yaml" } "; "
            "their alerts go through the same routing as every other alert. "
            a href="/alerts" { "Alerts" }
        }
        @if status.is_empty() {
            div.onboarding #no-log-rules {
                p { "No log rules. Add some to " code { "pharos.yaml" } " and reload:" }
                pre { code { (EXAMPLE) } }
            }
        } @else {
            p { (status.len()) " rule" @if status.len() != 1 { "s" } ", " strong { (firing) " firing" } }
            table.results.log-rules data-testid="log-rules" {
                thead { tr {
                    th { "Rule" } th { "State" } th { "Window" } th.num { "In window" } th.num { "Since start" } th { "Last match" }
                } }
                tbody { @for r in &status { (rule_row(r)) } }
            }
        }
    };
    layout::page("Log rules", Nav::LogRules, signed_in, body).into_response()
}

const EXAMPLE: &str = "logs:\n  rules:\n    - name: database_unreachable\n      kind: forbidden\n      patterns: ['could not connect to server', 'OperationalError']\n    - name: payment_retries\n      kind: rate_limited\n      patterns: ['retrying payment']\n      max: 20\n      per: 5m\n    - name: error_burst\n      kind: threshold\n      level: ERROR\n      max: 50\n      per: 1m";

fn kind_text(k: LogRuleKind) -> &'static str {
    match k {
        LogRuleKind::Forbidden => "fires on any match",
        LogRuleKind::RateLimited => "fires above a rate",
        LogRuleKind::Threshold => "fires above a number of lines at a level",
        LogRuleKind::Count => "counts only",
    }
}

fn rule_row(r: &LogRuleStatus) -> Markup {
    let (badge, label) = match (r.state, r.kind) {
        ("firing", _) => ("firing", "Firing"),
        (_, LogRuleKind::Count) => ("paused", "Counting"),
        _ => ("resolved", "OK"),
    };
    html! {
        tr data-rule=(r.name) {
            td {
                strong { (r.name) } br;
                span.tag title=(kind_text(r.kind)) { (r.kind.as_str()) }
                @if let Some(m) = r.max { span.small.muted { " more than " (m) " per " (r.window) } }
                @if !r.patterns.is_empty() {
                    table.results.compact.patterns {
                        thead { tr { th { "Pattern" } th { "Severity" } th.num { "In window" } th.num { "Since start" } } }
                        tbody {
                            @for p in &r.patterns {
                                tr {
                                    td { a href=(pattern_search(&p.pattern)) title="Search the stored lines for this pattern" { code { (p.pattern) } } }
                                    td { (crate::severity::tag(&p.severity)) }
                                    td.num { (p.matches_in_window) }
                                    td.num { (p.matches_total) }
                                }
                            }
                        }
                    }
                }
                @for f in &r.firing {
                    p.small {
                        span.badge.firing { "Firing" } " " (crate::severity::tag(&f.severity)) " " (f.service)
                        @if let Some(p) = &f.pattern { " · " code { (p) } }
                        " · since " (ago(Some(f.since)))
                    }
                }
            }
            td { span class={ "badge " (badge) } data-state=(r.state) { (label) } }
            td { (r.window) }
            td.num { (r.matches_in_window) @if r.matches_in_window_capped { "+" } }
            td.num { (r.matches_total) }
            td.last-match {
                @match &r.last_match {
                    Some(m) => {
                        (ago(Some(m.time))) " · " (m.service)
                        pre.small { (m.line) }
                    }
                    None => { span.muted { "none yet" } }
                }
            }
        }
    }
}

/// The stored lines a pattern would have matched, in the last day.
fn pattern_search(pattern: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("q", &format!("message=~{}", quote_value(pattern)));
    s.append_pair("range", "24h");
    format!("/logs?{}", s.finish())
}

pub async fn storage(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(logs) = state.logs.clone() else {
        return turned_off("Log storage", Nav::LogStorage, signed_in);
    };
    let store = logs.store.clone();
    // Sizes are read from the partitions' directories: not for the async threads.
    let read = tokio::task::spawn_blocking(move || (store.stats(), store.settings())).await;
    let body = match read {
        Ok((stats, settings)) => storage_body(&stats, &settings),
        Err(e) => html! { div.error-box { "Cannot read the log store's numbers: " (e) } },
    };
    layout::page("Log storage", Nav::LogStorage, signed_in, body).into_response()
}

fn bytes(n: u64) -> String {
    units::format("decbytes", n as f64, None)
}

fn keep(k: &Keep) -> String {
    k.to_string()
}

fn storage_body(stats: &LogStoreStats, settings: &LogSettings) -> Markup {
    let max_part = stats
        .partitions
        .iter()
        .map(|p| p.bytes)
        .max()
        .unwrap_or(1)
        .max(1);
    let budget = settings.max_disk_bytes();
    html! {
        h1 { "Log storage" }
        div.cards data-testid="log-stats" {
            div.card { div.label { "On disk" } div.value { (bytes(stats.bytes_total)) }
                @if let Some(b) = budget { div.small.muted { (format!("{:.0}", stats.bytes_total as f64 / b.max(1) as f64 * 100.0)) "% of " (bytes(b)) } } }
            div.card { div.label { "Write-ahead log" } div.value { (bytes(stats.wal_bytes)) } }
            div.card { div.label { "Entries" } div.value { (stats.entries) } }
            div.card { div.label { "Oldest" } div.value.small { (ago(stats.oldest)) } }
            div.card { div.label { "Newest" } div.value.small { (ago(stats.newest)) } }
            div.card { div.label { "Indexing lag" } div.value { (format!("{:.1} s", stats.indexing_lag_seconds)) }
                div.small.muted { (stats.indexing_lag_entries) " not yet searchable" } }
        }
        p.small.muted {
            "Since start: " (stats.lines_appended) " lines stored, " (stats.lines_refused) " refused, "
            (stats.lines_expired) " deleted by retention."
        }
        h2 { "Days" }
        @if stats.partitions.is_empty() {
            p.muted { "No day partition yet: nothing has been stored." }
        } @else {
            table.results.compact data-testid="partitions" {
                thead { tr { th { "Day (UTC)" } th { "Size" } th.num { "Entries" } } }
                tbody {
                    @for p in stats.partitions.iter().rev() {
                        tr {
                            td { a href={ "/logs?range=24h&end=" (p.day.succ_opt().unwrap_or(p.day).format("%Y-%m-%dT00:00")) } { (p.day) } }
                            td.barcell {
                                span.fill style={ "width:" (p.bytes * 100 / max_part) "%" } {}
                                span.text { (bytes(p.bytes)) }
                            }
                            td.num { (p.entries) }
                        }
                    }
                }
            }
        }
        h2 { "Retention" }
        table.results.compact data-testid="retention" {
            thead { tr { th { "Service" } th { "Level" } th { "Kept for" } } }
            tbody {
                @for r in &settings.retention.rules {
                    tr {
                        td { (r.service.as_deref().unwrap_or("any")) }
                        td { @match &r.level { Some(l) => { code { (l.to_string()) } } None => { "any" } } }
                        td { (keep(&r.keep)) }
                    }
                }
                tr.muted { td { "everything else" } td {} td { (keep(&settings.retention.default)) } }
            }
        }
        p.small.muted {
            "The first rule that matches decides. "
            @match budget {
                Some(b) => { "Disk budget " (bytes(b)) ": above it the oldest days lose what no " code { "forever" } " rule keeps." }
                None => { "No disk budget (" code { "logs.max_disk" } ")." }
            }
            " New lines become searchable every " (settings.commit_interval) "."
        }
    }
}
