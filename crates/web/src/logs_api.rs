//! The log endpoints. Ingest in the protocols shippers already speak — the Loki push API
//! (`POST /loki/api/v1/push`, JSON or snappy protobuf), OTLP/HTTP logs (`POST /v1/logs`),
//! and `POST /api/v1/logs` (JSON lines or plain text, the service named by the request) —
//! each redacted with the error store's rules, then answered only once durable. And the
//! search API the log explorer reads: `GET /api/v1/logs` (newest first, cursor paging),
//! `/api/v1/logs/counts`, `/api/v1/logs/histogram`, `/api/v1/logs/tail` (server-sent
//! events), `/api/v1/logs/{id}`, `/api/v1/logs/stats`, `/api/v1/log_rules`, and
//! `/api/v1/traces/{trace_id}` (error events, transactions and log lines of one trace).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pharos_app::logs::{LogBody, LogQuery, SearchRequest, StoredLog, TimeRange};
use pharos_model::{LogEntry, RejectedLine};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SharedState;
use crate::api::ApiError;

/// Compressed bodies as they arrive.
pub const MAX_BODY_BYTES: usize = 32 << 20;
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

use pharos_app::logs::Accepted;

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn log_body<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> LogBody<'a> {
    LogBody {
        content_type: header_str(headers, header::CONTENT_TYPE),
        content_encoding: header_str(headers, header::CONTENT_ENCODING),
        body,
    }
}

/// An ingest refusal. A store that cannot write now (disk full, read-only) answers 503
/// with `Retry-After`, which shippers honour and retry after, and takes writes again as
/// soon as the disk does.
fn refused(e: pharos_app::AppError) -> Response {
    let unavailable = matches!(e, pharos_app::AppError::Unavailable(_));
    let mut resp = ApiError::from(e).into_response();
    if unavailable {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            pharos_app::health::STORE_RETRY_AFTER_SECS.into(),
        );
    }
    resp
}

fn rejected_json(rejected: &[RejectedLine]) -> Value {
    json!(
        rejected
            .iter()
            .take(100)
            .map(|r| json!({"position": r.position, "reason": r.reason}))
            .collect::<Vec<_>>()
    )
}

/// `POST /loki/api/v1/push`: 204 once stored, as Loki answers. A batch where nothing
/// could be read is a 400 with the reasons; one where some entries were refused still
/// answers 204 (the rest is stored, so a shipper must not resend it) and says how many in
/// `X-Pharos-Rejected`.
pub async fn loki_push(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let accepted = state
        .accept_loki_push(log_body(&headers, &body))
        .await
        .map_err(refused)?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if !accepted.rejected.is_empty() {
        resp.headers_mut()
            .insert("x-pharos-rejected", accepted.rejected.len().into());
    }
    Ok(resp)
}

/// `POST /v1/logs`: OTLP/HTTP. The answer is an `ExportLogsServiceResponse` in the
/// request's encoding; refused records are reported as a partial success.
pub async fn otlp_logs(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let answer = state
        .accept_otlp_logs(log_body(&headers, &body))
        .await
        .map_err(refused)?;
    let content_type = if answer.protobuf {
        "application/x-protobuf"
    } else {
        "application/json"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], answer.body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct IngestParams {
    service: Option<String>,
}

/// `POST /api/v1/logs?service=bot`: JSON lines, a JSON array, or plain text.
pub async fn ingest(
    State(state): State<SharedState>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let service = params
        .service
        .or_else(|| header_str(&headers, "x-pharos-service".parse().unwrap()).map(String::from))
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "name the service: `?service=<name>` or the `X-Pharos-Service` header",
            )
            .with_field("service")
            .into_response()
        })?;
    let Accepted {
        stored: accepted,
        rejected,
    } = state
        .accept_http_logs(&service, log_body(&headers, &body))
        .await
        .map_err(refused)?;
    let status = if accepted == 0 && !rejected.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"accepted": accepted, "rejected": rejected_json(&rejected)})),
    )
        .into_response())
}

/// The time range of a search: `from` / `to` (RFC 3339 or Unix seconds), or `since`
/// (`15m`, `24h`) back from now; the last hour when nothing is given.
#[derive(Debug, Default, Deserialize)]
pub struct RangeParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub since: Option<String>,
}

fn parse_instant(s: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    let s = s.trim();
    if s == "now" {
        return Ok(Utc::now());
    }
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        return DateTime::from_timestamp_millis((f * 1000.0).round() as i64).ok_or_else(|| {
            ApiError::bad_request(format!("{field}: out of range")).with_field(field)
        });
    }
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{field}: {s:?} is neither RFC 3339 (2026-01-31T12:00:00Z) nor Unix seconds"
            ))
            .with_field(field)
        })
}

impl RangeParams {
    pub fn resolve(&self) -> Result<TimeRange, ApiError> {
        let end = match &self.to {
            Some(t) if !t.is_empty() => parse_instant(t, "to")?,
            _ => Utc::now(),
        };
        let start = match (&self.from, &self.since) {
            (Some(f), _) if !f.is_empty() => parse_instant(f, "from")?,
            (_, Some(s)) if !s.is_empty() => {
                let d: pharos_model::HumanDuration = s.parse().map_err(|_| {
                    ApiError::bad_request(format!("since: {s:?} is not a duration like 15m or 24h"))
                        .with_field("since")
                })?;
                chrono::Duration::from_std(d.as_duration())
                    .ok()
                    .and_then(|d| end.checked_sub_signed(d))
                    .ok_or_else(|| ApiError::bad_request("since: too long").with_field("since"))?
            }
            _ => end - chrono::Duration::hours(1),
        };
        if start > end {
            return Err(ApiError::bad_request("from is after to").with_field("from"));
        }
        Ok(TimeRange { start, end })
    }
}

