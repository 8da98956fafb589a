//! `GET /api/v1/rules`: alerting and recording rules in Prometheus's JSON shape (groups →
//! rules with health, lastError, evaluationTime, lastEvaluation and their alerts), so
//! Grafana's rule view and other Prometheus clients read Pharos's rules unchanged.
//! Filters as in Prometheus: `type=alert|record`, `rule_name[]`, `rule_group[]`, `file[]`,
//! `exclude_alerts`.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use pharos_app::rules::{GroupStatus, RuleAlert, RuleStatus, go_float};
use serde_json::{Value, json};

use crate::SharedState;

/// Which rules a request asks for.
#[derive(Default)]
pub struct RuleFilter {
    pub alerting: bool,
    pub recording: bool,
    pub names: Vec<String>,
    pub groups: Vec<String>,
    pub files: Vec<String>,
    pub exclude_alerts: bool,
}

impl RuleFilter {
    pub fn parse(query: Option<&str>) -> Result<RuleFilter, String> {
        let mut f = RuleFilter {
            alerting: true,
            recording: true,
            ..RuleFilter::default()
        };
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "type" => match v.to_lowercase().as_str() {
                    "alert" => f.recording = false,
                    "record" => f.alerting = false,
                    "" => {}
                    other => return Err(format!("not supported value {other:?}")),
                },
                "rule_name[]" => f.names.push(v.into_owned()),
                "rule_group[]" => f.groups.push(v.into_owned()),
                "file[]" => f.files.push(v.into_owned()),
                "exclude_alerts" => match v.as_ref() {
                    "true" | "1" => f.exclude_alerts = true,
                    "false" | "0" | "" => {}
                    other => return Err(format!("exclude_alerts: invalid boolean {other:?}")),
                },
                _ => {}
            }
        }
        Ok(f)
    }

    fn keeps_group(&self, g: &GroupStatus) -> bool {
        (self.groups.is_empty() || self.groups.contains(&g.name))
            && (self.files.is_empty() || self.files.contains(&g.file))
    }

    fn keeps_rule(&self, r: &RuleStatus) -> bool {
        (if r.alerting {
            self.alerting
        } else {
            self.recording
        }) && (self.names.is_empty() || self.names.contains(&r.name))
    }

    fn narrows(&self) -> bool {
        !(self.names.is_empty() && self.groups.is_empty() && self.files.is_empty())
    }
}

pub async fn list(State(state): State<SharedState>, RawQuery(q): RawQuery) -> Response {
    let filter = match RuleFilter::parse(q.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"status": "error", "errorType": "bad_data", "error": e})),
            )
                .into_response();
        }
    };
    let groups = state.rule_groups();
    Json(json!({"status": "success", "data": {"groups": groups_json(&groups, &filter)}}))
        .into_response()
}

pub fn groups_json(groups: &[GroupStatus], filter: &RuleFilter) -> Vec<Value> {
    groups
        .iter()
        .filter(|g| filter.keeps_group(g))
        .filter_map(|g| {
            let rules: Vec<Value> = g
                .rules
                .iter()
                .filter(|r| filter.keeps_rule(r))
                .map(|r| rule_json(r, filter.exclude_alerts))
                .collect();
            if rules.is_empty() && filter.narrows() {
                return None;
            }
            Some(json!({
                "name": g.name,
                "file": g.file,
                "rules": rules,
                "interval": g.interval.as_secs_f64(),
                "limit": g.limit,
                "evaluationTime": g.evaluation_time.as_secs_f64(),
                "lastEvaluation": time(g.last_evaluation),
            }))
        })
        .collect()
}

fn rule_json(r: &RuleStatus, exclude_alerts: bool) -> Value {
    let mut v = if r.alerting {
        let mut v = json!({
            "state": r.state.as_str(),
            "name": r.name,
            "query": r.query,
            "duration": r.hold.as_secs_f64(),
            "keepFiringFor": r.keep_firing_for.as_secs_f64(),
            "labels": r.labels,
            "annotations": r.annotations,
            "health": r.health.as_str(),
            "evaluationTime": r.evaluation_time.as_secs_f64(),
            "lastEvaluation": time(r.last_evaluation),
            "type": "alerting",
        });
        if !exclude_alerts {
            v["alerts"] = r.alerts.iter().map(alert_json).collect();
        }
        v
    } else {
        let mut v = json!({
            "name": r.name,
            "query": r.query,
            "health": r.health.as_str(),
            "evaluationTime": r.evaluation_time.as_secs_f64(),
            "lastEvaluation": time(r.last_evaluation),
            "type": "recording",
        });
        if !r.labels.is_empty() {
            v["labels"] = json!(r.labels);
        }
        v
    };
    if let Some(e) = &r.last_error {
        v["lastError"] = json!(e);
    }
    v
}

pub fn alert_json(a: &RuleAlert) -> Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": time(Some(a.active_at)),
        // Prometheus writes alert values with Go's %e.
        "value": go_float(a.value, 'e', None),
    });
    if let Some(k) = a.keep_firing_since {
        v["keepFiringSince"] = json!(time(Some(k)));
    }
    v
}

/// RFC 3339 with the fractional seconds Prometheus prints; Go's zero time when never.
fn time(ms: Option<i64>) -> String {
    match ms.and_then(DateTime::<Utc>::from_timestamp_millis) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => "0001-01-01T00:00:00Z".into(),
    }
}
