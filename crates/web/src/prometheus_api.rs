//! The Prometheus HTTP API over the metrics store, with Prometheus's JSON shapes and
//! error types, so Grafana's Prometheus data source, `promtool` and curl scripts work:
//! `/api/v1/query`, `/api/v1/query_range` (GET and POST), `/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/<name>/values`, `/api/v1/metadata`,
//! `/api/v1/targets`, `/api/v1/status/buildinfo`, and `POST /api/v1/write`
//! (remote_write 1.0).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pharos_model::series::{LabelMatcher, SeriesSource};
use pharos_promql::QueryError;
use serde_json::{Value, json};

use crate::SharedState;

pub use pharos_app::metrics_store::Metrics;

/// A Prometheus API error: status from the error type, body `{"status":"error",…}`.
struct PromError {
    kind: &'static str,
    message: String,
}

impl PromError {
    fn bad(message: impl Into<String>) -> Self {
        PromError {
            kind: "bad_data",
            message: message.into(),
        }
    }
}

impl From<QueryError> for PromError {
    fn from(e: QueryError) -> Self {
        PromError {
            kind: e.kind.as_str(),
            message: e.message,
        }
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let status = match self.kind {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "timeout" | "canceled" | "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "not_found" => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            axum::Json(json!({"status": "error", "errorType": self.kind, "error": self.message})),
        )
            .into_response()
    }
}

fn success(data: Value, warnings: Vec<String>, infos: Vec<String>) -> Response {
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if !infos.is_empty() {
        body["infos"] = json!(infos);
    }
    axum::Json(body).into_response()
}

fn metrics(state: &SharedState) -> Result<Arc<Metrics>, PromError> {
    state.metrics_store.clone().ok_or(PromError {
        kind: "unavailable",
        message: "the metrics store is not enabled".into(),
    })
}

/// Parameters from the query string and, for POST, a form body (both, as Prometheus).
fn params(
    method: &Method,
    query: Option<String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if method == Method::POST && form {
        out.extend(url::form_urlencoded::parse(body).into_owned());
    }
    out
}

fn get<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A time as Prometheus accepts it: Unix seconds (with fraction) or RFC 3339.
fn parse_time(s: &str, name: &str) -> Result<i64, PromError> {
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        return Ok((f * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis())
        .map_err(|_| {
            PromError::bad(format!(
                "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid timestamp"
            ))
        })
}

/// A duration as Prometheus accepts it: seconds (with fraction) or `5m`, `1h30m`.
fn parse_duration(s: &str, name: &str) -> Result<i64, PromError> {
    if let Ok(f) = s.parse::<f64>()
        && f.is_finite()
    {
        return Ok((f * 1000.0).round() as i64);
    }
    s.parse::<pharos_model::HumanDuration>()
        .map(|d| d.as_duration().as_millis() as i64)
        .map_err(|_| {
            PromError::bad(format!(
                "invalid parameter \"{name}\": cannot parse \"{s}\" to a valid duration"
            ))
        })
}

fn matchers(p: &[(String, String)]) -> Result<Vec<Vec<LabelMatcher>>, PromError> {
    p.iter()
        .filter(|(k, _)| k == "match[]")
        .map(|(_, v)| pharos_promql::parse_selector(v).map_err(PromError::from))
        .collect()
}

fn time_range(p: &[(String, String)]) -> Result<(i64, i64), PromError> {
    let start = get(p, "start")
        .map(|s| parse_time(s, "start"))
        .transpose()?
        .unwrap_or(i64::MIN / 2);
    let end = get(p, "end")
        .map(|s| parse_time(s, "end"))
        .transpose()?
        .unwrap_or(i64::MAX / 2);
    Ok((start, end))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PromError> + Send + 'static,
) -> Result<T, PromError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PromError {
            kind: "internal",
            message: e.to_string(),
        })?
}

