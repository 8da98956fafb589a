//! Incidents: one per dispatcher group while it fires, with a timeline, acknowledgement
//! (also through a signed link in the notification), notes, resolution (by itself when
//! every alert resolved, or by hand), escalation policies, runbooks and a post-mortem
//! draft.
//!
//! The path: before each dispatcher pass flushes its due groups it hands this service a
//! snapshot of every group ([`IncidentHook::before_flush`]). A due group with firing,
//! unmuted alerts opens an incident, so the group's first notification already carries
//! the acknowledgement link the hook answers with; later snapshots add alert changes to
//! the timeline and resolve the incident when every alert resolved. The escalation loop
//! ([`Incidents::run`]) reads the open incidents and queues each step due — through the
//! same receivers, delivery queue and delivery log — recording the step reached in the
//! same transaction, so acknowledging stops it and a restart never repeats a step.

pub mod escalation;
pub mod links;
pub mod postmortem;
pub mod runbooks;
mod settings;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::clock::Clock;
use pharos_model::{Alert, AlertState, Labels, Notification};
use pharos_store::{
    DeliveryOutcome, IncidentEvent, IncidentRecord, IncidentState, NewDelivery, NewIncident,
    NewIncidentEvent, Store, StoreError,
};
use serde::Serialize;
use tokio::sync::Notify;

use crate::BoxFuture;
use crate::dispatch::Integrations;
pub use crate::dispatch::{GroupSnapshot, IncidentHook};
use crate::oncall::{Schedule, Shift};
pub use escalation::{EscalationPolicy, EscalationPolicyConfig, ONCALL_PREFIX};
pub use links::{AckLinks, LinkError};
pub use runbooks::{Runbook, Runbooks};
pub use settings::{IncidentConfigError, IncidentSettings};

/// How long an acknowledgement link in a notification works.
pub const ACK_LINK_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// A resolved incident's link still goes into its group's resolution notification.
const RESOLVED_LINK_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("{0}")]
    Invalid(String),
    #[error("incident task failed: {0}")]
    Task(String),
}

/// One line of an incident's timeline: a stored event, or a notification from the
/// delivery log with its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// The event kind, or `notified` for a delivery.
    pub kind: String,
    pub actor: Option<String>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// `pending`, `delivered` or `failed`, for notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// What the escalation policy will do next for an open incident.
#[derive(Clone, Debug, Serialize)]
pub struct NextEscalation {
    pub policy: String,
    pub at: DateTime<Utc>,
    pub level: usize,
    pub receivers: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: IncidentRecord,
    pub timeline: Vec<TimelineEntry>,
    pub runbooks: Vec<Runbook>,
    pub next_escalation: Option<NextEscalation>,
}

/// A schedule as the API and page show it.
#[derive(Clone, Debug, Serialize)]
pub struct OnCallView {
    pub name: String,
    pub timezone: String,
    pub current: Shift,
    pub receivers: Vec<String>,
    pub next_handoff: DateTime<Utc>,
    pub upcoming: Vec<Shift>,
    pub overrides: Vec<crate::oncall::Override>,
    pub people: Vec<crate::oncall::Person>,
}

#[derive(Default)]
struct Cache {
    loaded: bool,
    /// The latest incident of each group seen (`None`: the group never had one).
    by_group: HashMap<String, Option<IncidentRecord>>,
}

/// The incident service.
pub struct Incidents {
    store: Arc<Store>,
    integrations: Arc<dyn Integrations>,
    clock: Arc<dyn Clock>,
    links: AckLinks,
    settings: RwLock<Arc<IncidentSettings>>,
    external_url: RwLock<String>,
    /// Held across the store writes, so group syncs and people's actions take turns.
    cache: tokio::sync::Mutex<Cache>,
    wake: Notify,
    deliveries_waiting: Arc<Notify>,
}

