//! The log explorer. `/logs`: the search language over a time range, a histogram of the
//! matching lines stacked by level (a bar zooms into its time), the lines newest first
//! (each opens to its whole message, its fields as filters, and its request and trace),
//! paging to older lines, counts by any field, and a live tail (`logs_tail.js`, over
//! `/api/v1/logs/tail`); everything but the live tail works without JavaScript.
//! `/logs/rules` shows the log rules' state and `/logs/storage` the store's disk use and
//! retention (`status.rs`). Lines are drawn by `entry.rs`, the histogram by
//! `histogram.rs`; a line's trace id leads to the trace page (`crate::traces`).

pub(crate) mod entry;
mod histogram;
mod status;

pub use status::{rules, storage};

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{Markup, PreEscaped, html};
use pharos_logs::{FieldCount, Histogram, LogQuery, QueryError, SearchPage, SearchRequest};
use serde::Deserialize;

use super::guard;
use super::layout::{self, Nav};
use super::time_range::{self, TimeRange};
use pharos_web::SharedState;

/// Lines per page: enough to scroll through, few enough to render quickly.
const PAGE_SIZE: usize = 100;
/// Bars the histogram draws when the step is left to the page.
const BARS: i64 = 60;
/// Bars at most, whatever step is typed.
const MAX_BARS: i64 = 240;
/// Values a count-by table lists.
const COUNT_ROWS: usize = 25;
/// Field names offered for counting before any line is seen.
const COMMON_FIELDS: [&str; 6] = ["level", "service", "logger", "error_type", "host", "source"];

const SCRIPT: &str = include_str!("../logs_tail.js");

pub async fn script() -> impl IntoResponse {
    crate::layout::javascript(SCRIPT)
}

#[derive(Deserialize, Default)]
pub struct SearchParams {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    end: Option<String>,
    /// A window by its ends, as alert links and the log API name it (`range`/`end` win).
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

/// What the page was asked for, to build links that change one thing and keep the rest.
pub(crate) struct View<'a> {
    pub query: &'a str,
    pub range: &'a TimeRange,
    pub by: Option<&'a str>,
}

impl View<'_> {
    /// The search page for another query, same range and count-by.
    pub fn search(&self, query: &str) -> String {
        self.link(query, self.range.end.as_deref(), None)
    }

    /// The current query with `field=value` added.
    pub fn with_filter(&self, field: &str, value: &str) -> String {
        self.search(&add_filter(self.query, field, value))
    }

    /// The page of lines older than `cursor`, the range pinned to the first page's end so
    /// the pages do not drift while someone reads.
    pub fn older(&self, cursor: &str) -> String {
        let end = seconds(self.range.end_ms);
        self.link(self.query, Some(&end), Some(cursor))
    }

    fn link(&self, query: &str, end: Option<&str>, cursor: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if !query.is_empty() {
            s.append_pair("q", query);
        }
        s.append_pair("range", &self.range.name);
        if let Some(e) = end {
            s.append_pair("end", e);
        }
        if let Some(st) = &self.range.step {
            s.append_pair("step", st);
        }
        if let Some(b) = self.by {
            s.append_pair("by", b);
        }
        if let Some(c) = cursor {
            s.append_pair("cursor", c);
        }
        format!("/logs?{}", s.finish())
    }
}

/// Unix seconds with milliseconds, as the `end` field reads them.
pub(crate) fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// `value` as the search language reads it after `=`: bare when it is one plain word,
/// else quoted with `\"`, `\\`, `\n` and `\t` escaped.
pub(crate) fn quote_value(value: &str) -> String {
    let plain = !value.is_empty()
        && !value.chars().any(|c| {
            c.is_whitespace() || matches!(c, '(' | ')' | ',' | '{' | '}' | '"' | '`' | '\\')
        });
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether the language accepts `name` before a comparison.
pub(crate) fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | '/' | ':'))
}