pub async fn query(
    State(state): State<SharedState>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let m = metrics(&state)?;
        let p = params(&method, q, &headers, &body);
        let query = get(&p, "query")
            .ok_or_else(|| PromError::bad("invalid parameter \"query\": query is missing"))?
            .to_string();
        let t = get(&p, "time")
            .map(|s| parse_time(s, "time"))
            .transpose()?
            .unwrap_or_else(now_ms);
        let r = blocking(move || {
            m.engine
                .instant_query(m.db.as_ref(), &query, t)
                .map_err(PromError::from)
        })
        .await?;
        Ok::<_, PromError>(success(r.value.to_api_json(), r.warnings, r.infos))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn query_range(
    State(state): State<SharedState>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let m = metrics(&state)?;
        let p = params(&method, q, &headers, &body);
        let query = get(&p, "query")
            .ok_or_else(|| PromError::bad("invalid parameter \"query\": query is missing"))?
            .to_string();
        let start = parse_time(
            get(&p, "start")
                .ok_or_else(|| PromError::bad("invalid parameter \"start\": missing"))?,
            "start",
        )?;
        let end = parse_time(
            get(&p, "end").ok_or_else(|| PromError::bad("invalid parameter \"end\": missing"))?,
            "end",
        )?;
        let step = parse_duration(
            get(&p, "step").ok_or_else(|| PromError::bad("invalid parameter \"step\": missing"))?,
            "step",
        )?;
        let r = blocking(move || {
            m.engine
                .range_query(m.db.as_ref(), &query, start, end, step)
                .map_err(PromError::from)
        })
        .await?;
        Ok::<_, PromError>(success(r.value.to_api_json(), r.warnings, r.infos))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn series(
    State(state): State<SharedState>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let m = metrics(&state)?;
        let p = params(&method, q, &headers, &body);
        let sets = matchers(&p)?;
        if sets.is_empty() {
            return Err(PromError::bad("no match[] parameter provided"));
        }
        let (start, end) = time_range(&p)?;
        let limit = get(&p, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let data = blocking(move || {
            let mut all = std::collections::BTreeSet::new();
            for ms in sets {
                all.extend(m.db.series(&ms, start, end).map_err(|e| PromError {
                    kind: "execution",
                    message: e.to_string(),
                })?);
            }
            let v: Vec<Value> = all
                .iter()
                .take(limit.unwrap_or(usize::MAX))
                .map(|l| {
                    Value::Object(
                        l.iter()
                            .map(|x| (x.name.clone(), Value::String(x.value.clone())))
                            .collect(),
                    )
                })
                .collect();
            Ok(Value::Array(v))
        })
        .await?;
        Ok::<_, PromError>(success(data, vec![], vec![]))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn labels(
    State(state): State<SharedState>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    label_query(state, None, method, q, headers, body).await
}

pub async fn label_values(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    label_query(state, Some(name), method, q, headers, body).await
}

async fn label_query(
    state: SharedState,
    name: Option<String>,
    method: Method,
    q: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let m = metrics(&state)?;
        let p = params(&method, q, &headers, &body);
        let sets = matchers(&p)?;
        let (start, end) = time_range(&p)?;
        let limit = get(&p, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let data = blocking(move || {
            let sets = if sets.is_empty() { vec![vec![]] } else { sets };
            let mut all = std::collections::BTreeSet::new();
            for ms in sets {
                let r = match &name {
                    None => m.db.label_names(&ms, start, end),
                    Some(n) => m.db.label_values(n, &ms, start, end),
                };
                all.extend(r.map_err(|e| PromError {
                    kind: "execution",
                    message: e.to_string(),
                })?);
            }
            Ok(json!(
                all.into_iter()
                    .take(limit.unwrap_or(usize::MAX))
                    .collect::<Vec<_>>()
            ))
        })
        .await?;
        Ok::<_, PromError>(success(data, vec![], vec![]))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn metadata(State(state): State<SharedState>, RawQuery(q): RawQuery) -> Response {
    let run = async {
        let m = metrics(&state)?;
        let p = params(&Method::GET, q, &HeaderMap::new(), &Bytes::new());
        let limit = get(&p, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let list = m.scrape.metadata.list(get(&p, "metric"), limit);
        Ok::<_, PromError>(success(json!(list), vec![], vec![]))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn targets(State(state): State<SharedState>) -> Response {
    let run = async {
        let m = metrics(&state)?;
        let active: Vec<Value> = m
            .scrape
            .targets()
            .iter()
            .map(|t| {
                let h = t.health.read().unwrap_or_else(|p| p.into_inner()).clone();
                let labels = |l: &pharos_model::series::LabelSet| Value::Object(l.iter().map(|x| (x.name.clone(), Value::String(x.value.clone()))).collect());
                json!({
                    "discoveredLabels": labels(&t.target.discovered),
                    "labels": labels(&t.target.labels),
                    "scrapePool": t.target.job,
                    "scrapeUrl": t.target.url,
                    "globalUrl": t.target.url,
                    "lastError": h.last_error,
                    "lastScrape": chrono::DateTime::from_timestamp_millis(h.last_scrape_ms).map(|d| d.to_rfc3339()).unwrap_or_default(),
                    "lastScrapeDuration": h.last_scrape_duration_s,
                    "health": h.health,
                    "scrapeInterval": pharos_model::HumanDuration::from_secs(t.job.interval.as_secs()).to_string(),
                    "scrapeTimeout": pharos_model::HumanDuration::from_secs(t.job.timeout.as_secs()).to_string(),
                })
            })
            .collect();
        Ok::<_, PromError>(success(
            json!({"activeTargets": active, "droppedTargets": []}),
            vec![],
            vec![],
        ))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn buildinfo() -> Response {
    success(
        json!({
            "version": "3.0.0",
            "revision": "pharos",
            "branch": "pharos",
            "buildUser": "pharos",
            "buildDate": "",
            "goVersion": concat!("pharos ", env!("CARGO_PKG_VERSION")),
        }),
        vec![],
        vec![],
    )
}

/// Grafana asks for exemplars; Pharos keeps none.
pub async fn exemplars() -> Response {
    success(json!([]), vec![], vec![])
}

/// `POST /api/v1/write`: remote_write 1.0. Valid samples are stored even when others in
/// the request are refused; the answer then is 400 with the counts, as Prometheus's
/// receiver does (senders do not retry a 4xx).
pub async fn remote_write(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let m = metrics(&state)?;
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/x-protobuf");
        if ct.contains("io.prometheus.write.v2") {
            return Err(PromError {
                kind: "unsupported",
                message: "remote write 2.0 is not supported; configure protobuf_message: prometheus.WriteRequest".into(),
            });
        }
        let decoded = pharos_ingest::prometheus::remote_write::decode(&body)
            .map_err(|e| PromError::bad(e.to_string()))?;
        let db = m.db.clone();
        let meta = m.scrape.metadata.clone();
        let outcome = blocking(move || {
            for md in &decoded.metadata {
                // Pushers are not told apart: the latest push's declaration stands for all.
                meta.set(
                    &md.metric_family_name,
                    "remote_write",
                    pharos_scrape::metadata::MetricMetadata {
                        kind: md.kind_name().into(),
                        help: md.help.clone(),
                        unit: md.unit.clone(),
                    },
                );
            }
            let mut app = db.appender();
            let mut first_error: Option<String> = None;
            for s in &decoded.series {
                for x in &s.samples {
                    if let Err(e) = app.append(&s.labels, x.t, x.v) {
                        first_error.get_or_insert_with(|| format!("{e} (series {})", s.labels));
                    }
                }
            }
            let summary = app.commit().map_err(|e| PromError {
                kind: "internal",
                message: e.to_string(),
            })?;
            Ok((
                summary,
                first_error,
                decoded.rejected,
                decoded.histograms_dropped,
            ))
        })
        .await?;
        let (summary, first_error, rejected, histograms) = outcome;
        let refused = summary.out_of_order
            + summary.duplicate
            + summary.out_of_bounds
            + summary.too_many_series;
        if refused > 0 || !rejected.is_empty() {
            let mut msg = format!("{} samples stored, {refused} refused", summary.appended);
            if let Some(e) = first_error {
                msg.push_str(&format!("; first: {e}"));
            }
            if let Some(r) = rejected.first() {
                msg.push_str(&format!("; {} series refused, first: {r}", rejected.len()));
            }
            return Err(PromError::bad(msg));
        }
        if histograms > 0 {
            tracing::debug!(
                operation = "remote_write",
                histograms,
                "native histograms dropped"
            );
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
