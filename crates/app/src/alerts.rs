//! Alert occurrences (what is open now and the history, searchable by state, text,
//! matchers, receiver, time and muting) and deliveries (every notification and its
//! outcome, filterable), with where each alert comes from and who was told about it.
//!
//! Without any search parameter the list is as it always was: open alerts first, then the
//! most recently changed.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use pharos_model::{Alert, AlertState};
use pharos_notify::dispatch::Routing;
use pharos_notify::dispatch::groups::label_set_string;
use pharos_notify::dispatch::matchers::{Matchers, parse_matchers};
use pharos_store::{AlertRecord, AlertSearch, Delivery, DeliverySearch};
use serde::{Deserialize, Serialize};

use pharos_notify::dispatch::Dispatcher;

use crate::{App, AppError};

/// Notifications of a group sent after its alert resolved still belong to it (the
/// resolved notice waits for the group interval).
const RESOLVED_NOTICE_SLACK: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// `pending`, `firing`, `resolved`, `open` (pending or firing), `active` (firing and
    /// not muted), `silenced` or `inhibited`.
    #[serde(default)]
    pub state: Option<String>,
    /// Only alerts of this monitor.
    #[serde(default)]
    pub monitor: Option<String>,
    #[serde(default)]
    pub limit: Option<u64>,
    /// Text found in a label's or annotation's name or value (case-insensitive).
    #[serde(default)]
    pub q: Option<String>,
    /// Alertmanager matchers: `severity="critical", job=~"api.*"`.
    #[serde(default)]
    pub matchers: Option<String>,
    #[serde(default)]
    pub alertname: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    /// Alerts routed to this receiver.
    #[serde(default)]
    pub receiver: Option<String>,
    /// RFC 3339, Unix seconds, `YYYY-MM-DDTHH:MM` (UTC) or a duration ago (`2h`, `7d`).
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    /// From 1.
    #[serde(default)]
    pub page: Option<u64>,
}

impl AlertParams {
    /// Whether any filter narrows the list (the page then says so when it is empty).
    pub fn is_filtered(&self) -> bool {
        [
            &self.state,
            &self.q,
            &self.matchers,
            &self.alertname,
            &self.severity,
            &self.receiver,
            &self.since,
            &self.until,
        ]
        .iter()
        .any(|v| {
            v.as_deref()
                .is_some_and(|s| !s.trim().is_empty() && s != "all")
        })
    }

    fn is_search(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        set(&self.q)
            || set(&self.matchers)
            || set(&self.alertname)
            || set(&self.severity)
            || set(&self.receiver)
            || set(&self.since)
            || set(&self.until)
            || self.page.is_some()
            || self
                .state
                .as_deref()
                .is_some_and(|s| AlertState::parse(s).is_none() && !s.is_empty())
    }
}

/// Where an alert comes from, read from its labels and generator URL.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlertSource {
    /// `monitor`, `rule`, `errors`, `test` or `external` (Prometheus, an API client).
    pub kind: &'static str,
    pub name: String,
    /// A page of this server (a path) or the sender's URL.
    pub url: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AlertItem {
    #[serde(flatten)]
    pub record: AlertRecord,
    pub source: AlertSource,
    /// Silences muting it now (open alerts only).
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    /// The receivers its labels route to.
    pub receivers: Vec<String>,
}

#[derive(Serialize)]
pub struct AlertList {
    pub alerts: Vec<AlertItem>,
    pub page: u64,
    pub limit: u64,
    pub has_more: bool,
}

