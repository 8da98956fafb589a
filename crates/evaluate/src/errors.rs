//! Alerts from error tracking, through the one alert model:
//!
//! - `NewIssue` and `IssueRegression` fire when ingest reports a new or reopened issue, and
//!   resolve once the issue is resolved or ignored, has been quiet for an hour, or an hour
//!   after they fired (they mark a moment; a recurring issue is `IssueRateHigh`'s matter);
//! - `ErrorRateHigh` (a project) and `IssueRateHigh` (one issue) fire while more than the
//!   configured events arrive per minute;
//! - `TransactionSlow` fires while a transaction's p95 over the last 5 minutes is above the
//!   project's threshold.
//!
//! Rates use the current and the previous whole minute, so an alert fires within the minute
//! the threshold is crossed and resolves a minute after it is no longer.
//!
//! Alerts raised by events carry the `level`, `environment` and `release` of the event that
//! raised them (for a rate alert, the newest event when it starts firing), so routes can
//! send staging somewhere else than production. A rate alert keeps the labels it started
//! with while it fires: they are not part of what decides whether it still holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, Labels};
use pharos_store::Store;
use pharos_store::errors::{EventLabels, IssueStatus, Project};
use tokio::sync::mpsc;

use crate::AlertSink;

pub const NEW_ISSUE: &str = "NewIssue";
pub const REGRESSION: &str = "IssueRegression";
pub const ERROR_RATE: &str = "ErrorRateHigh";
pub const ISSUE_RATE: &str = "IssueRateHigh";
pub const TRANSACTION_SLOW: &str = "TransactionSlow";
const ALERT_NAMES: &[&str] = &[
    NEW_ISSUE,
    REGRESSION,
    ERROR_RATE,
    ISSUE_RATE,
    TRANSACTION_SLOW,
];

/// How long an issue alert stays firing without new events.
const QUIET: chrono::Duration = chrono::Duration::hours(1);
/// The longest a `NewIssue` or `IssueRegression` alert fires: it is about the moment an
/// issue appeared or came back; an issue that keeps recurring is `IssueRateHigh`'s matter.
const MOMENT: chrono::Duration = chrono::Duration::hours(1);

/// Whether a `NewIssue` / `IssueRegression` alert that started firing at `started` is over:
/// its issue was resolved, ignored or deleted, went quiet for [`QUIET`], or the alert has
/// fired for [`MOMENT`].
fn issue_alert_over(
    started: DateTime<Utc>,
    issue: Option<(IssueStatus, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> bool {
    match issue {
        Some((status, last_seen)) => {
            status != IssueStatus::Unresolved || now - last_seen > QUIET || now - started > MOMENT
        }
        None => true,
    }
}
const TICK: Duration = Duration::from_secs(5);

/// The labels an alert takes from the event that raised it.
const EVENT_LABELS: [&str; 3] = ["level", "environment", "release"];

/// What ingest tells the evaluator about an issue, with the event that made it new or
/// reopened it.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueSignal {
    New {
        project: i64,
        issue: i64,
        event: EventLabels,
    },
    Regression {
        project: i64,
        issue: i64,
        event: EventLabels,
    },
}

/// Adds the event's labels; a label the project's `alerts.labels` sets is kept.
fn add_event_labels(labels: &mut Labels, e: &EventLabels) {
    let values = [
        ("level", Some(&e.level)),
        ("environment", e.environment.as_ref()),
        ("release", e.release.as_ref()),
    ];
    for (k, v) in values {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            labels.entry(k.into()).or_insert_with(|| v.clone());
        }
    }
}

/// An alert's fingerprint without the labels taken from an event: what identifies a rate
/// alert from one evaluation to the next.
fn fingerprint_without_event(labels: &Labels) -> String {
    let mut base = labels.clone();
    for k in EVENT_LABELS {
        base.remove(k);
    }
    Alert::fingerprint_of(&base)
}

