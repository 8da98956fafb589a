//! The dispatcher's call before each flush: a due group with firing, unmuted alerts
//! opens an incident, so the group's first notification already carries the
//! acknowledgement link answered here. Later snapshots add alert changes to the timeline
//! and resolve the incident when every alert resolved or its group left the dispatcher.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, Labels};
use pharos_store::{IncidentRecord, IncidentState, NewIncident, NewIncidentEvent};

use super::{ACK_LINK_TTL, IncidentError, IncidentSettings, Incidents};
use crate::BoxFuture;
use crate::dispatch::{GroupSnapshot, IncidentHook};

/// A resolved incident's link still goes into its group's resolution notification.
const RESOLVED_LINK_GRACE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

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

/// Labels that name what an alert is about, most telling first: the title names it in
/// plain words (`MonitorDown: Bot health`) instead of the group's label set.
const SUBJECT_LABELS: [&str; 8] = [
    "monitor_name",
    "monitor",
    "slo",
    "service",
    "project",
    "job",
    "instance",
    "host",
];

fn title_of(labels: &Labels, alerts: &[Alert]) -> String {
    let name = labels
        .get("alertname")
        .cloned()
        .or_else(|| alerts.first().map(|a| a.name().to_string()))
        .unwrap_or_else(|| "alerts".into());
    let mut names: Vec<&str> = alerts.iter().map(Alert::name).collect();
    names.sort();
    names.dedup();
    let more = if !labels.contains_key("alertname") && names.len() > 1 {
        format!(" (+{} more)", names.len() - 1)
    } else {
        String::new()
    };
    // The first subject label any alert has, and its values across the group's alerts.
    let subject = SUBJECT_LABELS.iter().find_map(|key| {
        let mut values: Vec<&str> = std::iter::once(labels)
            .chain(alerts.iter().map(|a| &a.labels))
            .filter_map(|l| l.get(*key).map(String::as_str))
            .collect();
        values.sort();
        values.dedup();
        match values.as_slice() {
            [] => None,
            [one] => Some((*one).to_string()),
            [first, rest @ ..] => Some(format!("{first} and {} more", rest.len())),
        }
    });
    match subject {
        Some(s) => format!("{name}{more}: {s}"),
        None => format!("{name}{more}"),
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

#[cfg(test)]
mod title_tests {
    use super::*;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        let labels: Labels = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Alert {
            fingerprint: Alert::fingerprint_of(&labels),
            labels,
            annotations: Labels::new(),
            state: pharos_model::AlertState::Firing,
            starts_at: chrono::Utc::now(),
            ends_at: None,
            generator_url: String::new(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn titles_name_what_the_alerts_are_about() {
        let group: Labels = [("alertname".to_string(), "MonitorDown".to_string())].into();
        let down = alert(&[
            ("alertname", "MonitorDown"),
            ("monitor", "bot-health"),
            ("monitor_name", "Bot health"),
            ("severity", "critical"),
        ]);
        assert_eq!(title_of(&group, &[down.clone()]), "MonitorDown: Bot health");
        let other = alert(&[("alertname", "MonitorDown"), ("monitor_name", "API")]);
        assert_eq!(
            title_of(&group, &[down, other]),
            "MonitorDown: API and 1 more"
        );
        let burn = alert(&[("alertname", "SLOBurnRateFast"), ("slo", "webhook")]);
        assert_eq!(
            title_of(&Labels::new(), &[burn]),
            "SLOBurnRateFast: webhook"
        );
        let bare = alert(&[("alertname", "Watchdog")]);
        assert_eq!(title_of(&Labels::new(), &[bare]), "Watchdog");
    }
}