/// A parsed search: what SQLite filters, and what is checked on each row.
struct Filter {
    sql: AlertSearch,
    matchers: Matchers,
    monitor: Option<String>,
    receiver: Option<String>,
    suppressed: Option<&'static str>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn filter_of(p: &AlertParams, now: DateTime<Utc>) -> Result<Filter, AppError> {
    let (states, suppressed) = match p.state.as_deref().map(str::trim).unwrap_or("") {
        "" | "all" => (vec![], None),
        "open" => (vec![AlertState::Pending, AlertState::Firing], None),
        "active" => (vec![AlertState::Firing], Some("active")),
        "silenced" => (
            vec![AlertState::Pending, AlertState::Firing],
            Some("silenced"),
        ),
        "inhibited" => (
            vec![AlertState::Pending, AlertState::Firing],
            Some("inhibited"),
        ),
        s => match AlertState::parse(s) {
            Some(st) => (vec![st], None),
            None => {
                return Err(AppError::invalid_field(
                    "state",
                    "expected pending, firing, resolved, open, active, silenced or inhibited",
                ));
            }
        },
    };
    let mut matchers = match non_empty(&p.matchers) {
        Some(m) => parse_matchers(&m).map_err(|e| AppError::invalid_field("matchers", e))?,
        None => Vec::new(),
    };
    for (name, v) in [("alertname", &p.alertname), ("severity", &p.severity)] {
        if let Some(v) = non_empty(v) {
            matchers.push(
                pharos_notify::dispatch::matchers::matcher(
                    name,
                    pharos_model::series::MatchOp::Equal,
                    &v,
                )
                .map_err(|e| AppError::invalid_field(name, e))?,
            );
        }
    }
    Ok(Filter {
        sql: AlertSearch {
            states,
            text: non_empty(&p.q),
            since: non_empty(&p.since)
                .map(|s| parse_time(&s, now).map_err(|e| AppError::invalid_field("since", e)))
                .transpose()?,
            until: non_empty(&p.until)
                .map(|s| parse_time(&s, now).map_err(|e| AppError::invalid_field("until", e)))
                .transpose()?,
        },
        matchers: Matchers(matchers),
        monitor: non_empty(&p.monitor),
        receiver: non_empty(&p.receiver),
        suppressed,
    })
}

/// A time as people and scripts write it: RFC 3339, Unix seconds, the browser's
/// `datetime-local` value (taken as UTC), or a duration before `now`.
fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return DateTime::from_timestamp_millis((secs * 1000.0) as i64)
            .ok_or_else(|| format!("{s:?} is out of range"));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = s.parse::<pharos_model::HumanDuration>() {
        let d = chrono::Duration::from_std(d.as_duration()).map_err(|e| e.to_string())?;
        return Ok(now - d);
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339, Unix seconds, YYYY-MM-DDTHH:MM (UTC) or a duration ago like 2h"
    ))
}

/// The alerts a search selects, with their source, muting and receivers.
pub async fn search_alerts(
    app: &App,
    p: AlertParams,
    default_limit: u64,
) -> Result<AlertList, AppError> {
    let state = app;
    let limit = p.limit.unwrap_or(default_limit).clamp(1, 1000);
    let page = p.page.unwrap_or(1).max(1);
    let filter = filter_of(&p, Utc::now())?;
    let routing = state.alerting.routing();
    let (records, has_more) = if p.is_search() {
        let alerting = state.alerting.clone();
        let routing = routing.clone();
        state
            .with_store(move |s| {
                let keep = |r: &AlertRecord| keeps(&alerting, &routing, &filter, &r.alert);
                s.search_alerts(
                    &filter.sql,
                    &keep,
                    ((page - 1) * limit) as usize,
                    limit as usize,
                )
            })
            .await?
    } else {
        let old_state = filter.sql.states.first().copied();
        let rows = state
            .with_store(move |s| match &filter.monitor {
                Some(m) => {
                    let mut rows = s.alerts_with_label("monitor", m, limit)?;
                    rows.retain(|a| old_state.is_none_or(|st| a.alert.state == st));
                    Ok(rows)
                }
                None => s.list_alerts(old_state, limit),
            })
            .await?;
        (rows, false)
    };
    let alerts = records
        .into_iter()
        .map(|r| item(&state.alerting, &routing, r))
        .collect();
    Ok(AlertList {
        alerts,
        page,
        limit,
        has_more,
    })
}

fn keeps(alerting: &Dispatcher, routing: &Routing, f: &Filter, a: &Alert) -> bool {
    if !f.matchers.matches(&a.labels) {
        return false;
    }
    if let Some(m) = &f.monitor
        && a.labels.get("monitor") != Some(m)
    {
        return false;
    }
    if let Some(r) = &f.receiver
        && !routing.receivers_for(&a.labels).contains(r)
    {
        return false;
    }
    match f.suppressed {
        None => true,
        Some(which) => {
            let s = alerting.suppression_of(a);
            match which {
                "silenced" => !s.silenced_by.is_empty(),
                "inhibited" => !s.inhibited_by.is_empty(),
                _ => !s.is_suppressed(),
            }
        }
    }
}

fn item(alerting: &Dispatcher, routing: &Routing, record: AlertRecord) -> AlertItem {
    let (silenced_by, inhibited_by) = if record.alert.state == AlertState::Resolved {
        (Vec::new(), Vec::new())
    } else {
        let s = alerting.suppression_of(&record.alert);
        (s.silenced_by, s.inhibited_by)
    };
    AlertItem {
        source: source_of(&record.alert),
        receivers: routing.receivers_for(&record.alert.labels),
        silenced_by,
        inhibited_by,
        record,
    }
}