/// `query` narrowed by `field=value`. A query with `OR` is put in parentheses first, or
/// the filter would bind to its last alternative only.
pub(crate) fn add_filter(query: &str, field: &str, value: &str) -> String {
    let term = format!("{field}={}", quote_value(value));
    let q = query.trim();
    if q.is_empty() {
        return term;
    }
    if q.split_whitespace().any(|w| w == term) {
        return q.to_string();
    }
    if q.split_whitespace().any(|w| w == "OR") {
        format!("({q}) {term}")
    } else {
        format!("{q} {term}")
    }
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The histogram's bar width: the typed step, unless it would draw too many bars.
fn bar_width(range: &mut TimeRange, notes: &mut Vec<String>) {
    let span = range.range_ms().max(1);
    // `auto_step` picks a step for 300 points; asking for 300/BARS times the span gives
    // about BARS bars of a round width.
    let auto = time_range::auto_step(span * 300 / BARS);
    match range.step {
        Some(_) if span / range.step_ms.max(1) <= MAX_BARS => {}
        Some(ref typed) => {
            notes.push(format!(
                "step {typed:?} makes more than {MAX_BARS} bars; using {}",
                pharos_app::dashboards::variables::duration(auto)
            ));
            range.step = None;
            range.step_ms = auto;
        }
        None => range.step_ms = auto,
    }
}

pub(crate) struct Loaded {
    pub page: Result<SearchPage, String>,
    pub histogram: Result<Histogram, String>,
    pub counts: Option<Result<Vec<FieldCount>, String>>,
}

async fn load(
    logs: &Arc<pharos_app::logs::Logs>,
    query: LogQuery,
    range: &TimeRange,
    cursor: Option<String>,
    by: Option<String>,
) -> Loaded {
    let store = logs.store.clone();
    let search_range = pharos_logs::TimeRange::new(utc(range.start_ms), utc(range.end_ms));
    // Bars on round times (12:05, not 12:04:37) so a bar's link zooms to a round range.
    let step = range.step_ms.max(1);
    let bar_start = range.start_ms.div_euclid(step).saturating_mul(step);
    // Saturating: `from` and `to` come from the address bar, up to the ends of i64.
    let bar_end = range
        .end_ms
        .saturating_add(step - 1)
        .div_euclid(step)
        .saturating_mul(step);
    let bars = (bar_end.saturating_sub(bar_start) / step).clamp(1, MAX_BARS + 2) as usize;
    let bar_range = pharos_logs::TimeRange::new(
        utc(bar_start),
        utc(bar_start.saturating_add(step.saturating_mul(bars as i64))),
    );
    let done = tokio::task::spawn_blocking(move || {
        let page = store
            .search(&SearchRequest {
                query: query.clone(),
                range: search_range,
                limit: PAGE_SIZE,
                cursor,
            })
            .map_err(|e| e.to_string());
        let histogram = store
            .histogram(&query, bar_range, bars)
            .map_err(|e| e.to_string());
        let counts = by.map(|f| {
            store
                .count_by(&query, search_range, &f, COUNT_ROWS)
                .map_err(|e| e.to_string())
        });
        Loaded {
            page,
            histogram,
            counts,
        }
    })
    .await;
    done.unwrap_or_else(|e| Loaded {
        page: Err(format!("search task failed: {e}")),
        histogram: Err(String::new()),
        counts: None,
    })
}

pub async fn search(
    pharos_web::access::Visitor(caller): pharos_web::access::Visitor,
    State(state): State<SharedState>,
    uri: Uri,
    q: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed_in = match guard(&state, &caller, None, &uri) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(logs) = state.logs.clone() else {
        return turned_off("Logs", Nav::Logs, signed_in);
    };
    let mut p = q.map(|q| q.0).unwrap_or_default();
    if p.range.is_none()
        && let (Some(from), Some(to)) = (&p.from, &p.to)
        && let Some((range, end)) = time_range::from_ends(from, to)
    {
        (p.range, p.end) = (Some(range), Some(end));
    }
    let now = Utc::now().timestamp_millis();
    let (mut range, mut notes) = time_range::from_params(
        p.range.as_deref(),
        p.end.as_deref(),
        p.step.as_deref(),
        "1h",
        now,
    );
    bar_width(&mut range, &mut notes);
    let query = p.q.clone().unwrap_or_default();
    let by =
        p.by.as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(String::from);
    let cursor = p.cursor.clone().filter(|c| !c.is_empty());
    let parsed = LogQuery::parse(&query);
    let loaded = match &parsed {
        Ok(lq) => Some(load(&logs, lq.clone(), &range, cursor.clone(), by.clone()).await),
        Err(_) => None,
    };
    let view = View {
        query: &query,
        range: &range,
        by: by.as_deref(),
    };
    let body = html! {
        h1 { "Logs" }
        (search_form(&view))
        @for n in &notes { p.small.muted { (n) } }
        @match (&parsed, &loaded) {
            (Err(e), _) => { (query_error(&query, e)) (help()) }
            (Ok(_), Some(l)) => { (results(&view, l, cursor.is_some())) }
            (Ok(_), None) => {}
        }
        script src="/logs/tail.js" defer {}
    };
    layout::page("Logs", Nav::Logs, signed_in, body).into_response()
}

fn search_form(view: &View) -> Markup {
    html! {
        form.explore #log-search method="get" action="/logs" {
            div.querybox {
                input #logquery type="search" name="q" value=(view.query) autocomplete="off" spellcheck="false" placeholder="e.g. level>=ERROR service=bot timeout -retry" aria-label="Log search" autofocus;
            }
            div.controls {
                (time_range::picker(view.range))
                @if let Some(b) = view.by { input type="hidden" name="by" value=(b); }
                button.primary type="submit" { "Search" }
            }
        }
    }
}