fn severity_rank(s: &str) -> u8 {
    match s.to_ascii_lowercase().as_str() {
        "critical" | "page" | "fatal" => 5,
        "error" | "high" => 4,
        "warning" | "warn" | "medium" => 3,
        "info" | "low" => 2,
        "" => 0,
        _ => 1,
    }
}

fn severity_of(alerts: &[Alert]) -> String {
    alerts
        .iter()
        .filter_map(|a| a.labels.get("severity"))
        .max_by_key(|s| severity_rank(s))
        .cloned()
        .unwrap_or_else(|| "none".into())
}

fn title_of(labels: &Labels, alerts: &[Alert]) -> String {
    let name = labels
        .get("alertname")
        .cloned()
        .or_else(|| alerts.first().map(|a| a.name().to_string()))
        .unwrap_or_else(|| "alerts".into());
    let others: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .take(3)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut names: Vec<&str> = alerts.iter().map(Alert::name).collect();
    names.sort();
    names.dedup();
    let more = if !labels.contains_key("alertname") && names.len() > 1 {
        format!(" (+{} more)", names.len() - 1)
    } else {
        String::new()
    };
    if others.is_empty() {
        format!("{name}{more}")
    } else {
        format!("{name}{more} {{{}}}", others.join(", "))
    }
}