fn parse_query(q: Option<&str>) -> Result<LogQuery, ApiError> {
    Ok(pharos_app::logs::parse_query(q)?)
}

#[derive(Debug, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    #[serde(flatten)]
    range: RangeParams,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// An entry as the API shows it: the entry's own fields plus its `id`.
pub fn stored_json(s: &StoredLog) -> Value {
    let mut v = serde_json::to_value(&s.entry).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), Value::String(s.id.clone()));
    }
    v
}

/// `GET /api/v1/logs?q=…&since=1h&limit=100&cursor=…`: newest first.
pub async fn search(
    State(state): State<SharedState>,
    Query(p): Query<SearchParams>,
) -> Result<Json<Value>, ApiError> {
    let req = SearchRequest {
        query: parse_query(p.q.as_deref())?,
        range: p.range.resolve()?,
        limit: p.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
        cursor: p.cursor.filter(|c| !c.is_empty()),
    };
    let page = state.search_logs(req).await?;
    Ok(Json(json!({
        "entries": page.entries.iter().map(stored_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
        "total": page.total,
    })))
}

#[derive(Debug, Deserialize)]
pub struct CountParams {
    q: Option<String>,
    by: Option<String>,
    #[serde(flatten)]
    range: RangeParams,
    limit: Option<usize>,
}

/// `GET /api/v1/logs/counts?by=error_type&q=level>=ERROR`: matching lines counted by a
/// field's values, largest first.
pub async fn counts(
    State(state): State<SharedState>,
    Query(p): Query<CountParams>,
) -> Result<Json<Value>, ApiError> {
    let query = parse_query(p.q.as_deref())?;
    let range = p.range.resolve()?;
    let by = p
        .by
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("by: name the field to count by").with_field("by"))?;
    let limit = p.limit.unwrap_or(20).clamp(1, 1000);
    let rows = state.count_logs_by(query, range, by.clone(), limit).await?;
    Ok(Json(json!({"by": by, "counts": rows})))
}

#[derive(Debug, Deserialize)]
pub struct HistogramParams {
    q: Option<String>,
    #[serde(flatten)]
    range: RangeParams,
    buckets: Option<usize>,
}

/// `GET /api/v1/logs/histogram?q=…&since=24h&buckets=60`: counts per time bucket, by level.
pub async fn histogram(
    State(state): State<SharedState>,
    Query(p): Query<HistogramParams>,
) -> Result<Json<Value>, ApiError> {
    let query = parse_query(p.q.as_deref())?;
    let range = p.range.resolve()?;
    let buckets = p.buckets.unwrap_or(60).clamp(1, 500);
    let h = state.log_histogram(query, range, buckets).await?;
    Ok(Json(serde_json::to_value(&h).unwrap_or(Value::Null)))
}

/// `GET /api/v1/logs/{id}`.
pub async fn get_one(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(stored_json(&state.log_entry(id).await?)))
}

/// `GET /api/v1/logs/stats`: disk use, entries, lines received and refused.
pub async fn stats(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        serde_json::to_value(state.log_stats()?).unwrap_or(Value::Null),
    ))
}

/// `GET /api/v1/log_rules`: each log rule with its state and recent matches.
pub async fn rules(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"rules": state.log_rule_status()?})))
}

#[derive(Debug, Deserialize)]
pub struct TailParams {
    q: Option<String>,
}

/// `GET /api/v1/logs/tail?q=…`: server-sent events, one `log` event per matching entry as
/// it is stored; a `lagged` event says how many were skipped when the reader fell behind.
pub async fn tail(
    State(state): State<SharedState>,
    Query(p): Query<TailParams>,
) -> Result<Response, ApiError> {
    let query = Arc::new(parse_query(p.q.as_deref())?);
    let rx = state.subscribe_logs()?;
    let stream = futures_util::stream::unfold(
        (rx, query, std::collections::VecDeque::<Event>::new()),
        |(mut rx, query, mut queue)| async move {
            loop {
                if let Some(ev) = queue.pop_front() {
                    return Some((
                        Ok::<Event, std::convert::Infallible>(ev),
                        (rx, query, queue),
                    ));
                }
                match rx.recv().await {
                    Ok(batch) => queue.extend(
                        batch
                            .iter()
                            .filter(|e| query.matches(e))
                            .map(|e| Event::default().event("log").data(entry_line(e))),
                    ),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        queue.push_back(Event::default().event("lagged").data(n.to_string()))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn entry_line(e: &LogEntry) -> String {
    serde_json::to_string(e).unwrap_or_default()
}

/// `GET /api/v1/traces/{trace_id}`: everything Pharos holds for one trace — the error
/// events (with their issues and spans), the transactions, the spans, and the log lines —
/// and the waterfall the trace page draws: `waterfall` lists them in tree order by kind and
/// index into `spans`, `events` and `logs`, with depth and offset; `services` the services
/// involved with their counts and transactions.
pub async fn trace(
    State(state): State<SharedState>,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = state.trace(&trace_id).await?;
    let w = t.waterfall();
    Ok(Json(json!({
        "trace_id": t.trace_id,
        "events": t.errors.events,
        "transactions": t.errors.transactions,
        "spans": t.errors.spans,
        "spans_cut": w.spans_cut,
        "logs": t.lines.iter().map(stored_json).collect::<Vec<_>>(),
        "start": w.start,
        "duration_ms": w.duration_ms,
        "services": w.services,
        "waterfall": w.rows,
    })))
}