/// The error, and the query with the byte the parser stopped at marked.
fn query_error(query: &str, e: &QueryError) -> Markup {
    let mut at = e.position.min(query.len());
    while !query.is_char_boundary(at) {
        at -= 1;
    }
    let end = query[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    html! {
        div.error-box role="alert" data-testid="query-error" {
            strong { "The search does not parse:" } " " (e.message)
            pre.query-fault {
                (&query[..at])
                mark { @if at < query.len() { (&query[at..end]) } @else { (PreEscaped("&nbsp;")) } }
                (&query[end..])
            }
            p.small { "At character " (query[..at].chars().count() + 1) "." }
        }
    }
}

fn help() -> Markup {
    html! {
        details.help open {
            summary { "How to search" }
            ul.examples {
                li { code { "timeout" } " — lines whose message has the word; " code { "\"connection reset\"" } " a phrase" }
                li { code { "level>=WARNING" } ", " code { "service=bot" } ", " code { "logger=app.db" } ", " code { "http.status>=500" } " — fields, with " code { "= != < <= > >=" } }
                li { code { "error_type=~\"Key.*\"" } " a regex; " code { "-retry" } " or " code { "NOT retry" } " leaves lines out; " code { "OR" } " and parentheses combine" }
                li { code { "{service=\"bot\"} |= \"timeout\"" } " — LogQL's form works too" }
            }
        }
    }
}

fn results(view: &View, l: &Loaded, older_page: bool) -> Markup {
    let page = match &l.page {
        Ok(p) => p,
        Err(e) => return html! { div.error-box role="alert" { "The search failed: " (e) } },
    };
    let show_date = view.range.range_ms() > 86_400_000;
    let field_names = field_names(page);
    html! {
        @match &l.histogram {
            Ok(h) => { (histogram::chart(h, view)) }
            Err(e) if !e.is_empty() => { div.warn-box { "No histogram: " (e) } }
            Err(_) => {}
        }
        div.logs-grid {
            section.log-lines {
                div.log-toolbar {
                    p.small.muted #log-count {
                        @if older_page { "Older lines" }
                        @else if let Some(t) = page.total { (t) " matching line" @if t != 1 { "s" } }
                        @else { "Matching lines" }
                        @if !page.entries.is_empty() {
                            ", newest first, showing " (page.entries.len())
                        }
                        " · times in UTC"
                    }
                    span.live-controls {
                        button.secondary #live-toggle type="button" hidden data-query=(view.query) title="Show new matching lines as they arrive" { "Live" }
                        button.secondary #live-pause type="button" hidden { "Pause" }
                        span.small.muted #live-status aria-live="polite" {}
                    }
                }
                ol.log-list #log-results data-testid="log-results" {
                    @for s in &page.entries { (entry::entry(s, view, show_date)) }
                }
                @if page.entries.is_empty() {
                    p.muted #log-empty {
                        @if older_page { "No older lines in this range." }
                        @else { "No lines match in this range. Widen the range or loosen the search." }
                    }
                }
                div.pager {
                    @if older_page { a href=(view.search(view.query)) { "« Newest" } }
                    @if let Some(c) = &page.next_cursor { a.button #older href=(view.older(c)) rel="next" { "Older »" } }
                }
            }
            aside.log-side { (count_box(view, l.counts.as_ref(), &field_names)) }
        }
    }
}

/// The field names of the lines shown, for the count-by suggestions.
fn field_names(page: &SearchPage) -> Vec<String> {
    let mut names: Vec<String> = COMMON_FIELDS.iter().map(|s| s.to_string()).collect();
    for s in &page.entries {
        for (k, v) in &s.entry.fields {
            if !v.is_object() && is_field_name(k) && !names.contains(k) && names.len() < 60 {
                names.push(k.clone());
            }
        }
    }
    names
}