fn describe_alert(a: &Alert) -> String {
    let labels: Vec<String> = a
        .labels
        .iter()
        .filter(|(k, _)| *k != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if labels.is_empty() {
        a.name().to_string()
    } else {
        format!("{} {{{}}}", a.name(), labels.join(", "))
    }
}

/// The incident's alerts with the group's current versions merged in, and the events that
/// say what changed.
fn merge_alerts(
    known: &[Alert],
    group: &[Alert],
    now: DateTime<Utc>,
) -> (Vec<Alert>, Vec<NewIncidentEvent>) {
    let mut out = known.to_vec();
    let mut events = Vec::new();
    for a in group {
        match out.iter_mut().find(|b| b.fingerprint == a.fingerprint) {
            Some(b) => {
                if b.state == a.state && b.updated_at == a.updated_at {
                    continue;
                }
                match (b.state, a.state) {
                    (AlertState::Firing, AlertState::Resolved) => {
                        events.push(NewIncidentEvent::new(
                            a.ends_at.unwrap_or(now),
                            "alert_resolved",
                            format!("resolved: {}", describe_alert(a)),
                        ))
                    }
                    (AlertState::Resolved, AlertState::Firing) => {
                        events.push(NewIncidentEvent::new(
                            a.starts_at.max(b.updated_at),
                            "alert_firing",
                            format!("firing again: {}", describe_alert(a)),
                        ))
                    }
                    _ => {}
                }
                *b = a.clone();
            }
            None if a.state == AlertState::Firing => {
                events.push(NewIncidentEvent::new(
                    a.starts_at,
                    "alert_firing",
                    format!("firing: {}", describe_alert(a)),
                ));
                out.push(a.clone());
            }
            None => {}
        }
    }
    (out, events)
}

impl Incidents {
    pub fn new(
        store: Arc<Store>,
        integrations: Arc<dyn Integrations>,
        deliveries_waiting: Arc<Notify>,
        clock: Arc<dyn Clock>,
        links: AckLinks,
    ) -> Arc<Incidents> {
        Arc::new(Incidents {
            store,
            integrations,
            clock,
            links,
            settings: RwLock::new(Arc::new(IncidentSettings::default())),
            external_url: RwLock::new(String::new()),
            cache: tokio::sync::Mutex::new(Cache::default()),
            wake: Notify::new(),
            deliveries_waiting,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn set_settings(&self, settings: IncidentSettings, external_url: &str) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        *self.external_url.write().unwrap_or_else(|p| p.into_inner()) = external_url.to_string();
        self.wake.notify_one();
    }

    pub fn settings(&self) -> Arc<IncidentSettings> {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn external_url(&self) -> String {
        self.external_url
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn links(&self) -> &AckLinks {
        &self.links
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, IncidentError> {
        crate::blocking::with_store(&self.store, f, IncidentError::Task).await
    }

    /// Opens, updates and resolves incidents from the dispatcher's groups; answers the
    /// acknowledgement link of each group that has an incident.
    pub async fn sync_groups(
        &self,
        groups: Vec<GroupSnapshot>,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, String>, IncidentError> {
        let mut cache = self.cache.lock().await;
        if !cache.loaded {
            let open = self.blocking(|s| s.unresolved_incidents()).await?;
            for inc in open {
                cache.by_group.insert(inc.group_key.clone(), Some(inc));
            }
            cache.loaded = true;
        }
        let missing: Vec<String> = groups
            .iter()
            .filter(|g| !cache.by_group.contains_key(&g.key))
            .map(|g| g.key.clone())
            .collect();
        if !missing.is_empty() {
            let keys = missing.clone();
            let found = self.blocking(move |s| s.latest_incidents(&keys)).await?;
            for k in missing {
                cache.by_group.insert(k, None);
            }
            for inc in found {
                cache.by_group.insert(inc.group_key.clone(), Some(inc));
            }
        }
        let settings = self.settings();
        let mut opened = false;
        let mut seen = std::collections::HashSet::new();
        for g in &groups {
            // Several groups may share an incident (implicit routing): the first speaks for it.
            if !seen.insert(g.key.as_str()) {
                continue;
            }
            let latest = cache.by_group.get(&g.key).cloned().flatten();
            let updated = match latest {
                Some(inc) if inc.state != IncidentState::Resolved => {
                    self.update_from_group(&inc, g, now).await?
                }
                latest => {
                    let opens = self.opens_incident(latest.as_ref(), g);
                    if !opens {
                        continue;
                    }
                    opened = true;
                    Some(self.open_incident(g, &settings, now).await?)
                }
            };
            if let Some(inc) = updated {
                cache.by_group.insert(g.key.clone(), Some(inc));
            }
        }
        // A group that no longer exists has no alert left firing (they resolved and the
        // resolution went out) or the routing changed: its incident cannot go on.
        let present: std::collections::HashSet<&str> =
            groups.iter().map(|g| g.key.as_str()).collect();
        let orphaned: Vec<IncidentRecord> = cache
            .by_group
            .iter()
            .filter(|(k, _)| !present.contains(k.as_str()))
            .filter_map(|(_, v)| v.clone())
            .filter(|i| i.state != IncidentState::Resolved)
            .collect();
        for inc in orphaned {
            let mut alerts = inc.alerts.clone();
            for a in alerts.iter_mut().filter(|a| a.state == AlertState::Firing) {
                a.state = AlertState::Resolved;
                a.ends_at = Some(now);
            }
            let id = inc.id;
            let record = self
                .blocking(move |s| {
                    s.update_incident_alerts(
                        id,
                        &alerts,
                        &[NewIncidentEvent::new(
                            now,
                            "note",
                            "the group's alerts left the dispatcher (resolved, or the routing changed)",
                        )],
                        Some(now),
                    )
                })
                .await?;
            cache
                .by_group
                .insert(record.group_key.clone(), Some(record));
        }
        cache.by_group.retain(|k, v| {
            present.contains(k.as_str())
                || v.as_ref()
                    .is_some_and(|i| i.state != IncidentState::Resolved)
        });
        let external = self.external_url();
        let links = groups
            .iter()
            .filter_map(|g| {
                let inc = cache.by_group.get(&g.key)?.as_ref()?;
                let current = inc.state != IncidentState::Resolved
                    || inc
                        .resolved_at
                        .is_some_and(|t| t + RESOLVED_LINK_GRACE >= now);
                current.then(|| {
                    (
                        g.key.clone(),
                        self.links.url(&external, inc.id, now + ACK_LINK_TTL),
                    )
                })
            })
            .collect();
        drop(cache);
        if opened {
            self.wake.notify_one();
        }
        Ok(links)
    }

    /// A due group with firing, unmuted alerts opens an incident — unless a person
    /// resolved the group's last incident while these same alerts were firing.
    fn opens_incident(&self, latest: Option<&IncidentRecord>, g: &GroupSnapshot) -> bool {
        let firing: Vec<&Alert> = g
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing && !g.muted.contains(&a.fingerprint))
            .collect();
        if !g.due || firing.is_empty() {
            return false;
        }
        match latest {
            Some(inc) if inc.resolved_by.is_some() => !firing.iter().all(|a| {
                inc.alerts.iter().any(|b| {
                    b.fingerprint == a.fingerprint
                        && b.starts_at == a.starts_at
                        && b.state == AlertState::Firing
                })
            }),
            _ => true,
        }
    }

    async fn open_incident(
        &self,
        g: &GroupSnapshot,
        settings: &IncidentSettings,
        now: DateTime<Utc>,
    ) -> Result<IncidentRecord, IncidentError> {
        let alerts: Vec<Alert> = g
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .cloned()
            .collect();
        let policy = g
            .escalation
            .as_ref()
            .and_then(|name| settings.policies.get(name));
        let plan = policy.map(|p| p.plan(&g.receiver));
        let mut text = format!(
            "opened: {} alert(s) firing; {} notified",
            alerts.len(),
            g.receiver
        );
        if let Some(p) = policy {
            text.push_str(&format!("; escalation policy {}", p.name));
        }
        let mut events = vec![NewIncidentEvent::new(now, "opened", text)];
        for a in &alerts {
            events.push(NewIncidentEvent::new(
                a.starts_at,
                "alert_firing",
                format!("firing: {}", describe_alert(a)),
            ));
        }
        let new = NewIncident {
            group_key: g.key.clone(),
            receiver: g.receiver.clone(),
            title: title_of(&g.labels, &alerts),
            group_labels: g.labels.clone(),
            severity: severity_of(&alerts),
            escalation: policy.map(|p| p.name.clone()),
            // The route's receiver is level 1 and the dispatcher is notifying it now.
            escalation_step: u32::from(plan.as_ref().is_some_and(|p| p.implicit_first)),
            alerts,
            opened_at: now,
        };
        let record = self
            .blocking(move |s| s.open_incident(&new, &events))
            .await?;
        tracing::info!(
            operation = "incident",
            incident = record.id,
            group = record.group_key.as_str(),
            "incident opened"
        );
        Ok(record)
    }

    async fn update_from_group(
        &self,
        inc: &IncidentRecord,
        g: &GroupSnapshot,
        now: DateTime<Utc>,
    ) -> Result<Option<IncidentRecord>, IncidentError> {
        let (alerts, events) = merge_alerts(&inc.alerts, &g.alerts, now);
        let all_resolved = alerts.iter().all(|a| a.state != AlertState::Firing);
        let changed = alerts != inc.alerts;
        if events.is_empty() && !all_resolved && !changed {
            return Ok(None);
        }
        let id = inc.id;
        let resolve_at = all_resolved.then_some(now);
        let record = self
            .blocking(move |s| s.update_incident_alerts(id, &alerts, &events, resolve_at))
            .await?;
        if all_resolved {
            tracing::info!(operation = "incident", incident = id, "incident resolved");
        }
        Ok(Some(record))
    }

    async fn remember(&self, record: &IncidentRecord) {
        let mut cache = self.cache.lock().await;
        if let Some(slot) = cache.by_group.get_mut(&record.group_key)
            && slot.as_ref().is_none_or(|i| i.id <= record.id)
        {
            *slot = Some(record.clone());
        }
    }

    pub async fn acknowledge(&self, id: i64, who: &str) -> Result<IncidentRecord, IncidentError> {
        let who = clean_name(who)?;
        let now = self.now();
        let record = self
            .blocking(move |s| s.acknowledge_incident(id, &who, now))
            .await?;
        self.remember(&record).await;
        Ok(record)
    }

    /// Acknowledges through a signed link; `who` is what the person typed, if anything.
    pub async fn acknowledge_by_link(
        &self,
        token: &str,
        who: Option<&str>,
    ) -> Result<IncidentRecord, IncidentError> {
        let id = self.links.verify(token, self.now())?;
        let who = match who.map(str::trim).filter(|w| !w.is_empty()) {
            Some(w) => format!("{w} (signed link)"),
            None => "someone with the signed link".to_string(),
        };
        self.acknowledge(id, &who).await
    }

    /// The incident a signed link is for, checking the link (for its confirmation page).
    pub async fn incident_for_link(&self, token: &str) -> Result<IncidentRecord, IncidentError> {
        let id = self.links.verify(token, self.now())?;
        self.blocking(move |s| s.get_incident(id)).await
    }

    pub async fn resolve(&self, id: i64, who: &str) -> Result<IncidentRecord, IncidentError> {
        let who = clean_name(who)?;
        let now = self.now();
        let record = self
            .blocking(move |s| s.resolve_incident(id, &who, now))
            .await?;
        self.remember(&record).await;
        Ok(record)
    }

    pub async fn add_note(
        &self,
        id: i64,
        who: &str,
        text: &str,
    ) -> Result<IncidentEvent, IncidentError> {
        let who = clean_name(who)?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(IncidentError::Invalid(
                "text: a note needs some text".into(),
            ));
        }
        if text.len() > 10_000 {
            return Err(IncidentError::Invalid(
                "text: a note is at most 10000 bytes".into(),
            ));
        }
        let now = self.now();
        self.blocking(move |s| s.add_incident_note(id, &who, &text, now))
            .await
    }

    /// The incident with its timeline (events and the delivery log merged), runbooks and
    /// the next escalation step.
    pub async fn detail(&self, id: i64) -> Result<IncidentDetail, IncidentError> {
        let now = self.now();
        let (incident, events, deliveries) = self
            .blocking(move |s| {
                let inc = s.get_incident(id)?;
                let events = s.incident_events(id)?;
                let deliveries = s.list_deliveries(Some(&inc.group_key), 1000)?;
                Ok((inc, events, deliveries))
            })
            .await?;
        // The group's deliveries from the incident's opening to shortly after its end (the
        // resolution notification), not those of earlier or later incidents of the group.
        let until = incident
            .resolved_at
            .map(|t| t + chrono::Duration::minutes(1))
            .unwrap_or(now + chrono::Duration::days(1));
        let mut timeline: Vec<TimelineEntry> = events
            .into_iter()
            .map(|e| TimelineEntry {
                at: e.at,
                kind: e.kind,
                actor: e.actor,
                text: e.text,
                receiver: None,
                outcome: None,
            })
            .collect();
        for d in deliveries
            .into_iter()
            .filter(|d| d.created_at >= incident.opened_at && d.created_at <= until)
        {
            let outcome = match d.outcome {
                DeliveryOutcome::Delivered => "delivered".to_string(),
                DeliveryOutcome::Failed => format!(
                    "failed after {} attempt(s): {}",
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("")
                ),
                DeliveryOutcome::Pending if d.attempts > 0 => format!(
                    "retrying ({} attempt(s) so far: {})",
                    d.attempts,
                    d.last_error.as_deref().unwrap_or("")
                ),
                DeliveryOutcome::Pending => "queued".to_string(),
            };
            timeline.push(TimelineEntry {
                at: d.created_at,
                kind: "notified".into(),
                actor: None,
                text: format!("{} notification to {}: {outcome}", d.status, d.receiver),
                receiver: Some(d.receiver),
                outcome: Some(d.outcome.as_str().to_string()),
            });
        }
        timeline.sort_by_key(|e| e.at);
        let settings = self.settings();
        let runbooks = settings.runbooks.for_alerts(&incident.alerts);
        let next_escalation = self.next_escalation(&incident, &settings);
        Ok(IncidentDetail {
            incident,
            timeline,
            runbooks,
            next_escalation,
        })
    }

    fn next_escalation(
        &self,
        inc: &IncidentRecord,
        settings: &IncidentSettings,
    ) -> Option<NextEscalation> {
        if inc.state != IncidentState::Open {
            return None;
        }
        let policy = settings.policies.get(inc.escalation.as_deref()?)?;
        let plan = policy.plan(&inc.receiver);
        let at = plan.next_at(inc.opened_at, inc.escalation_step)?;
        let level = (inc.escalation_step as usize) % plan.steps.len().max(1);
        Some(NextEscalation {
            policy: policy.name.clone(),
            at,
            level: level + 1,
            receivers: plan.steps.get(level)?.receivers.clone(),
        })
    }

    pub async fn postmortem(&self, id: i64) -> Result<String, IncidentError> {
        let detail = self.detail(id).await?;
        Ok(postmortem::draft(
            &detail.incident,
            &detail.timeline,
            self.now(),
        ))
    }

    /// Who is on call in each schedule, with the next `weeks` of shifts.
    pub fn on_call(&self, weeks: i64) -> Vec<OnCallView> {
        let now = self.now();
        self.settings()
            .schedules
            .values()
            .map(|s| view_of(s, now, weeks))
            .collect()
    }

    pub fn on_call_of(&self, name: &str, weeks: i64) -> Option<OnCallView> {
        let now = self.now();
        self.settings()
            .schedules
            .get(name)
            .map(|s| view_of(s, now, weeks))
    }

    /// One escalation pass: queues every step due. Returns when the next step is due.
    pub async fn escalate(&self) -> Result<Option<DateTime<Utc>>, IncidentError> {
        let now = self.now();
        let settings = self.settings();
        let open = self.blocking(|s| s.unresolved_incidents()).await?;
        let mut next: Option<DateTime<Utc>> = None;
        for inc in open.into_iter().filter(|i| i.state == IncidentState::Open) {
            let Some(policy) = inc
                .escalation
                .as_deref()
                .and_then(|n| settings.policies.get(n))
            else {
                continue;
            };
            let plan = policy.plan(&inc.receiver);
            let mut reached = inc.escalation_step;
            if let Some(due) = plan.due(inc.opened_at, now, reached) {
                let (deliveries, event) = if due.already_sent {
                    (Vec::new(), None)
                } else {
                    let (d, e) = self.render_step(&inc, &due, &settings, now);
                    (d, Some(e))
                };
                let queued = !deliveries.is_empty();
                let (id, from, to) = (inc.id, reached, due.index + 1);
                let applied = self
                    .blocking(move |s| {
                        s.record_escalation(id, from, to, &deliveries, event.as_ref(), now)
                    })
                    .await?;
                if applied {
                    reached = to;
                    if queued {
                        self.deliveries_waiting.notify_one();
                    }
                    tracing::info!(
                        operation = "escalation",
                        incident = id,
                        level = due.level + 1,
                        pass = due.pass + 1,
                        "escalation step queued"
                    );
                }
            }
            if let Some(at) = plan.next_at(inc.opened_at, reached) {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        Ok(next)
    }

    fn render_step(
        &self,
        inc: &IncidentRecord,
        due: &escalation::DueStep,
        settings: &IncidentSettings,
        now: DateTime<Utc>,
    ) -> (Vec<NewDelivery>, NewIncidentEvent) {
        let mut names: Vec<String> = Vec::new();
        let mut said: Vec<String> = Vec::new();
        for r in &due.receivers {
            match r.strip_prefix(ONCALL_PREFIX) {
                Some(schedule) => match settings.schedules.get(schedule) {
                    Some(s) => {
                        let (person, receivers) = s.receivers_at(now);
                        said.push(format!("{r} ({person})"));
                        names.extend(receivers);
                    }
                    None => said.push(format!("{r} (no such schedule any more)")),
                },
                None => {
                    said.push(r.clone());
                    names.push(r.clone());
                }
            }
        }
        names.dedup();
        let mut alerts: Vec<Alert> = inc
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .cloned()
            .collect();
        if alerts.is_empty() {
            alerts = inc.alerts.clone();
        }
        let external = self.external_url();
        let ack_url = self.links.url(&external, inc.id, now + ACK_LINK_TTL);
        let mut deliveries = Vec::new();
        for name in &names {
            let notification = Notification {
                receiver: name.clone(),
                group_key: inc.group_key.clone(),
                group_labels: inc.group_labels.clone(),
                alerts: alerts.clone(),
                truncated_alerts: 0,
                external_url: external.clone(),
                ack_url: Some(ack_url.clone()),
            };
            for integration in self.integrations.integrations(name) {
                if let Some(payload) = integration.payload_for(&notification) {
                    deliveries.push(NewDelivery {
                        receiver: integration.name().to_string(),
                        alert_fingerprint: inc.group_key.clone(),
                        status: "firing".into(),
                        payload,
                    });
                }
            }
        }
        let pass = if due.pass > 0 {
            format!(" (repeat {})", due.pass)
        } else {
            String::new()
        };
        let mut text = format!(
            "escalated to level {}{pass}: {}",
            due.level + 1,
            said.join(", ")
        );
        if deliveries.is_empty() {
            text.push_str(" — nobody could be notified");
        }
        (deliveries, NewIncidentEvent::new(now, "escalated", text))
    }

    /// Runs forever: an escalation pass, then sleep until the next step is due (at most
    /// 30 s, so a reloaded policy or a changed schedule is taken in soon).
    pub async fn run(self: Arc<Self>) {
        loop {
            let next = match self.escalate().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(operation = "escalation", error_type = "store", error = %e, "escalation pass failed");
                    None
                }
            };
            let wait = next
                .map(|t| (t - self.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(30))
                .clamp(Duration::from_millis(100), Duration::from_secs(30));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

impl IncidentHook for Incidents {
    fn before_flush<'a>(
        &'a self,
        groups: Vec<GroupSnapshot>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, HashMap<String, String>> {
        Box::pin(async move {
            match self.sync_groups(groups, now).await {
                Ok(links) => links,
                Err(e) => {
                    // Notifications still go out, without a link; the next pass retries.
                    tracing::error!(operation = "incident", error_type = "store", error = %e, "incidents not updated");
                    HashMap::new()
                }
            }
        })
    }
}

fn view_of(s: &Schedule, now: DateTime<Utc>, weeks: i64) -> OnCallView {
    let current = s.on_call_at(now);
    let receivers = s
        .person(&current.person)
        .map(|p| p.receivers.clone())
        .unwrap_or_default();
    let upcoming = s.shifts(now, now + chrono::Duration::weeks(weeks.clamp(1, 26)));
    OnCallView {
        name: s.name.clone(),
        timezone: s.zone.name().to_string(),
        next_handoff: current.until,
        current,
        receivers,
        upcoming,
        overrides: s.overrides.iter().filter(|o| o.to > now).cloned().collect(),
        people: s.people.clone(),
    }
}

/// A person's name as given in a form or the API: trimmed, one line, not too long.
fn clean_name(who: &str) -> Result<String, IncidentError> {
    let who = who.trim();
    if who.is_empty() {
        return Err(IncidentError::Invalid("by: say who you are".into()));
    }
    if who.len() > 200 || who.contains(['\n', '\r']) {
        return Err(IncidentError::Invalid(
            "by: a name is one line of at most 200 bytes".into(),
        ));
    }
    Ok(who.to_string())
}

#[cfg(test)]
mod tests;
