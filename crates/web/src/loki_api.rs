//! Loki's HTTP query API over the log store, with Loki's parameters, JSON shapes and
//! plain-text errors, so Grafana's Loki data source and `logcli` read Pharos's logs:
//! `/loki/api/v1/query` and `/query_range` (GET, or POST with a form), `/labels`,
//! `/label/{name}/values`, `/series`, `/index/stats`, `/status/buildinfo`, and the live
//! tail over WebSocket (`/loki/api/v1/tail`). The push endpoint is in `logs_api.rs`;
//! LogQL itself is `pharos_logs::logql`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pharos_app::AppError;
use pharos_app::loki_query::{
    Direction, Labels, Logql, LogqlLimits, LogqlRequest, LogqlStream, QueryAnswer, QueryStats,
    TimeRange, parse_logql,
};
use pharos_model::LogEntry;
use serde_json::{Value, json};

use crate::SharedState;
use crate::request_params::RequestParams;

/// Lines a log query returns when the request names no `limit` (Loki's default).
const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted (Loki's `max_entries_limit_per_query` default).
const MAX_LIMIT: usize = 5000;
/// The longest time range a query may cover (Loki's `max_query_length` default, 721h).
const MAX_RANGE_NS: i64 = 721 * 3600 * 1_000_000_000;

/// A Loki error: the status and a plain-text message, as Loki writes them.
pub struct LokiError {
    status: StatusCode,
    message: String,
}

impl LokiError {
    fn bad(message: impl Into<String>) -> LokiError {
        LokiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<AppError> for LokiError {
    fn from(e: AppError) -> LokiError {
        let api = crate::api::ApiError::from(e);
        LokiError {
            status: api.status,
            message: api.message,
        }
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}

/// Parameters from the query string and, for POST, a form body.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `start` / `end` (defaults: an hour before `end`, and now) as Loki reads them.
    fn range(&self) -> Result<(i64, i64), LokiError> {
        let now = now_ns();
        let end = match self.get("end") {
            Some(v) => parse_time(v, "end")?,
            None => now,
        };
        let start = match self.get("start") {
            Some(v) => parse_time(v, "start")?,
            None => end - 3600 * 1_000_000_000,
        };
        if end < start {
            return Err(LokiError::bad(
                "end timestamp must not be before or equal to start time",
            ));
        }
        Ok((start, end))
    }

    fn time_range(&self) -> Result<TimeRange, LokiError> {
        let (start, end) = self.range()?;
        Ok(TimeRange::new(
            DateTime::from_timestamp_nanos(start),
            // The store's ranges end before `end`; Loki's metadata calls include it.
            DateTime::from_timestamp_nanos(end.saturating_add(1)),
        ))
    }

    fn limit(&self) -> Result<usize, LokiError> {
        let Some(v) = self.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        let n: i64 = v
            .parse()
            .map_err(|_| LokiError::bad(format!("invalid limit {v:?}: not a whole number")))?;
        if n <= 0 {
            return Err(LokiError::bad("limit must be a positive value"));
        }
        if n as u64 > MAX_LIMIT as u64 {
            return Err(LokiError::bad(format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({n} > {MAX_LIMIT})"
            )));
        }
        Ok(n as usize)
    }

    fn direction(&self) -> Result<Direction, LokiError> {
        match self.get("direction").map(|d| d.to_ascii_lowercase()) {
            None => Ok(Direction::Backward),
            Some(d) if d == "backward" => Ok(Direction::Backward),
            Some(d) if d == "forward" => Ok(Direction::Forward),
            Some(d) => Err(LokiError::bad(format!(
                "invalid direction {d:?}: use forward or backward"
            ))),
        }
    }

    fn query(&self) -> Result<&str, LokiError> {
        self.get("query")
            .ok_or_else(|| LokiError::bad("query parameter is missing"))
    }
}

/// `limit` bounds the lines of a log query; Grafana sends its line limit with metric
/// queries too, where Loki ignores it, and so does Pharos.
fn line_limit(p: &Params, query: &Logql) -> Result<usize, LokiError> {
    if query.is_log_query() {
        p.limit()
    } else {
        Ok(DEFAULT_LIMIT)
    }
}

fn now_ns() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Loki's timestamps: Unix seconds with a fraction, Unix seconds (10 digits or fewer),
/// Unix nanoseconds, or RFC 3339.
fn parse_time(v: &str, name: &str) -> Result<i64, LokiError> {
    let t = parse_time_any(v).ok_or_else(|| {
        LokiError::bad(format!(
            "invalid {name} {v:?}: not a Unix timestamp or RFC 3339"
        ))
    })?;
    // Before 1970 holds no logs, and a time there could only overflow the arithmetic.
    if t < 0 {
        return Err(LokiError::bad(format!("invalid {name} {v:?}: before 1970")));
    }
    Ok(t)
}

fn parse_time_any(v: &str) -> Option<i64> {
    if v.contains('.')
        && let Ok(f) = v.parse::<f64>()
    {
        let ns = f * 1e9;
        if !ns.is_finite() || ns.abs() > i64::MAX as f64 {
            return None;
        }
        return Some(ns.round() as i64);
    }
    if let Ok(n) = v.parse::<i64>() {
        if v.trim_start_matches('-').len() <= 10 {
            return n.checked_mul(1_000_000_000);
        }
        return Some(n);
    }
    DateTime::parse_from_rfc3339(v)
        .ok()
        .and_then(|d| d.timestamp_nanos_opt())
}

/// `step`: seconds (with a fraction) or a duration (`15000ms`, `1m`).
fn parse_step(v: &str) -> Result<i64, LokiError> {
    if let Ok(f) = v.parse::<f64>() {
        let ns = f * 1e9;
        if ns.is_finite() && ns.abs() < i64::MAX as f64 {
            return Ok(ns.round() as i64);
        }
    }
    v.parse::<pharos_model::HumanDuration>()
        .ok()
        .and_then(|d| i64::try_from(d.as_duration().as_nanos()).ok())
        .ok_or_else(|| LokiError::bad(format!("invalid step {v:?}: not seconds or a duration")))
}

fn check_length(start: i64, end: i64) -> Result<(), LokiError> {
    if end.saturating_sub(start) > MAX_RANGE_NS {
        return Err(LokiError::bad(format!(
            "the query time range exceeds the limit (query length: {}h, limit: 721h)",
            end.saturating_sub(start) / 3_600_000_000_000
        )));
    }
    Ok(())
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

/// Prometheus's float format: shortest, no exponent for ordinary values, NaN, ±Inf.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

fn seconds(ns: i64) -> Value {
    json!(ns as f64 / 1e9)
}

fn stats_json(s: &QueryStats) -> Value {
    let per_sec = |n: u64| {
        if s.exec_seconds > 0.0 {
            (n as f64 / s.exec_seconds) as u64
        } else {
            0
        }
    };
    json!({"summary": {
        "bytesProcessedPerSecond": per_sec(s.bytes_read),
        "linesProcessedPerSecond": per_sec(s.lines_read),
        "totalBytesProcessed": s.bytes_read,
        "totalLinesProcessed": s.lines_read,
        "execTime": s.exec_seconds,
    }})
}

fn answer_json(answer: QueryAnswer, stats: &QueryStats) -> Value {
    let (kind, result) = match answer {
        QueryAnswer::Streams(streams) => (
            "streams",
            json!(
                streams
                    .into_iter()
                    .map(|s| json!({
                        "stream": s.labels,
                        "values": s.values.into_iter().map(|(t, l)| json!([t.to_string(), l])).collect::<Vec<_>>(),
                    }))
                    .collect::<Vec<_>>()
            ),
        ),
        QueryAnswer::Vector(series) => (
            "vector",
            json!(
                series
                    .into_iter()
                    .filter_map(|s| {
                        let (t, v) = *s.points.first()?;
                        Some(json!({"metric": s.labels, "value": [seconds(t), number(v)]}))
                    })
                    .collect::<Vec<_>>()
            ),
        ),
        QueryAnswer::Matrix(series) => (
            "matrix",
            json!(
                series
                    .into_iter()
                    .map(|s| json!({
                        "metric": s.labels,
                        "values": s.points.into_iter().map(|(t, v)| json!([seconds(t), number(v)])).collect::<Vec<_>>(),
                    }))
                    .collect::<Vec<_>>()
            ),
        ),
        QueryAnswer::Scalar(t, v) => ("scalar", json!([seconds(t), number(v)])),
    };
    json!({"resultType": kind, "result": result, "stats": stats_json(stats)})
}

/// `/loki/api/v1/query_range`: `query`, `start`, `end`, `limit`, `direction`, `step`.
pub async fn query_range(
    State(state): State<SharedState>,
    RequestParams(params): RequestParams,
) -> Result<Response, LokiError> {
    let p = Params(params);
    let query = parse_logql(p.query()?)?;
    let (start, end) = p.range()?;
    check_length(start, end)?;
    let step = match p.get("step") {
        Some(s) => parse_step(s)?,
        None => ((end - start) / 250 / 1_000_000_000).max(1) * 1_000_000_000,
    };
    if step <= 0 {
        return Err(LokiError::bad(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let req = LogqlRequest {
        start_ns: start,
        end_ns: end,
        step_ns: step,
        instant: false,
        limit: line_limit(&p, &query)?,
        direction: p.direction()?,
    };
    let (answer, stats) = state.loki_query(query, req, LogqlLimits::default()).await?;
    Ok(success(answer_json(answer, &stats)))
}

/// `/loki/api/v1/query`: an instant metric query at `time` (default now).
pub async fn query(
    State(state): State<SharedState>,
    RequestParams(params): RequestParams,
) -> Result<Response, LokiError> {
    let p = Params(params);
    let query = parse_logql(p.query()?)?;
    let time = match p.get("time") {
        Some(t) => parse_time(t, "time")?,
        None => now_ns(),
    };
    let req = LogqlRequest {
        start_ns: time,
        end_ns: time,
        step_ns: 1,
        instant: true,
        limit: line_limit(&p, &query)?,
        direction: p.direction()?,
    };
    let (answer, stats) = state.loki_query(query, req, LogqlLimits::default()).await?;
    Ok(success(answer_json(answer, &stats)))
}

/// The optional `query` of the metadata calls; Grafana sends `{}` for "everything".
fn optional_selector(p: &Params, name: &str) -> Result<Option<Logql>, LokiError> {
    match p.get(name).map(str::trim) {
        None | Some("{}") => Ok(None),
        Some(q) => Ok(Some(parse_logql(q)?)),
    }
}

/// `/loki/api/v1/labels?start=&end=&query=`.
pub async fn labels(
    State(state): State<SharedState>,
    RequestParams(params): RequestParams,
) -> Result<Response, LokiError> {
    let p = Params(params);
    let range = p.time_range()?;
    let query = optional_selector(&p, "query")?;
    Ok(success(json!(state.loki_label_names(query, range).await?)))
}

/// `/loki/api/v1/label/{name}/values?start=&end=&query=`.
pub async fn label_values(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    RequestParams(params): RequestParams,
) -> Result<Response, LokiError> {
    let p = Params(params);
    let range = p.time_range()?;
    let query = optional_selector(&p, "query")?;
    Ok(success(json!(
        state.loki_label_values(name, query, range).await?
    )))
}

/// `/loki/api/v1/series?match[]=…&start=&end=`: label sets of the matching lines.
pub async fn series(
    State(state): State<SharedState>,
    RequestParams(params): RequestParams,
) -> Result<Response, LokiError> {
    let p = Params(params);
    let range = p.time_range()?;
    let mut matches = Vec::new();
    for m in p.all("match[]").chain(p.all("match")) {
        if m.trim() != "{}" && !m.trim().is_empty() {
            matches.push(parse_logql(m)?);
        }
    }
    let sets: Vec<Labels> = state.loki_series(matches, range).await?;
    Ok(success(json!(sets)))
}

/// `/loki/api/v1/index/stats?query=&start=&end=`: Grafana's query size estimate.
pub async fn index_stats(
    State(state): State<SharedState>,
    RequestParams(params): RequestParams,
) -> Result<Response, LokiError> {
    let p = Params(params);
    let range = p.time_range()?;
    let query = optional_selector(&p, "query")?;
    let s = state.loki_index_stats(query, range).await?;
    Ok(axum::Json(json!({
        "streams": s.streams,
        "chunks": s.chunks,
        "entries": s.entries,
        "bytes": s.bytes,
    }))
    .into_response())
}

/// `/loki/api/v1/status/buildinfo`: what `logcli` and Grafana read to learn the version.
pub async fn buildinfo() -> Response {
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
    .into_response()
}

/// Live tails open at once: each holds a subscription to every stored batch.
const MAX_TAILS: usize = 64;
static OPEN_TAILS: AtomicUsize = AtomicUsize::new(0);

/// One of the [`MAX_TAILS`] places, given back when the tail ends.
struct TailSlot;

impl TailSlot {
    fn take() -> Option<TailSlot> {
        OPEN_TAILS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_TAILS).then_some(n + 1)
            })
            .ok()
            .map(|_| TailSlot)
    }
}

impl Drop for TailSlot {
    fn drop(&mut self) {
        OPEN_TAILS.fetch_sub(1, Ordering::AcqRel);
    }
}

fn tail_message(streams: Vec<LogqlStream>) -> String {
    json!({"streams": streams
        .into_iter()
        .map(|s| json!({
            "stream": s.labels,
            "values": s.values.into_iter().map(|(t, l)| json!([t.to_string(), l])).collect::<Vec<_>>(),
        }))
        .collect::<Vec<_>>()})
    .to_string()
}

/// `/loki/api/v1/tail?query=…&limit=…&start=…` over WebSocket, as Grafana's live mode and
/// `logcli query --tail` use it: first the newest `limit` lines since `start` (default an
/// hour ago), oldest first, then each new matching line as it is stored, one message per
/// stored batch: `{"streams": [{"stream": {…}, "values": [["<ns>", "<line>"]]}]}`.
pub async fn tail(
    State(state): State<SharedState>,
    RawQuery(raw): RawQuery,
    ws: WebSocketUpgrade,
) -> Result<Response, LokiError> {
    let p = Params(RequestParams::from_query(raw.as_deref()).0);
    let query = parse_logql(p.query()?)?;
    if !query.is_log_query() {
        return Err(LokiError::bad("tail needs a log query, not a metric query"));
    }
    let limit = p.limit()?;
    let now = now_ns();
    let start = match p.get("start") {
        Some(v) => parse_time(v, "start")?,
        None => now - 3600 * 1_000_000_000,
    };
    check_length(start, now)?;
    let slot = TailSlot::take().ok_or(LokiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        message: format!("more than {MAX_TAILS} live tails are open; close one and try again"),
    })?;
    // Subscribe before reading what is stored, so no line falls between the two.
    let rx = state.subscribe_logs()?;
    let req = LogqlRequest {
        start_ns: start,
        end_ns: now.saturating_add(1),
        step_ns: 1,
        instant: false,
        limit,
        direction: Direction::Backward,
    };
    let (answer, _) = state
        .loki_query(query.clone(), req, LogqlLimits::default())
        .await?;
    let QueryAnswer::Streams(mut history) = answer else {
        return Err(LokiError::bad("tail needs a log query"));
    };
    for s in &mut history {
        s.values.reverse();
    }
    Ok(ws.on_upgrade(move |socket| run_tail(socket, Arc::new(query), history, rx, slot)))
}

async fn run_tail(
    mut socket: WebSocket,
    query: Arc<Logql>,
    history: Vec<LogqlStream>,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Vec<LogEntry>>>,
    _slot: TailSlot,
) {
    let sent: HashSet<(i64, String)> = history
        .iter()
        .flat_map(|s| s.values.iter().cloned())
        .collect();
    if !history.is_empty()
        && socket
            .send(Message::Text(tail_message(history).into()))
            .await
            .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            batch = rx.recv() => match batch {
                Ok(batch) => {
                    let mut streams: std::collections::BTreeMap<Labels, Vec<(i64, String)>> =
                        std::collections::BTreeMap::new();
                    for e in batch.iter() {
                        let Some((labels, line)) = query.process(e) else { continue };
                        let t = e.time.timestamp_nanos_opt().unwrap_or(0);
                        if sent.contains(&(t, line.clone())) {
                            continue;
                        }
                        streams.entry(labels).or_default().push((t, line));
                    }
                    if streams.is_empty() {
                        continue;
                    }
                    let streams = streams
                        .into_iter()
                        .map(|(labels, values)| LogqlStream { labels, values })
                        .collect();
                    if socket.send(Message::Text(tail_message(streams).into())).await.is_err() {
                        return;
                    }
                }
                // A reader that fell behind skips what it missed, as Loki drops entries.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_loki_reads_them() {
        assert_eq!(
            parse_time("1700000000", "t").ok(),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            parse_time("1700000000000000123", "t").ok(),
            Some(1_700_000_000_000_000_123)
        );
        assert_eq!(
            parse_time("1700000000.5", "t").ok(),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", "t").ok(),
            Some(1_700_000_000_000_000_000)
        );
        assert!(parse_time("yesterday", "t").is_err());
        assert!(parse_time("-9223372036854775808", "t").is_err());
        assert_eq!(parse_step("15000ms").ok(), Some(15_000_000_000));
        assert_eq!(parse_step("30").ok(), Some(30_000_000_000));
    }

    #[test]
    fn numbers_print_as_prometheus_does() {
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