fn count_box(
    view: &View,
    counts: Option<&Result<Vec<FieldCount>, String>>,
    field_names: &[String],
) -> Markup {
    let count_link = |field: &str| {
        let v = View {
            query: view.query,
            range: view.range,
            by: Some(field),
        };
        v.search(view.query)
    };
    html! {
        div.count-box data-testid="count-by" {
            h2 { "Count by" }
            form.count-form method="get" action="/logs" {
                @if !view.query.is_empty() { input type="hidden" name="q" value=(view.query); }
                input type="hidden" name="range" value=(view.range.name);
                @if let Some(e) = &view.range.end { input type="hidden" name="end" value=(e); }
                @if let Some(s) = &view.range.step { input type="hidden" name="step" value=(s); }
                input #count-by name="by" value=(view.by.unwrap_or("")) list="log-fields" placeholder="field, e.g. error_type" aria-label="Field to count by" autocomplete="off";
                datalist #log-fields { @for n in field_names { option value=(n) {} } }
                button.secondary type="submit" { "Count" }
            }
            p.small.muted.quick {
                @for (i, f) in COMMON_FIELDS.iter().take(4).enumerate() {
                    @if i > 0 { " · " }
                    a href=(count_link(f)) { (f) }
                }
            }
            @match (view.by, counts) {
                (Some(by), Some(Ok(rows))) => {
                    @if rows.is_empty() {
                        p.small.muted { "No matching line has a " code { (by) } " field." }
                    } @else {
                        @let max = rows.iter().map(|r| r.count).max().unwrap_or(1).max(1);
                        table.results.compact.counts-table data-testid="counts" {
                            thead { tr { th { (by) } th.num { "Lines" } } }
                            tbody {
                                @for r in rows {
                                    tr {
                                        td.barcell {
                                            span.fill style={ "width:" (r.count * 100 / max) "%" } {}
                                            @if is_field_name(by) {
                                                a.text href=(view.with_filter(by, &r.value)) title={ "Add " (by) "=" (quote_value(&r.value)) " to the search" } { (r.value) }
                                            } @else { span.text { (r.value) } }
                                        }
                                        td.num { (r.count) }
                                    }
                                }
                            }
                        }
                        @if rows.len() >= COUNT_ROWS { p.small.muted { "The " (COUNT_ROWS) " most frequent values." } }
                    }
                }
                (Some(_), Some(Err(e))) => { div.error-box { "Cannot count: " (e) } }
                _ => {}
            }
        }
    }
}

/// The page when the `logs:` section turns the store off.
pub(crate) fn turned_off(title: &str, nav: Nav, signed_in: bool) -> Response {
    layout::page(
        title,
        nav,
        signed_in,
        html! {
            h1 { "Logs" }
            div.onboarding #logs-off {
                p { "Logs are turned off: the log store is not running, so nothing is received or searchable." }
                p { "Turn them on in " code { "pharos.yaml" } " and restart Pharos:" }
                pre { code { "logs:\n  enabled: true" } }
            }
        },
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_quoted_and_added_once() {
        assert_eq!(add_filter("", "service", "bot"), "service=bot");
        assert_eq!(
            add_filter("level>=ERROR", "error_type", "KeyError"),
            "level>=ERROR error_type=KeyError"
        );
        assert_eq!(
            add_filter("a service=bot", "service", "bot"),
            "a service=bot"
        );
        assert_eq!(add_filter("a OR b", "host", "h1"), "(a OR b) host=h1");
        assert_eq!(quote_value("two words"), "\"two words\"");
        assert_eq!(quote_value("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
        assert_eq!(quote_value(""), "\"\"");
        for (field, value) in [
            ("msg_id", "a b"),
            ("path", "/x?y=(1)"),
            ("q", "\"quoted\" \\ back"),
        ] {
            let q = add_filter("level>=INFO", field, value);
            assert!(LogQuery::parse(&q).is_ok(), "{q}");
        }
    }

    #[test]
    fn bars_follow_the_range_unless_a_step_is_typed() {
        let now = 1_700_000_000_000;
        let (mut r, mut notes) = time_range::from_params(Some("1h"), None, None, "1h", now);
        bar_width(&mut r, &mut notes);
        assert_eq!(r.step_ms, 60_000);
        let (mut r, mut notes) = time_range::from_params(Some("1h"), None, Some("1s"), "1h", now);
        bar_width(&mut r, &mut notes);
        assert_eq!((r.step_ms, notes.len()), (60_000, 1));
        assert_eq!(seconds(1_700_000_000_123), "1700000000.123");
    }
}
