//! Alertmanager's API v2, so Prometheus, amtool, Grafana and the rest work against
//! Pharos: `POST/GET /api/v2/alerts`, `/api/v2/alerts/groups`, `GET/POST
//! /api/v2/silences`, `GET/DELETE /api/v2/silence/{id}`, `/api/v2/status`,
//! `/api/v2/receivers`. JSON shapes follow Alertmanager's OpenAPI spec; errors are a JSON
//! string as Alertmanager answers them. Access is the JSON API's: reads need the admin
//! token unless `web.public` lists `api`, writes always (Prometheus sends it with
//! `alerting.alertmanagers[].authorization`, amtool with `--http.config.file`).

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use pharos_app::AppError;
use pharos_app::alerting::{
    AlertView, PostedAlert, Silence, SilenceMatcher, SilenceRecord, matcher, op_of, parse_matchers,
};
use pharos_model::Labels;
use pharos_model::series::LabelMatcher;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SharedState;

/// Alertmanager answers errors with a bare JSON string.
struct AmError(StatusCode, String);

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        (self.0, Json(Value::String(self.1))).into_response()
    }
}

impl From<AppError> for AmError {
    fn from(e: AppError) -> AmError {
        let status = match &e {
            // Alertmanager has no conflicts to report: a store conflict is its failure.
            AppError::Conflict(_) => StatusCode::INTERNAL_SERVER_ERROR,
            other => crate::api::status_of(other),
        };
        AmError(status, e.to_string())
    }
}

fn bad(message: impl Into<String>) -> AmError {
    AmError(StatusCode::BAD_REQUEST, message.into())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AmError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        bad(format!("{path}: {}", e.into_inner()))
    })
}

/// Repeated query parameters (`filter=a&filter=b`), which the usual extractor drops.
fn params(q: &Option<String>) -> Vec<(String, String)> {
    q.as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

fn filters(params: &[(String, String)]) -> Result<Vec<LabelMatcher>, AmError> {
    let mut out = Vec::new();
    for (k, v) in params {
        if k == "filter" {
            out.extend(parse_matchers(v).map_err(|e| bad(format!("bad matcher format: {e}")))?);
        }
    }
    Ok(out)
}

fn flag(params: &[(String, String)], name: &str, default: bool) -> Result<bool, AmError> {
    match params.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => v
            .parse()
            .map_err(|_| bad(format!("{name}: expected true or false, got {v:?}"))),
    }
}

fn matches_all(filters: &[LabelMatcher], labels: &Labels) -> bool {
    filters
        .iter()
        .all(|m| m.matches(labels.get(&m.name).map(String::as_str).unwrap_or("")))
}

/// `gettableAlert`
fn alert_json(v: &AlertView) -> Value {
    let a = &v.alert;
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": time(a.starts_at),
        "endsAt": time(v.ends_at),
        "updatedAt": time(a.updated_at),
        "generatorURL": a.generator_url,
        "fingerprint": a.fingerprint,
        "receivers": v.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "status": {
            "state": if v.suppression.is_suppressed() { "suppressed" } else { "active" },
            "silencedBy": v.suppression.silenced_by,
            "inhibitedBy": v.suppression.inhibited_by,
        },
    })
}

/// `postableAlert`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

/// Go's zero time, which some senders put in for "not set".
fn set(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.filter(|t| t.timestamp() > 0)
}

pub async fn post_alerts(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    body: Bytes,
) -> Response {
    let posted: Vec<PostableAlert> = match parse_json(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let posted = posted
        .into_iter()
        .map(|p| PostedAlert {
            labels: p.labels,
            annotations: p.annotations,
            starts_at: set(p.starts_at),
            ends_at: set(p.ends_at),
            generator_url: p.generator_url,
        })
        .collect();
    match state.post_alerts(&caller, posted).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => AmError::from(e).into_response(),
    }
}

pub async fn get_alerts(State(state): State<SharedState>, RawQuery(q): RawQuery) -> Response {
    let params = params(&q);
    let selected = (|| {
        let filters = filters(&params)?;
        let active = flag(&params, "active", true)?;
        let silenced = flag(&params, "silenced", true)?;
        let inhibited = flag(&params, "inhibited", true)?;
        let receiver = match params.iter().find(|(k, _)| k == "receiver") {
            Some((_, r)) => Some(regex_matcher(r).map_err(|e| bad(format!("receiver: {e}")))?),
            None => None,
        };
        let mut alerts: Vec<AlertView> = state
            .alert_views()
            .into_iter()
            .filter(|v| matches_all(&filters, &v.alert.labels))
            .filter(|v| {
                let s = &v.suppression;
                let suppressed = s.is_suppressed();
                (active || suppressed)
                    && (silenced || s.silenced_by.is_empty())
                    && (inhibited || s.inhibited_by.is_empty())
            })
            .filter(|v| {
                receiver
                    .as_ref()
                    .is_none_or(|m| v.receivers.iter().any(|r| m.matches(r)))
            })
            .collect();
        alerts.sort_by(|a, b| a.alert.fingerprint.cmp(&b.alert.fingerprint));
        Ok::<_, AmError>(alerts)
    })();
    match selected {
        Ok(alerts) => Json(alerts.iter().map(alert_json).collect::<Vec<_>>()).into_response(),
        Err(e) => e.into_response(),
    }
}