pub struct ErrorAlerts {
    store: Arc<Store>,
    alerts: Arc<AlertSink>,
    external_url: Arc<RwLock<String>>,
    /// Open alerts by fingerprint.
    open: HashMap<String, Alert>,
}

impl ErrorAlerts {
    pub fn new(
        store: Arc<Store>,
        alerts: Arc<AlertSink>,
        external_url: Arc<RwLock<String>>,
    ) -> ErrorAlerts {
        ErrorAlerts {
            store,
            alerts,
            external_url,
            open: HashMap::new(),
        }
    }

    /// Runs until the signal channel closes.
    pub async fn run(mut self, mut signals: mpsc::UnboundedReceiver<IssueSignal>) {
        // Alerts that were open before a restart stay open and are not sent again.
        let store = self.store.clone();
        if let Ok(Ok(open)) =
            tokio::task::spawn_blocking(move || store.list_alerts(None, 100_000)).await
        {
            for r in open {
                if r.alert.state != AlertState::Resolved && ALERT_NAMES.contains(&r.alert.name()) {
                    self.open.insert(r.alert.fingerprint.clone(), r.alert);
                }
            }
        }
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                s = signals.recv() => match s {
                    Some(s) => self.on_signal(s).await,
                    None => return,
                },
                _ = tick.tick() => self.evaluate(Utc::now()).await,
            }
        }
    }

    async fn on_signal(&mut self, signal: IssueSignal) {
        let (project, issue, name, event) = match signal {
            IssueSignal::New {
                project,
                issue,
                event,
            } => (project, issue, NEW_ISSUE, event),
            IssueSignal::Regression {
                project,
                issue,
                event,
            } => (project, issue, REGRESSION, event),
        };
        let store = self.store.clone();
        let found = tokio::task::spawn_blocking(move || {
            let p = store.errors().project(project)?;
            let i = store.errors().issue_states(&[issue])?;
            Ok::<_, pharos_store::StoreError>((p, i))
        })
        .await;
        let Ok(Ok((p, issues))) = found else { return };
        let Some(i) = issues.into_iter().next() else {
            return;
        };
        let wanted = match name {
            NEW_ISSUE => p.settings.alerts.new_issue,
            _ => p.settings.alerts.regression,
        };
        if !wanted {
            return;
        }
        let mut labels = self.labels(&p, name);
        labels.insert("issue_id".into(), issue.to_string());
        add_event_labels(&mut labels, &event);
        let summary = match name {
            NEW_ISSUE => format!("New issue in {}: {}", p.name, i.title),
            _ => format!("Regression in {}: {}", p.name, i.title),
        };
        let mut annotations = Labels::new();
        annotations.insert("summary".into(), summary);
        annotations.insert("description".into(), issue_description(&i));
        annotations.insert("culprit".into(), i.culprit.clone());
        if let Some(r) = &i.last_release {
            annotations.insert("release".into(), r.clone());
        }
        let url = format!("{}/issues/{issue}", self.external());
        self.fire(labels, annotations, url, Utc::now()).await;
    }

    async fn evaluate(&mut self, now: DateTime<Utc>) {
        let store = self.store.clone();
        let minute = now.timestamp() - now.timestamp().rem_euclid(60);
        let previous = DateTime::from_timestamp(minute - 60, 0).unwrap_or(now);
        let current = DateTime::from_timestamp(minute, 0).unwrap_or(now);
        let issue_ids: Vec<i64> = self
            .open
            .values()
            .filter_map(|a| a.labels.get("issue_id")?.parse().ok())
            .collect();
        let data = tokio::task::spawn_blocking(move || {
            store.errors().wake_ignored_issues(now)?;
            let projects = store.errors().projects()?;
            let prev = store.errors().counts_in_minute(previous)?;
            let cur = store.errors().counts_in_minute(current)?;
            let issues = store.errors().issue_states(&issue_ids)?;
            let mut slow = Vec::new();
            for p in projects
                .iter()
                .filter(|p| p.settings.alerts.transaction_p95.is_some())
            {
                let summaries = store.errors().transaction_summaries(
                    Some(p.id),
                    now - chrono::Duration::minutes(5),
                    now,
                )?;
                slow.push((p.id, summaries));
            }
            Ok::<_, pharos_store::StoreError>((projects, prev, cur, issues, slow))
        })
        .await;
        let (projects, prev, cur, issues, slow) = match data {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::warn!(operation = "error_alerts", error_type = "store", error = %e, "cannot evaluate error alerts");
                return;
            }
            Err(_) => return,
        };
        let by_id: HashMap<i64, &Project> = projects.iter().map(|p| (p.id, p)).collect();
        let external = self.external();

        // Per issue and per project: the larger of the two minutes.
        let mut issue_rate: HashMap<i64, (i64, i64)> = HashMap::new();
        for (project, issue, n) in prev.iter().chain(cur.iter()) {
            let e = issue_rate.entry(*issue).or_insert((*project, 0));
            e.1 = e.1.max(*n);
        }
        let mut project_rate: HashMap<i64, i64> = HashMap::new();
        for counts in [&prev, &cur] {
            let mut sums: HashMap<i64, i64> = HashMap::new();
            for (project, _, n) in counts.iter() {
                *sums.entry(*project).or_default() += n;
            }
            for (p, n) in sums {
                let e = project_rate.entry(p).or_default();
                *e = (*e).max(n);
            }
        }

        // What should be firing now.
        let mut desired: BTreeMap<String, (Labels, Labels, String)> = BTreeMap::new();
        for p in &projects {
            let a = &p.settings.alerts;
            if let Some(limit) = a.events_per_minute {
                let n = project_rate.get(&p.id).copied().unwrap_or(0);
                if n > i64::from(limit) {
                    let labels = self.labels(p, ERROR_RATE);
                    let mut ann = Labels::new();
                    ann.insert(
                        "summary".into(),
                        format!("{} gets {n} errors per minute", p.name),
                    );
                    ann.insert(
                        "description".into(),
                        format!("More than {limit} events per minute in project {}.", p.name),
                    );
                    ann.insert("value".into(), n.to_string());
                    desired.insert(
                        fingerprint_without_event(&labels),
                        (labels, ann, format!("{external}/issues?project={}", p.id)),
                    );
                }
            }
        }
        for (issue, (project, n)) in &issue_rate {
            let Some(p) = by_id.get(project) else {
                continue;
            };
            let Some(limit) = p.settings.alerts.issue_events_per_minute else {
                continue;
            };
            if *n > i64::from(limit) {
                let mut labels = self.labels(p, ISSUE_RATE);
                labels.insert("issue_id".into(), issue.to_string());
                let mut ann = Labels::new();
                ann.insert(
                    "summary".into(),
                    format!("Issue {issue} in {} gets {n} events per minute", p.name),
                );
                ann.insert("value".into(), n.to_string());
                desired.insert(
                    fingerprint_without_event(&labels),
                    (labels, ann, format!("{external}/issues/{issue}")),
                );
            }
        }
        for (project, summaries) in &slow {
            let Some(p) = by_id.get(project) else {
                continue;
            };
            let Some(limit) = p.settings.alerts.transaction_p95 else {
                continue;
            };
            let limit_ms = limit.as_duration().as_secs_f64() * 1000.0;
            for s in summaries.iter().filter(|s| s.p95_ms > limit_ms) {
                let mut labels = self.labels(p, TRANSACTION_SLOW);
                labels.insert("transaction".into(), s.name.clone());
                let mut ann = Labels::new();
                ann.insert(
                    "summary".into(),
                    format!(
                        "{} p95 is {:.0} ms in {} (threshold {limit})",
                        s.name, s.p95_ms, p.name
                    ),
                );
                ann.insert("value".into(), format!("{:.1}", s.p95_ms / 1000.0));
                desired.insert(
                    fingerprint_without_event(&labels),
                    (
                        labels,
                        ann,
                        format!("{external}/transactions?project={}", p.id),
                    ),
                );
            }
        }

        // Fire what is new; resolve rate alerts that no longer hold and issue alerts whose
        // issue was handled or went quiet.
        let open_rate: std::collections::HashSet<String> = self
            .open
            .values()
            .filter(|a| !matches!(a.name(), NEW_ISSUE | REGRESSION))
            .map(|a| fingerprint_without_event(&a.labels))
            .collect();
        let starting: Vec<&(Labels, Labels, String)> = desired
            .iter()
            .filter(|(fp, _)| !open_rate.contains(*fp))
            .map(|(_, d)| d)
            .collect();
        let newest = self.newest_events(&starting).await;
        for (labels, ann, url) in starting {
            let mut labels = labels.clone();
            let name = labels.get("alertname").cloned().unwrap_or_default();
            let event = match name.as_str() {
                ISSUE_RATE => labels
                    .get("issue_id")
                    .and_then(|i| i.parse::<i64>().ok())
                    .and_then(|i| newest.issues.get(&i)),
                ERROR_RATE => {
                    by_name(&projects, labels.get("project")).and_then(|p| newest.projects.get(&p))
                }
                _ => None,
            };
            if let Some(e) = event {
                add_event_labels(&mut labels, e);
            }
            self.fire(labels, ann.clone(), url.clone(), now).await;
        }
        let issues: HashMap<i64, _> = issues.into_iter().map(|i| (i.id, i)).collect();
        let to_resolve: Vec<String> = self
            .open
            .iter()
            .filter(|(_, a)| match a.name() {
                NEW_ISSUE | REGRESSION => {
                    let id = a.labels.get("issue_id").and_then(|i| i.parse::<i64>().ok());
                    let issue = id.and_then(|id| issues.get(&id));
                    issue_alert_over(a.starts_at, issue.map(|i| (i.status, i.last_seen)), now)
                }
                _ => !desired.contains_key(&fingerprint_without_event(&a.labels)),
            })
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in to_resolve {
            if let Some(mut alert) = self.open.remove(&fp) {
                alert.state = AlertState::Resolved;
                alert.ends_at = Some(now);
                alert.updated_at = now;
                self.save(alert).await;
            }
        }
    }

    /// The newest event of each issue and project a starting rate alert is about.
    async fn newest_events(&self, starting: &[&(Labels, Labels, String)]) -> NewestEvents {
        let mut issues = Vec::new();
        let mut projects = Vec::new();
        for (labels, _, _) in starting {
            match labels.get("alertname").map(String::as_str) {
                Some(ISSUE_RATE) => {
                    issues.extend(labels.get("issue_id").and_then(|i| i.parse::<i64>().ok()))
                }
                Some(ERROR_RATE) => projects.extend(labels.get("project").cloned()),
                _ => {}
            }
        }
        if issues.is_empty() && projects.is_empty() {
            return NewestEvents::default();
        }
        let store = self.store.clone();
        let found = tokio::task::spawn_blocking(move || {
            let all = store.errors().projects()?;
            let ids: Vec<i64> = all
                .iter()
                .filter(|p| projects.contains(&p.name))
                .map(|p| p.id)
                .collect();
            Ok::<_, pharos_store::StoreError>(NewestEvents {
                issues: store.errors().newest_event_labels(&issues, false)?,
                projects: store.errors().newest_event_labels(&ids, true)?,
            })
        })
        .await;
        match found {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                // The alert still fires, without the event's labels.
                tracing::warn!(operation = "error_alerts", error_type = "store", error = %e, "cannot read the newest events for alert labels");
                NewestEvents::default()
            }
            Err(_) => NewestEvents::default(),
        }
    }

    fn labels(&self, p: &Project, name: &str) -> Labels {
        let mut l = Labels::new();
        l.insert("alertname".into(), name.into());
        l.insert("project".into(), p.name.clone());
        let default_severity = match name {
            NEW_ISSUE | REGRESSION => "warning",
            _ => "critical",
        };
        l.insert(
            "severity".into(),
            p.settings
                .alerts
                .labels
                .get("severity")
                .cloned()
                .unwrap_or_else(|| default_severity.into()),
        );
        for (k, v) in &p.settings.alerts.labels {
            l.entry(k.clone()).or_insert_with(|| v.clone());
        }
        l
    }

    fn external(&self) -> String {
        self.external_url
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn fire(&mut self, labels: Labels, annotations: Labels, url: String, now: DateTime<Utc>) {
        let fingerprint = Alert::fingerprint_of(&labels);
        if self.open.contains_key(&fingerprint) {
            return;
        }
        let alert = Alert {
            fingerprint: fingerprint.clone(),
            labels,
            annotations,
            state: AlertState::Firing,
            starts_at: now,
            ends_at: None,
            generator_url: url,
            updated_at: now,
        };
        self.open.insert(fingerprint, alert.clone());
        self.save(alert).await;
    }

    async fn save(&self, alert: Alert) {
        self.alerts.publish(alert, true, "error_tracking").await;
    }
}