/// The path of a link to this server, whatever external URL it was made with.
fn local_path(url: &str, marker: &str) -> Option<String> {
    url.find(marker).map(|i| url[i..].to_string())
}

pub fn source_of(a: &Alert) -> AlertSource {
    let url = &a.generator_url;
    if a.name() == pharos_notify::test_notification::TEST_ALERT_NAME {
        return AlertSource {
            kind: "test",
            name: "test notification".into(),
            url: None,
        };
    }
    if let Some(monitor) = a.labels.get("monitor")
        && let Some(path) = local_path(url, "/monitors/")
    {
        return AlertSource {
            kind: "monitor",
            name: monitor.clone(),
            url: Some(path),
        };
    }
    if let Some((group, rule)) = pharos_evaluate::rules::group::rule_of_generator_url(url) {
        return AlertSource {
            kind: "rule",
            name: format!("{group} / {rule}"),
            url: local_path(url, "/rules?"),
        };
    }
    // A log rule's alert links to the explorer on the lines that raised it.
    if let Some(path) = local_path(url, "/logs?") {
        return AlertSource {
            kind: "logs",
            name: a.name().to_string(),
            url: Some(path),
        };
    }
    if let Some(project) = a.labels.get("project")
        && let Some(path) = local_path(url, "/issues").or_else(|| local_path(url, "/transactions"))
    {
        return AlertSource {
            kind: "errors",
            name: project.clone(),
            url: Some(path),
        };
    }
    let host = url
        .parse::<url::Url>()
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    let name = a
        .labels
        .get("job")
        .cloned()
        .or(host)
        .unwrap_or_else(|| "Alertmanager API".into());
    AlertSource {
        kind: "external",
        name,
        url: (url.starts_with("http://") || url.starts_with("https://")).then(|| url.clone()),
    }
}

/// The group keys an alert's notifications are filed under: one per route it takes
/// (as the dispatcher builds them), and the alert's own fingerprint, under which
/// notifications queued outside the dispatcher are filed.
pub fn group_keys(routing: &Routing, a: &Alert) -> Vec<String> {
    let mut keys: Vec<String> = routing
        .routes_for(&a.labels)
        .into_iter()
        .map(|id| {
            let route = &routing.routes[id];
            let labels = if route.digest.is_some() {
                pharos_model::Labels::new()
            } else {
                route.group_by.group_labels(&a.labels)
            };
            format!("{}:{}", route.key, label_set_string(&labels))
        })
        .collect();
    keys.push(a.fingerprint.clone());
    keys.dedup();
    keys
}

/// Who was told about each alert occurrence: the notifications of its groups while it
/// was open (and its resolved notice), newest first, by alert row id.
pub async fn notifications_for(
    state: &App,
    alerts: &[AlertRecord],
    per_alert: usize,
) -> Result<HashMap<i64, Vec<Delivery>>, AppError> {
    let routing = state.alerting.routing();
    let now = Utc::now();
    let searches: Vec<(i64, DeliverySearch)> = alerts
        .iter()
        .map(|r| {
            let until = match (r.alert.state, r.alert.ends_at) {
                (AlertState::Resolved, Some(end)) => end + RESOLVED_NOTICE_SLACK,
                (AlertState::Resolved, None) => r.alert.updated_at + RESOLVED_NOTICE_SLACK,
                _ => now,
            };
            (
                r.id,
                DeliverySearch {
                    groups: group_keys(&routing, &r.alert),
                    // The group may have been notified just before this row was stored.
                    since: Some(r.alert.starts_at - chrono::TimeDelta::seconds(1)),
                    until: Some(until),
                    ..DeliverySearch::default()
                },
            )
        })
        .collect();
    state
        .with_store(move |s| {
            let mut out = HashMap::new();
            for (id, search) in &searches {
                out.insert(*id, s.search_deliveries(search, 0, per_alert)?.0);
            }
            Ok(out)
        })
        .await
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// Only deliveries filed under this group key (or, for notifications queued outside
    /// the dispatcher, alert fingerprint): the `alert_fingerprint` field.
    #[serde(default)]
    pub alert: Option<String>,
    /// The same as `alert`, by the name the dispatcher gives it.
    #[serde(default)]
    pub group: Option<String>,
    /// Deliveries about the alert with this fingerprint: every group it is routed to.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// A receiver (all its integrations) or one integration (`ops/slack0`).
    #[serde(default)]
    pub receiver: Option<String>,
    /// `pending`, `delivered` or `failed`.
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    /// From 1.
    #[serde(default)]
    pub page: Option<u64>,
    #[serde(default)]
    pub limit: Option<u64>,
}