fn regex_matcher(re: &str) -> Result<LabelMatcher, String> {
    matcher("receiver", pharos_model::series::MatchOp::Regex, re).map_err(|e| e.to_string())
}

pub async fn get_groups(State(state): State<SharedState>, RawQuery(q): RawQuery) -> Response {
    let params = params(&q);
    let filters = match filters(&params) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let groups: Vec<Value> = state
        .alert_groups()
        .into_iter()
        .filter_map(|g| {
            let alerts: Vec<Value> = g
                .alerts
                .iter()
                .filter(|a| matches_all(&filters, &a.alert.labels))
                .map(alert_json)
                .collect();
            (!alerts.is_empty()).then(
                || json!({"labels": g.labels, "receiver": {"name": g.receiver}, "alerts": alerts}),
            )
        })
        .collect();
    Json(groups).into_response()
}

/// `gettableSilence`, with Pharos's recurring schedule as `timeIntervals` when set.
pub fn silence_json(s: &Silence, now: DateTime<Utc>) -> Value {
    let r = &s.record;
    let mut v = json!({
        "id": r.id,
        "status": {"state": s.state(now).as_str()},
        "updatedAt": time(r.updated_at),
        "matchers": r.matchers,
        "startsAt": time(r.starts_at),
        "endsAt": time(r.ends_at),
        "createdBy": r.created_by,
        "comment": r.comment,
    });
    if let Some(t) = &r.time_intervals {
        v["timeIntervals"] = t.clone();
    }
    v
}

pub async fn get_silences(State(state): State<SharedState>, RawQuery(q): RawQuery) -> Response {
    let params = params(&q);
    let filters = match filters(&params) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let (now, mut silences) = state.silences();
    // Alertmanager lists active, then pending, then expired.
    silences.sort_by_key(|s| {
        let rank = match s.state(now).as_str() {
            "active" => 0,
            "pending" => 1,
            _ => 2,
        };
        (rank, std::cmp::Reverse(s.record.updated_at))
    });
    let out: Vec<Value> = silences
        .iter()
        .filter(|s| {
            // A filter selects silences whose matchers include it, as Alertmanager does.
            filters.iter().all(|f| {
                s.record
                    .matchers
                    .iter()
                    .any(|m| m.name == f.name && m.value == f.value && op_of(m) == f.op)
            })
        })
        .map(|s| silence_json(s, now))
        .collect();
    Json(out).into_response()
}

/// `postableSilence`, plus Pharos's optional `timeIntervals` (a recurring schedule in
/// Alertmanager's time interval shape).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default)]
    pub id: Option<String>,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub time_intervals: Option<Value>,
}

impl PostableSilence {
    pub fn into_record(self) -> SilenceRecord {
        SilenceRecord {
            id: self.id.unwrap_or_default(),
            matchers: self.matchers,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            updated_at: self.starts_at,
            created_by: self.created_by,
            comment: self.comment,
            time_intervals: self.time_intervals.filter(|v| !v.is_null()),
        }
    }
}

pub async fn post_silence(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    body: Bytes,
) -> Response {
    let posted: PostableSilence = match parse_json(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match state.put_silence(&caller, posted.into_record()).await {
        Ok(id) => Json(json!({"silenceID": id})).into_response(),
        Err(e) => AmError::from(e).into_response(),
    }
}

pub async fn get_silence(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    let (now, silences) = state.silences();
    match silences.iter().find(|s| s.record.id == id) {
        Some(s) => Json(silence_json(s, now)).into_response(),
        None => AmError(StatusCode::NOT_FOUND, format!("silence {id} not found")).into_response(),
    }
}

pub async fn delete_silence(
    crate::access::Visitor(caller): crate::access::Visitor,
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Response {
    match state.expire_silence(&caller, &id).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => AmError::from(e).into_response(),
    }
}

pub async fn status(State(state): State<SharedState>) -> Response {
    Json(json!({
        "cluster": {"name": "pharos", "status": "ready", "peers": []},
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "branch": "",
            "revision": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "none (Pharos is written in Rust)",
        },
        "config": {"original": state.routing_config()},
        "uptime": time(state.started_at),
    }))
    .into_response()
}

pub async fn receivers(State(state): State<SharedState>) -> Response {
    let names: BTreeMap<String, ()> = state
        .routed_receivers()
        .into_iter()
        .map(|r| (r, ()))
        .collect();
    Json(names.keys().map(|n| json!({"name": n})).collect::<Vec<_>>()).into_response()
}
