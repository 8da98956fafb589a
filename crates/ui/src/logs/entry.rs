//! One line of the results: a summary row (time, level, service, logger, the message's
//! first line) that opens, with `<details>`, to the whole message with its traceback,
//! every field as a link that adds it to the search, and the searches for the same
//! request, the same trace and the lines around it.

use maud::{Markup, html};
use pharos_logs::StoredLog;
use pharos_model::LogLevel;
use serde_json::{Map, Value};

use super::{View, is_field_name, quote_value, seconds};

/// Characters of the first line shown in the summary; the rest is behind the click.
const SUMMARY_CHARS: usize = 400;

pub fn level_class(level: Option<LogLevel>) -> &'static str {
    match level {
        Some(LogLevel::Trace) => "trace",
        Some(LogLevel::Debug) => "debug",
        Some(LogLevel::Info) => "info",
        Some(LogLevel::Notice) => "notice",
        Some(LogLevel::Warning) => "warning",
        Some(LogLevel::Error) => "error",
        Some(LogLevel::Critical) => "critical",
        None => "none",
    }
}

pub fn entry(s: &StoredLog, view: &View, show_date: bool) -> Markup {
    let e = &s.entry;
    let mut lines = e.message.lines();
    let first = lines.next().unwrap_or("");
    let more = lines.count();
    let short: String = first.chars().take(SUMMARY_CHARS).collect();
    let time_format = if show_date {
        "%m-%d %H:%M:%S%.3f"
    } else {
        "%H:%M:%S%.3f"
    };
    let level = level_class(e.level);
    let mut fields = Vec::new();
    flatten("", &e.fields, &mut fields);
    let request_id = e.request_id();
    html! {
        li class={ "log-entry lvl-" (level) } data-id=(s.id) {
            details {
                summary {
                    time.t datetime=(e.time.to_rfc3339()) { (e.time.format(time_format)) }
                    span class={ "level " (level) } { (e.level.map_or("—", |l| l.as_str())) }
                    span.svc { (e.service) }
                    @if let Some(l) = &e.logger { span.logger { (l) } }
                    span.msg { (short) @if short.len() < first.len() { "…" } }
                    @if more > 0 { span.tag.more { "+" (more) " line" @if more != 1 { "s" } } }
                }
                div.log-detail {
                    pre.log-message { (e.message) }
                    p.log-links {
                        @if let Some(r) = request_id {
                            a href=(view.search(&format!("request_id={}", quote_value(r)))) data-testid="same-request" { "Same request" }
                        }
                        @if let Some(t) = &e.trace_id {
                            a href=(view.search(&format!("trace_id={}", quote_value(t)))) data-testid="same-trace" { "Same trace" }
                            @if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                                a href={ "/traces/" (t.to_ascii_lowercase()) } data-testid="trace-refs" { "This trace: spans, errors and lines" }
                            }
                        }
                        a href=(around(e.time.timestamp_millis(), &e.service)) { "Lines around it (same service, ±1 min)" }
                        a href={ "/api/v1/logs/" (s.id) } { "JSON" }
                    }
                    table.log-fields {
                        tbody {
                            tr { td { "time" } td { code { (e.time.format("%Y-%m-%d %H:%M:%S%.f UTC")) } } }
                            tr { td { "received" } td { code { (e.received.format("%Y-%m-%d %H:%M:%S%.f UTC")) } } }
                            (row(view, "service", Some(&e.service)))
                            (row(view, "level", e.level.map(|l| l.as_str())))
                            (row(view, "logger", e.logger.as_deref()))
                            (row(view, "host", e.host.as_deref()))
                            (row(view, "source", Some(e.source.as_str())))
                            (row(view, "trace_id", e.trace_id.as_deref()))
                            @for (k, v) in &fields {
                                @match v {
                                    Value::String(s) => { (row(view, k, Some(s))) }
                                    Value::Number(_) | Value::Bool(_) => { (row(view, k, Some(&v.to_string()))) }
                                    other => { tr { td { (k) } td { code { (other.to_string()) } } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A field and its value, the value a link narrowing the search to it.
fn row(view: &View, field: &str, value: Option<&str>) -> Markup {
    let Some(value) = value else {
        return html! {};
    };
    html! {
        tr {
            td { (field) }
            td {
                @if is_field_name(field) {
                    a.filter href=(view.with_filter(field, value)) title={ "Add " (field) "=" (quote_value(value)) " to the search" } { code { (value) } }
                } @else { code { (value) } }
            }
        }
    }
}

/// Nested objects as dotted names (`http.status`), the way the search language names them.
fn flatten<'a>(prefix: &str, map: &'a Map<String, Value>, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in map {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) if !inner.is_empty() => flatten(&name, inner, out),
            v => out.push((name, v)),
        }
    }
}

/// Everything the same service wrote in the two minutes around `ms`.
pub(crate) fn around(ms: i64, service: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("q", &format!("service={}", quote_value(service)));
    s.append_pair("range", "2m");
    s.append_pair("end", &seconds(ms + 60_000));
    format!("/logs?{}", s.finish())
}