#[derive(Serialize)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
    pub page: u64,
    pub limit: u64,
    pub has_more: bool,
}

pub async fn search_deliveries(
    state: &App,
    p: DeliveryParams,
    default_limit: u64,
) -> Result<DeliveryList, AppError> {
    let limit = p.limit.unwrap_or(default_limit).clamp(1, 1000);
    let page = p.page.unwrap_or(1).max(1);
    let now = Utc::now();
    let outcome = non_empty(&p.outcome);
    if let Some(o) = &outcome
        && !["pending", "delivered", "failed"].contains(&o.as_str())
    {
        return Err(AppError::invalid_field(
            "outcome",
            "expected pending, delivered or failed",
        ));
    }
    let mut groups: Vec<String> = [non_empty(&p.alert), non_empty(&p.group)]
        .into_iter()
        .flatten()
        .collect();
    if let Some(fp) = non_empty(&p.fingerprint) {
        let found = state
            .with_store({
                let fp = fp.clone();
                move |s| {
                    s.search_alerts(
                        &AlertSearch::default(),
                        &|r: &AlertRecord| r.alert.fingerprint == fp,
                        0,
                        1,
                    )
                }
            })
            .await?
            .0;
        match found.first() {
            Some(r) => groups.extend(group_keys(&state.alerting.routing(), &r.alert)),
            None => groups.push(fp),
        }
    }
    let search = DeliverySearch {
        receiver: non_empty(&p.receiver),
        outcome,
        groups,
        since: non_empty(&p.since)
            .map(|s| parse_time(&s, now).map_err(|e| AppError::invalid_field("since", e)))
            .transpose()?,
        until: non_empty(&p.until)
            .map(|s| parse_time(&s, now).map_err(|e| AppError::invalid_field("until", e)))
            .transpose()?,
    };
    let (deliveries, has_more) = state
        .with_store(move |s| {
            s.search_deliveries(&search, ((page - 1) * limit) as usize, limit as usize)
        })
        .await?;
    Ok(DeliveryList {
        deliveries,
        page,
        limit,
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_accepted_shape() {
        let now = Utc::now();
        assert_eq!(
            parse_time("2024-05-01T10:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2024-05-01T10:00:00+00:00"
        );
        assert_eq!(
            parse_time("2024-05-01T10:00", now).unwrap().to_rfc3339(),
            "2024-05-01T10:00:00+00:00"
        );
        assert_eq!(
            parse_time("1714557600", now).unwrap().timestamp(),
            1714557600
        );
        assert_eq!(
            parse_time("2h", now).unwrap(),
            now - chrono::Duration::hours(2)
        );
        assert!(parse_time("yesterday", now).is_err());
    }

    #[test]
    fn sources_from_labels_and_links() {
        let mut a = Alert {
            fingerprint: "x".into(),
            labels: Default::default(),
            annotations: Default::default(),
            state: AlertState::Firing,
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: "https://pharos.example/monitors/api".into(),
            updated_at: Utc::now(),
        };
        a.labels.insert("alertname".into(), "MonitorDown".into());
        a.labels.insert("monitor".into(), "api".into());
        assert_eq!(source_of(&a).kind, "monitor");
        assert_eq!(source_of(&a).url.as_deref(), Some("/monitors/api"));
        a.labels.remove("monitor");
        a.generator_url = "http://prom:9090/graph?g0.expr=up".into();
        a.labels.insert("job".into(), "node".into());
        let s = source_of(&a);
        assert_eq!((s.kind, s.name.as_str()), ("external", "node"));
        a.generator_url = "http://x/rules?group=g&rule=HighLoad".into();
        assert_eq!(source_of(&a).name, "g / HighLoad");
        // A log rule's alert, whatever host the external URL names.
        a.labels
            .insert("alertname".into(), "forbidden_log_patterns".into());
        a.generator_url =
            "http://127.0.0.1:9800/logs?q=service%3Dbot&from=2026-12-07T10%3A00%3A00Z&to=x".into();
        let s = source_of(&a);
        assert_eq!(
            (s.kind, s.name.as_str()),
            ("logs", "forbidden_log_patterns")
        );
        assert!(s.url.unwrap().starts_with("/logs?q=service"));
    }
}
