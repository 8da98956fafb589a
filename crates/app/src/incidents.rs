//! Incidents as people handle them: the history (search by text, state and time, paged),
//! one incident with its timeline, runbooks and next escalation, acknowledge (also by the
//! signed link in a notification), resolve, notes, the post-mortem draft, and who is on
//! call. The incident service itself is `pharos_notify::incidents`.

use chrono::{DateTime, Utc};
use pharos_model::access::Permission;
use pharos_notify::incidents::{IncidentError, LinkError};
use pharos_store::{IncidentQuery, IncidentState};
use serde::{Deserialize, Serialize};

pub use pharos_notify::incidents::{IncidentDetail, OnCallView};
pub use pharos_store::{IncidentEvent, IncidentRecord};

use crate::{App, AppError, Caller};

const PER_PAGE: u64 = 50;

/// Most words a search may have: each is one SQL condition, and SQLite refuses an
/// expression deeper than 1,000.
const MAX_SEARCH_WORDS: usize = 50;

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

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, AppError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return DateTime::from_timestamp_millis((secs * 1000.0) as i64)
            .ok_or_else(|| AppError::invalid_field(field, "is out of range"));
    }
    Err(AppError::invalid_field(
        field,
        "must be an RFC 3339 time, a date (YYYY-MM-DD) or Unix seconds",
    ))
}

impl ListParams {
    /// The store query, and the page and page size asked for.
    pub fn to_query(&self) -> Result<(IncidentQuery, u64, u64), AppError> {
        let state = match self.state.as_deref().map(str::trim) {
            None | Some("") | Some("all") => None,
            Some(s) => Some(IncidentState::parse(s).ok_or_else(|| {
                AppError::invalid_field("state", "must be open, acknowledged, resolved or all")
            })?),
        };
        let text = self.q.clone().filter(|q| !q.trim().is_empty());
        if text
            .as_deref()
            .is_some_and(|t| t.split_whitespace().count() > MAX_SEARCH_WORDS)
        {
            return Err(AppError::invalid_field(
                "q",
                format!("at most {MAX_SEARCH_WORDS} words"),
            ));
        }
        let page = self.page.unwrap_or(1).max(1);
        let per_page = self.per_page.unwrap_or(PER_PAGE).clamp(1, 500);
        Ok((
            IncidentQuery {
                state,
                text,
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

impl From<IncidentError> for AppError {
    fn from(e: IncidentError) -> AppError {
        match e {
            IncidentError::Store(s) => AppError::from(s),
            IncidentError::Link(LinkError::Invalid) => AppError::Forbidden(e.to_string()),
            IncidentError::Link(LinkError::Expired) => AppError::Gone(e.to_string()),
            IncidentError::Invalid(message) => match message.split_once(": ") {
                Some((field, rest)) => AppError::invalid_field(field, rest),
                None => AppError::invalid(message),
            },
            IncidentError::Task(m) => AppError::Internal(m),
        }
    }
}

impl App {
    /// A page of incidents matching the query, and how many match in all.
    pub async fn search_incidents(
        &self,
        q: IncidentQuery,
    ) -> Result<(Vec<IncidentRecord>, u64), AppError> {
        self.with_store(move |s| s.list_incidents(&q)).await
    }

    pub async fn incident(&self, id: i64) -> Result<IncidentDetail, AppError> {
        Ok(self.incidents.detail(id).await?)
    }

    pub async fn acknowledge_incident(
        &self,
        caller: &Caller,
        id: i64,
        by: Option<&str>,
    ) -> Result<IncidentRecord, AppError> {
        caller.require(Permission::Edit, "change incidents")?;
        Ok(self
            .incidents
            .acknowledge(id, &caller.actor_naming(by))
            .await?)
    }

    pub async fn resolve_incident(
        &self,
        caller: &Caller,
        id: i64,
        by: Option<&str>,
    ) -> Result<IncidentRecord, AppError> {
        caller.require(Permission::Edit, "change incidents")?;
        Ok(self.incidents.resolve(id, &caller.actor_naming(by)).await?)
    }

    pub async fn add_incident_note(
        &self,
        caller: &Caller,
        id: i64,
        by: Option<&str>,
        text: &str,
    ) -> Result<IncidentEvent, AppError> {
        caller.require(Permission::Edit, "change incidents")?;
        Ok(self
            .incidents
            .add_note(id, &caller.actor_naming(by), text)
            .await?)
    }

    /// The post-mortem draft in Markdown, written from the incident's timeline.
    pub async fn incident_postmortem(&self, id: i64) -> Result<String, AppError> {
        Ok(self.incidents.postmortem(id).await?)
    }

    /// The incident a signed acknowledgement link is for; the signature is the credential.
    pub async fn incident_for_link(&self, token: &str) -> Result<IncidentRecord, AppError> {
        Ok(self.incidents.incident_for_link(token).await?)
    }

    /// Acknowledges through a signed link, by whoever holds it.
    pub async fn acknowledge_incident_by_link(
        &self,
        token: &str,
        by: Option<&str>,
    ) -> Result<IncidentRecord, AppError> {
        Ok(self.incidents.acknowledge_by_link(token, by).await?)
    }

    /// Every on-call schedule: who is on call now, the next handoff, `weeks` of shifts.
    pub fn on_call(&self, weeks: i64) -> Vec<OnCallView> {
        self.incidents.on_call(weeks)
    }

    pub fn on_call_of(&self, name: &str, weeks: i64) -> Result<OnCallView, AppError> {
        self.incidents
            .on_call_of(name, weeks)
            .ok_or_else(|| AppError::NotFound(format!("on-call schedule {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: AppError) -> Option<String> {
        match e {
            AppError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn list_params_name_the_field_at_fault() {
        let p = ListParams {
            state: Some("sleeping".into()),
            ..ListParams::default()
        };
        assert_eq!(
            field_of(p.to_query().err().unwrap()).as_deref(),
            Some("state")
        );
        let p = ListParams {
            from: Some("yesterday".into()),
            ..ListParams::default()
        };
        assert_eq!(
            field_of(p.to_query().err().unwrap()).as_deref(),
            Some("from")
        );
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

    /// `q` with 3,000 words became 3,000 SQL clauses, past SQLite's expression depth: a
    /// 500 (found by `crates/pharos/tests/hostile_http.rs`).
    #[test]
    fn a_search_of_thousands_of_words_is_refused_with_the_field() {
        let p = ListParams {
            q: Some("NOT ".repeat(3_000)),
            ..ListParams::default()
        };
        assert_eq!(field_of(p.to_query().err().unwrap()).as_deref(), Some("q"));
        let p = ListParams {
            q: Some(vec!["word"; MAX_SEARCH_WORDS].join(" ")),
            ..ListParams::default()
        };
        p.to_query().unwrap();
    }
}
