//! `/api/v1/incidents`: the incident history (search by text, state and time, paged),
//! one incident with its timeline, runbooks and next escalation, acknowledge, resolve,
//! notes, and the post-mortem draft in Markdown.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use pharos_notify::incidents::{IncidentError, LinkError};
use pharos_store::{IncidentQuery, IncidentRecord, IncidentState};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, parse_json, query};
use crate::SharedState;

const PER_PAGE: u64 = 50;

/// `?state=open&q=database&from=2025-03-01T00:00:00Z&to=...&page=2&per_page=20`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub page: Option<u64>,
    #[serde(default)]
    pub per_page: Option<u64>,
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return DateTime::from_timestamp_millis((secs * 1000.0) as i64)
            .ok_or_else(|| field_error(field, "is out of range"));
    }
    Err(field_error(
        field,
        "must be an RFC 3339 time, a date (YYYY-MM-DD) or Unix seconds",
    ))
}

fn field_error(field: &str, message: &str) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!("{field}: {message}"),
        field: Some(field.to_string()),
    }
}

impl ListParams {
    /// The store query, and the page and page size asked for.
    pub fn to_query(&self) -> Result<(IncidentQuery, u64, u64), ApiError> {
        let state = match self.state.as_deref().map(str::trim) {
            None | Some("") | Some("all") => None,
            Some(s) => Some(IncidentState::parse(s).ok_or_else(|| {
                field_error("state", "must be open, acknowledged, resolved or all")
            })?),
        };
        let page = self.page.unwrap_or(1).max(1);
        let per_page = self.per_page.unwrap_or(PER_PAGE).clamp(1, 500);
        Ok((
            IncidentQuery {
                state,
                text: self.q.clone().filter(|q| !q.trim().is_empty()),
                from: self
                    .from
                    .as_deref()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| parse_time("from", s))
                    .transpose()?,
                to: self
                    .to
                    .as_deref()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| parse_time("to", s))
                    .transpose()?,
                offset: (page - 1) * per_page,
                limit: per_page,
            },
            page,
            per_page,
        ))
    }
}

/// An incident in the list: no alerts' details, but how many and which.
#[derive(Serialize)]
pub struct IncidentSummary<'a> {
    pub id: i64,
    pub title: &'a str,
    pub state: IncidentState,
    pub severity: &'a str,
    pub group_key: &'a str,
    pub receiver: &'a str,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<&'a str>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<&'a str>,
    pub alerts_firing: usize,
    pub alerts_total: usize,
    pub escalation: Option<&'a str>,
}

pub fn summary(i: &IncidentRecord) -> IncidentSummary<'_> {
    IncidentSummary {
        id: i.id,
        title: &i.title,
        state: i.state,
        severity: &i.severity,
        group_key: &i.group_key,
        receiver: &i.receiver,
        opened_at: i.opened_at,
        acknowledged_at: i.acknowledged_at,
        acknowledged_by: i.acknowledged_by.as_deref(),
        resolved_at: i.resolved_at,
        resolved_by: i.resolved_by.as_deref(),
        alerts_firing: i
            .alerts
            .iter()
            .filter(|a| a.state == pharos_model::AlertState::Firing)
            .count(),
        alerts_total: i.alerts.len(),
        escalation: i.escalation.as_deref(),
    }
}

/// The one place an incident error becomes a status.
pub fn api_error(e: IncidentError) -> ApiError {
    match e {
        IncidentError::Store(s) => ApiError::from(s),
        IncidentError::Link(LinkError::Invalid) => {
            ApiError::new(StatusCode::FORBIDDEN, e.to_string())
        }
        IncidentError::Link(LinkError::Expired) => ApiError::new(StatusCode::GONE, e.to_string()),
        IncidentError::Invalid(message) => match message.split_once(": ") {
            Some((field, rest)) => field_error(field, rest),
            None => ApiError::bad_request(message),
        },
        IncidentError::Task(m) => ApiError::internal(m),
    }
}

pub async fn list(
    State(state): State<SharedState>,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let params = query(q)?;
    let (q, page, per_page) = params.to_query()?;
    let (incidents, total) = state.with_store(move |s| s.list_incidents(&q)).await?;
    Ok(Json(json!({
        "incidents": incidents.iter().map(summary).collect::<Vec<_>>(),
        "total": total,
        "page": page,
        "per_page": per_page,
    })))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("incident {id}")))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let detail = state
        .incidents
        .detail(parse_id(&id)?)
        .await
        .map_err(api_error)?;
    serde_json::to_value(detail)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// `{"by": "alice"}` for ack and resolve, `{"by": "alice", "text": "..."}` for notes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// An empty body is allowed: the token's holder is then named `admin`.
fn action_body(bytes: &Bytes) -> Result<ActionBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActionBody::default());
    }
    parse_json(bytes)
}

fn who(body: &ActionBody) -> String {
    body.by
        .clone()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "admin".into())
}

pub async fn acknowledge(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = action_body(&bytes)?;
    let record = state
        .incidents
        .acknowledge(parse_id(&id)?, &who(&body))
        .await
        .map_err(api_error)?;
    Ok(Json(json!(summary(&record))))
}

pub async fn resolve(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = action_body(&bytes)?;
    let record = state
        .incidents
        .resolve(parse_id(&id)?, &who(&body))
        .await
        .map_err(api_error)?;
    Ok(Json(json!(summary(&record))))
}

pub async fn add_note(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let body = action_body(&bytes)?;
    let text = body.text.clone().unwrap_or_default();
    let event = state
        .incidents
        .add_note(parse_id(&id)?, &who(&body), &text)
        .await
        .map_err(api_error)?;
    Ok((StatusCode::CREATED, Json(json!(event))).into_response())
}

pub async fn postmortem(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let text = state.incidents.postmortem(id).await.map_err(api_error)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"incident-{id}-postmortem.md\""),
            ),
        ],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_params_name_the_field_at_fault() {
        let p = ListParams {
            state: Some("sleeping".into()),
            ..ListParams::default()
        };
        assert_eq!(p.to_query().err().unwrap().field.as_deref(), Some("state"));
        let p = ListParams {
            from: Some("yesterday".into()),
            ..ListParams::default()
        };
        assert_eq!(p.to_query().err().unwrap().field.as_deref(), Some("from"));
        let p = ListParams {
            state: Some("open".into()),
            q: Some("db".into()),
            from: Some("2025-03-01".into()),
            page: Some(3),
            per_page: Some(10),
            ..ListParams::default()
        };
        let (q, page, per) = p.to_query().unwrap();
        assert_eq!((q.offset, q.limit, page, per), (20, 10, 3, 10));
        assert_eq!(q.state, Some(IncidentState::Open));
    }
}
