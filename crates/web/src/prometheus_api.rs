//! The Prometheus HTTP API over the metrics store, with Prometheus's JSON shapes and
//! error types, so Grafana's Prometheus data source, `promtool` and curl scripts work:
//! `/api/v1/query`, `/api/v1/query_range` (GET and POST), `/api/v1/format_query`,
//! `/api/v1/parse_query`, `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values`, `/api/v1/metadata`, `/api/v1/targets`,
//! `/api/v1/scrape_pools`, `/api/v1/alerts` (the rules' active alerts),
//! `/api/v1/status/{config,flags,runtimeinfo,buildinfo}`, `/federate`, and
//! `POST /api/v1/write` (remote_write 1.0).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use pharos_app::metrics_store::{MetricsError, parse_selector};
use pharos_model::clock::now_ms;
use pharos_model::series::{LabelMatcher, LabelSet};
use serde_json::{Value, json};

use crate::SharedState;
use crate::request_params::RequestParams;

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

impl From<MetricsError> for PromError {
    fn from(e: MetricsError) -> Self {
        PromError {
            kind: e.kind(),
            message: e.to_string(),
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

fn get<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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
        .map(|(_, v)| parse_selector(v).map_err(PromError::from))
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

fn labels_json(l: &LabelSet) -> Value {
    Value::Object(
        l.iter()
            .map(|x| (x.name.clone(), Value::String(x.value.clone())))
            .collect(),
    )
}

pub async fn query(State(state): State<SharedState>, RequestParams(p): RequestParams) -> Response {
    let run = async {
        let query = get(&p, "query")
            .ok_or_else(|| PromError::bad("invalid parameter \"query\": query is missing"))?
            .to_string();
        let t = get(&p, "time")
            .map(|s| parse_time(s, "time"))
            .transpose()?
            .unwrap_or_else(now_ms);
        let r = state.instant_query(query, t).await?;
        Ok::<_, PromError>(success(r.value.to_api_json(), r.warnings, r.infos))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn query_range(
    State(state): State<SharedState>,
    RequestParams(p): RequestParams,
) -> Response {
    let run = async {
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
        let r = state.range_query(query, start, end, step).await?;
        Ok::<_, PromError>(success(r.value.to_api_json(), r.warnings, r.infos))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn series(State(state): State<SharedState>, RequestParams(p): RequestParams) -> Response {
    let run = async {
        let sets = matchers(&p)?;
        if sets.is_empty() {
            return Err(PromError::bad("no match[] parameter provided"));
        }
        let (start, end) = time_range(&p)?;
        let limit = get(&p, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let found = state.series(sets, start, end, limit).await?;
        let data = Value::Array(found.iter().map(labels_json).collect());
        Ok::<_, PromError>(success(data, vec![], vec![]))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn labels(State(state): State<SharedState>, RequestParams(p): RequestParams) -> Response {
    label_query(state, None, p).await
}

pub async fn label_values(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    RequestParams(p): RequestParams,
) -> Response {
    label_query(state, Some(name), p).await
}

async fn label_query(
    state: SharedState,
    name: Option<String>,
    p: Vec<(String, String)>,
) -> Response {
    let run = async {
        let sets = matchers(&p)?;
        let (start, end) = time_range(&p)?;
        let limit = get(&p, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let data = json!(state.label_values(name, sets, start, end, limit).await?);
        Ok::<_, PromError>(success(data, vec![], vec![]))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn metadata(State(state): State<SharedState>, RawQuery(q): RawQuery) -> Response {
    let run = async {
        let p = RequestParams::from_query(q.as_deref()).0;
        let limit = get(&p, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0);
        let list = state.metric_metadata(get(&p, "metric"), limit)?;
        Ok::<_, PromError>(success(json!(list), vec![], vec![]))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

pub async fn targets(State(state): State<SharedState>) -> Response {
    let run = async {
        let active: Vec<Value> = state
            .scrape_targets()?
            .iter()
            .map(|t| {
                json!({
                    "discoveredLabels": labels_json(&t.discovered_labels),
                    "labels": labels_json(&t.labels),
                    "scrapePool": t.job,
                    "scrapeUrl": t.url,
                    "globalUrl": t.url,
                    "lastError": t.last_error,
                    "lastScrape": chrono::DateTime::from_timestamp_millis(t.last_scrape_ms).map(|d| d.to_rfc3339()).unwrap_or_default(),
                    "lastScrapeDuration": t.last_scrape_duration_s,
                    "health": t.health,
                    "scrapeInterval": pharos_model::HumanDuration::from_secs(t.interval_secs).to_string(),
                    "scrapeTimeout": pharos_model::HumanDuration::from_secs(t.timeout_secs).to_string(),
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

/// `GET|POST /api/v1/format_query`: the query laid out by Prometheus's formatter.
pub async fn format_query(RequestParams(p): RequestParams) -> Response {
    let run = || {
        let query = get(&p, "query").unwrap_or_default();
        let pretty = pharos_app::query_syntax::format_query(query)?;
        Ok::<_, PromError>(success(json!(pretty), vec![], vec![]))
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

/// `GET|POST /api/v1/parse_query`: the query's syntax tree as Prometheus 3's JSON.
pub async fn parse_query(RequestParams(p): RequestParams) -> Response {
    let run = || {
        let query = get(&p, "query").unwrap_or_default();
        let tree = pharos_app::query_syntax::parse_query(query)?;
        Ok::<_, PromError>(success(tree, vec![], vec![]))
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/v1/alerts`: every pending and firing alert of the alerting rules, as
/// Prometheus lists them (Pharos's own alert search is `/api/v1/alerts/history`).
pub async fn alerts(State(state): State<SharedState>) -> Response {
    let alerts: Vec<Value> = state
        .active_rule_alerts()
        .iter()
        .map(crate::api::rules::alert_json)
        .collect();
    success(json!({"alerts": alerts}), vec![], vec![])
}

/// `GET /api/v1/scrape_pools`: the name of every scrape job with targets or a
/// definition, sorted.
pub async fn scrape_pools(State(state): State<SharedState>) -> Response {
    match state.scrape_pools() {
        Ok(pools) => success(json!({"scrapePools": pools}), vec![], vec![]),
        Err(e) => PromError::from(e).into_response(),
    }
}

/// `GET /api/v1/status/config`: the metrics config in force as Prometheus prints its
/// own, credentials as `<secret>`.
pub async fn status_config(State(state): State<SharedState>) -> Response {
    match state.prometheus_config_yaml() {
        Ok(yaml) => success(json!({"yaml": yaml}), vec![], vec![]),
        Err(e) => PromError::from(e).into_response(),
    }
}

/// `GET /api/v1/status/flags`: Prometheus's flag names with Pharos's settings for them.
pub async fn status_flags(State(state): State<SharedState>) -> Response {
    success(json!(state.prometheus_flags()), vec![], vec![])
}

/// `GET /api/v1/status/runtimeinfo`.
pub async fn status_runtimeinfo(State(state): State<SharedState>) -> Response {
    let r = state.runtime_info(now_ms());
    success(
        json!({
            "startTime": rfc3339(r.start_time_ms),
            "CWD": r.cwd,
            "hostname": r.hostname,
            "serverTime": rfc3339(r.server_time_ms),
            "reloadConfigSuccess": r.reload_config_success,
            "lastConfigTime": rfc3339(r.last_config_time_ms),
            "corruptionCount": r.corruption_count,
            "goroutineCount": r.goroutine_count,
            "GOMAXPROCS": r.gomaxprocs,
            "GOMEMLIMIT": i64::MAX,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": r.storage_retention,
        }),
        vec![],
        vec![],
    )
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
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
        let ct = headers.get("content-type").and_then(|v| v.to_str().ok());
        state.remote_write(ct, &body).await?;
        Ok::<_, PromError>(StatusCode::NO_CONTENT.into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}