/// The newest event's labels, by issue and by project id.
#[derive(Default)]
struct NewestEvents {
    issues: HashMap<i64, EventLabels>,
    projects: HashMap<i64, EventLabels>,
}

fn by_name(projects: &[Project], name: Option<&String>) -> Option<i64> {
    let name = name?;
    projects.iter().find(|p| &p.name == name).map(|p| p.id)
}

fn issue_description(i: &pharos_store::errors::IssueSummary) -> String {
    let mut s = format!("{} event(s)", i.count);
    if !i.culprit.is_empty() {
        s.push_str(&format!(" in {}", i.culprit));
    }
    s.push_str(&format!(
        ", level {}, first seen {}",
        i.level,
        i.first_seen.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_labels_are_added_without_overriding_the_projects_own() {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), NEW_ISSUE.into());
        labels.insert("release".into(), "pinned-by-config".into());
        let event = EventLabels {
            level: "error".into(),
            environment: Some("staging".into()),
            release: Some("shop@2.0".into()),
        };
        add_event_labels(&mut labels, &event);
        assert_eq!(labels["environment"], "staging");
        assert_eq!(labels["level"], "error");
        assert_eq!(labels["release"], "pinned-by-config");
        let no_env = EventLabels {
            level: "warning".into(),
            environment: Some(String::new()),
            release: None,
        };
        let mut bare = Labels::new();
        add_event_labels(&mut bare, &no_env);
        assert!(!bare.contains_key("environment") && !bare.contains_key("release"));
    }

    #[test]
    fn issue_alerts_end_when_handled_quiet_or_an_hour_old() {
        let now = Utc::now();
        let min = chrono::Duration::minutes;
        let open = IssueStatus::Unresolved;
        // Fired 10 minutes ago, events still coming: firing.
        assert!(!issue_alert_over(now - min(10), Some((open, now)), now));
        // An issue that keeps recurring does not keep its NewIssue firing for ever.
        assert!(issue_alert_over(
            now - min(61),
            Some((open, now - min(1))),
            now
        ));
        // Quiet for an hour, handled, or gone.
        assert!(issue_alert_over(
            now - min(10),
            Some((open, now - min(61))),
            now
        ));
        assert!(issue_alert_over(
            now - min(10),
            Some((IssueStatus::Resolved, now)),
            now
        ));
        assert!(issue_alert_over(now - min(10), None, now));
    }

    #[test]
    fn a_rate_alert_is_the_same_alert_whatever_event_labelled_it() {
        let mut a = Labels::new();
        a.insert("alertname".into(), ERROR_RATE.into());
        a.insert("project".into(), "shop".into());
        let mut b = a.clone();
        a.insert("environment".into(), "staging".into());
        b.insert("environment".into(), "production".into());
        b.insert("level".into(), "error".into());
        assert_eq!(fingerprint_without_event(&a), fingerprint_without_event(&b));
        assert_ne!(Alert::fingerprint_of(&a), Alert::fingerprint_of(&b));
    }
}
