//! The dispatcher's state, with no I/O and time passed in: the alerts it knows, the
//! aggregation groups per (route, group labels) with their timers, the notification log
//! and the silences. [`Dispatch::flush_due`] decides what each due group sends, as
//! Alertmanager's pipeline does (inhibit and silence, time mute, dedup against the log,
//! repeat); the caller stores the result and reports back with [`Dispatch::flushed`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use pharos_model::{Alert, AlertState, Labels, Notification};
use pharos_store::{NewDelivery, NotificationLogEntry};

use super::config::Routing;
use super::hook::GroupSnapshot;
use super::inhibit::inhibited_by;
use super::silences::Silence;
use crate::Receiver;

/// Who sends for a receiver name: its integrations (one per `*_configs` entry).
pub trait Integrations: Send + Sync {
    fn integrations(&self, receiver: &str) -> Vec<Arc<dyn Receiver>>;
}

/// An alert as the dispatcher holds it.
#[derive(Clone, Debug)]
pub struct Tracked {
    pub alert: Alert,
    /// For alerts posted to the API: when the alert resolves unless posted again.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why an alert is not notified now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Suppression {
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
}

impl Suppression {
    pub fn is_suppressed(&self) -> bool {
        !self.silenced_by.is_empty() || !self.inhibited_by.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId {
    pub route: usize,
    pub key: String,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub route: usize,
    pub key: String,
    pub labels: Labels,
    pub alerts: BTreeMap<String, Alert>,
    pub next_flush: Option<DateTime<Utc>>,
    flushed: bool,
}

/// What one due group sends: store `deliveries` and `log` together, then call
/// [`Dispatch::flushed`] (or [`Dispatch::flush_failed`]).
#[derive(Clone, Debug)]
pub struct Flush {
    pub group: GroupId,
    pub deliveries: Vec<NewDelivery>,
    pub log: Vec<NotificationLogEntry>,
    /// Resolved alerts that were in the group at the flush, with their last change: they
    /// leave the group once the flush is stored, unless they changed since.
    resolved: Vec<(String, DateTime<Utc>)>,
}

#[derive(Default)]
pub struct Dispatch {
    pub routing: Arc<Routing>,
    pub alerts: BTreeMap<String, Tracked>,
    pub groups: BTreeMap<GroupId, Group>,
    log: HashMap<(String, String), NotificationLogEntry>,
    pub silences: Vec<Silence>,
    pub external_url: String,
    /// Each group's incident acknowledgement link, set before a flush by the incident hook.
    pub ack_urls: HashMap<String, String>,
}

/// Alertmanager prints group labels as `{a="b", c="d"}` in group keys.
pub fn label_set_string(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

fn chrono(d: std::time::Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::MAX)
}

impl Dispatch {
    pub fn new(routing: Routing) -> Dispatch {
        Dispatch {
            routing: Arc::new(routing),
            ..Dispatch::default()
        }
    }

    /// Swaps the routing and rebuilds every group from the alerts held, as Alertmanager
    /// does on reload; the notification log keeps anything already sent from going again.
    pub fn set_routing(&mut self, routing: Routing, now: DateTime<Utc>) {
        self.routing = Arc::new(routing);
        self.groups.clear();
        let alerts: Vec<Alert> = self.alerts.values().map(|t| t.alert.clone()).collect();
        for a in alerts {
            self.route(a, now);
        }
    }

    pub fn load_log(&mut self, entries: Vec<NotificationLogEntry>) {
        for e in entries {
            self.log
                .insert((e.group_key.clone(), e.receiver.clone()), e);
        }
    }

    pub fn log_entry(&self, group_key: &str, receiver: &str) -> Option<&NotificationLogEntry> {
        self.log.get(&(group_key.to_string(), receiver.to_string()))
    }

    /// Whether a fingerprint was last notified as firing to anyone (so its resolution is
    /// still owed after a restart).
    pub fn notified_firing(&self, fingerprint: &str) -> bool {
        self.log
            .values()
            .any(|e| e.firing.iter().any(|f| f == fingerprint))
    }

    /// Takes in an alert change (firing or resolved; pending alerts are not routed).
    pub fn insert(&mut self, alert: Alert, expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) {
        if alert.state == AlertState::Pending {
            return;
        }
        self.alerts.insert(
            alert.fingerprint.clone(),
            Tracked {
                alert: alert.clone(),
                expires_at: if alert.state == AlertState::Firing {
                    expires_at
                } else {
                    None
                },
            },
        );
        self.route(alert, now);
    }

    fn route(&mut self, alert: Alert, now: DateTime<Utc>) {
        let routing = self.routing.clone();
        for route_id in routing.routes_for(&alert.labels) {
            let route = &routing.routes[route_id];
            // A digest is one notification a day for the whole route.
            let labels = if route.digest.is_some() {
                Labels::new()
            } else {
                route.group_by.group_labels(&alert.labels)
            };
            let key = format!("{}:{}", route.key, label_set_string(&labels));
            let id = GroupId {
                route: route_id,
                key: key.clone(),
            };
            if !self.groups.contains_key(&id) {
                if alert.state == AlertState::Resolved {
                    // A resolution for a group that no longer exists matters only when
                    // this receiver was told the alert fired.
                    let owed = self
                        .log
                        .get(&(key.clone(), route.receiver.clone()))
                        .or_else(|| {
                            self.log
                                .iter()
                                .find(|((k, _), _)| *k == key)
                                .map(|(_, e)| e)
                        })
                        .is_some_and(|e| e.firing.contains(&alert.fingerprint));
                    if !owed {
                        continue;
                    }
                }
                let next = match &route.digest {
                    Some(d) => {
                        let last = d.last_at_or_before(now);
                        let missed = self
                            .log
                            .iter()
                            .filter(|((k, _), _)| *k == key)
                            .any(|(_, e)| e.notified_at < last && !e.firing.is_empty());
                        if missed { now } else { d.next_after(now) }
                    }
                    None => now + chrono(route.group_wait),
                };
                self.groups.insert(
                    id.clone(),
                    Group {
                        route: route_id,
                        key,
                        labels,
                        alerts: BTreeMap::new(),
                        next_flush: Some(next),
                        flushed: false,
                    },
                );
            }
            let Some(group) = self.groups.get_mut(&id) else {
                continue;
            };
            if route.digest.is_none() {
                // Alertmanager: an alert older than the group wait does not wait again
                // (after a restart or reload); with no group interval, every change flushes.
                let waited = !group.flushed && alert.starts_at + chrono(route.group_wait) <= now;
                if waited || group.next_flush.is_none() {
                    group.next_flush = Some(now);
                }
            }
            group
                .alerts
                .insert(alert.fingerprint.clone(), alert.clone());
        }
    }

    /// Why an alert is muted now (silences and inhibition), for flushes and the API.
    pub fn suppression(&self, alert: &Alert, now: DateTime<Utc>) -> Suppression {
        Suppression {
            silenced_by: self
                .silences
                .iter()
                .filter(|s| s.mutes(&alert.labels, now))
                .map(|s| s.record.id.clone())
                .collect(),
            inhibited_by: inhibited_by(
                &self.routing.inhibit_rules,
                alert,
                self.alerts.values().map(|t| &t.alert),
            ),
        }
    }

    /// The earliest time something is due: a group flush or an API alert's expiry.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let flush = self.groups.values().filter_map(|g| g.next_flush).min();
        let expiry = self.alerts.values().filter_map(|t| t.expires_at).min();
        match (flush, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// API alerts not posted again before their end: resolved now (to be stored, then
    /// inserted again).
    pub fn expired(&self, now: DateTime<Utc>) -> Vec<Alert> {
        self.alerts
            .values()
            .filter(|t| {
                t.alert.state == AlertState::Firing && t.expires_at.is_some_and(|e| e <= now)
            })
            .map(|t| {
                let mut a = t.alert.clone();
                a.state = AlertState::Resolved;
                a.ends_at = t.expires_at;
                a.updated_at = now;
                a
            })
            .collect()
    }

    /// Decides every due group's notifications.
    pub fn flush_due(&mut self, now: DateTime<Utc>, integrations: &dyn Integrations) -> Vec<Flush> {
        let due: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush.is_some_and(|t| t <= now))
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for id in due {
            if let Some(f) = self.flush_group(&id, now, integrations) {
                out.push(f);
            }
        }
        out
    }

    fn flush_group(
        &mut self,
        id: &GroupId,
        now: DateTime<Utc>,
        integrations: &dyn Integrations,
    ) -> Option<Flush> {
        let routing = self.routing.clone();
        let route = routing.routes.get(id.route)?;
        let group = self.groups.get(id)?.clone();
        let next = match &route.digest {
            Some(d) => Some(d.next_after(now)),
            None if route.group_interval.is_zero() => None,
            None => Some(now + chrono(route.group_interval)),
        };
        if let Some(g) = self.groups.get_mut(id) {
            g.next_flush = next;
            g.flushed = true;
        }
        let resolved_now: Vec<(String, DateTime<Utc>)> = group
            .alerts
            .values()
            .filter(|a| a.state == AlertState::Resolved)
            .map(|a| (a.fingerprint.clone(), a.updated_at))
            .collect();
        let mut flush = Flush {
            group: id.clone(),
            deliveries: Vec::new(),
            log: Vec::new(),
            resolved: resolved_now,
        };
        // Silenced and inhibited alerts leave the notification (Alertmanager's mute stage).
        let mut alerts: Vec<Alert> = group
            .alerts
            .values()
            .filter(|a| !self.suppression(a, now).is_suppressed())
            .cloned()
            .collect();
        if alerts.is_empty() || routing.route_muted_by(id.route, now).is_some() {
            // Nothing is logged either, so what was muted goes out once the mute ends.
            if routing.route_muted_by(id.route, now).is_some() {
                flush.resolved.clear();
            }
            return Some(flush);
        }
        alerts.sort_by_key(|a| (a.state == AlertState::Resolved, a.starts_at));
        let firing: BTreeSet<String> = alerts
            .iter()
            .filter(|a| a.state != AlertState::Resolved)
            .map(|a| a.fingerprint.clone())
            .collect();
        let resolved: BTreeSet<String> = alerts
            .iter()
            .filter(|a| a.state == AlertState::Resolved)
            .map(|a| a.fingerprint.clone())
            .collect();
        for integration in integrations.integrations(&route.receiver) {
            let entry = self
                .log
                .get(&(group.key.clone(), integration.name().to_string()));
            let sends_resolved = sends_resolved(integration.as_ref(), &alerts);
            let send = match &route.digest {
                Some(d) => {
                    let occurrence = d.last_at_or_before(now);
                    entry.is_none_or(|e| e.notified_at < occurrence)
                }
                None => needs_update(
                    entry,
                    &firing,
                    &resolved,
                    sends_resolved,
                    route.repeat_interval.map(chrono),
                    now,
                ),
            };
            if !send {
                continue;
            }
            flush.log.push(NotificationLogEntry {
                group_key: group.key.clone(),
                receiver: integration.name().to_string(),
                firing: firing.iter().cloned().collect(),
                resolved: resolved.iter().cloned().collect(),
                notified_at: now,
            });
            let sent: Vec<Alert> = alerts
                .iter()
                .filter(|a| sends_resolved || a.state != AlertState::Resolved)
                .cloned()
                .collect();
            if sent.is_empty() {
                continue;
            }
            let notification = Notification {
                receiver: route.receiver.clone(),
                group_key: group.key.clone(),
                group_labels: group.labels.clone(),
                alerts: sent,
                truncated_alerts: 0,
                external_url: self.external_url.clone(),
                ack_url: self.ack_urls.get(&group.key).cloned(),
            };
            if let Some(payload) = integration.payload_for(&notification) {
                flush.deliveries.push(NewDelivery {
                    receiver: integration.name().to_string(),
                    alert_fingerprint: group.key.clone(),
                    status: notification.status().as_str().to_string(),
                    payload,
                });
            }
        }
        Some(flush)
    }

    /// Every group as the flush hook sees it.
    pub fn snapshots(&self, now: DateTime<Utc>) -> Vec<GroupSnapshot> {
        self.groups
            .values()
            .filter_map(|g| {
                let route = self.routing.routes.get(g.route)?;
                let route_muted = self.routing.route_muted_by(g.route, now).is_some();
                Some(GroupSnapshot {
                    key: g.key.clone(),
                    labels: g.labels.clone(),
                    receiver: route.receiver.clone(),
                    escalation: route.escalation.clone(),
                    alerts: g.alerts.values().cloned().collect(),
                    muted: g
                        .alerts
                        .values()
                        .filter(|a| route_muted || self.suppression(a, now).is_suppressed())
                        .map(|a| a.fingerprint.clone())
                        .collect(),
                    due: g.next_flush.is_some_and(|t| t <= now),
                })
            })
            .collect()
    }

    /// The flush is stored: remember what was notified, drop resolved alerts that did
    /// not change since, and groups left empty.
    pub fn flushed(&mut self, flush: &Flush) {
        for e in &flush.log {
            self.log
                .insert((e.group_key.clone(), e.receiver.clone()), e.clone());
        }
        if let Some(g) = self.groups.get_mut(&flush.group) {
            for (fp, at) in &flush.resolved {
                if g.alerts.get(fp).is_some_and(|a| a.updated_at == *at) {
                    g.alerts.remove(fp);
                }
            }
            if g.alerts.is_empty() {
                self.groups.remove(&flush.group);
            }
        }
        // A resolved alert no group holds any more is forgotten.
        let held: BTreeSet<&String> = self.groups.values().flat_map(|g| g.alerts.keys()).collect();
        let gone: Vec<String> = self
            .alerts
            .iter()
            .filter(|(fp, t)| t.alert.state == AlertState::Resolved && !held.contains(fp))
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in gone {
            self.alerts.remove(&fp);
        }
    }

    /// The flush could not be stored: try the group again shortly.
    pub fn flush_failed(&mut self, flush: &Flush, retry_at: DateTime<Utc>) {
        if let Some(g) = self.groups.get_mut(&flush.group) {
            g.next_flush = Some(retry_at);
        }
    }
}

/// Whether an integration wants resolved alerts: asked by offering it a group of resolved
/// alerts only (`payload_for` answers `None` when `send_resolved` is off), so receivers
/// keep the one `payload_for` method.
fn sends_resolved(integration: &dyn Receiver, alerts: &[Alert]) -> bool {
    let Some(sample) = alerts.first() else {
        return true;
    };
    let mut resolved = sample.clone();
    resolved.state = AlertState::Resolved;
    resolved.ends_at = Some(resolved.updated_at);
    integration
        .payload_for(&Notification::single(integration.name(), &resolved, ""))
        .is_some()
}

/// Alertmanager's dedup stage: whether this group must be notified again.
fn needs_update(
    entry: Option<&NotificationLogEntry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    sends_resolved: bool,
    repeat: Option<ChronoDuration>,
    now: DateTime<Utc>,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    let before: BTreeSet<&String> = entry.firing.iter().collect();
    if !firing.iter().all(|f| before.contains(f)) {
        return true;
    }
    if firing.is_empty() {
        // Alerts that fired and resolved between two flushes were never told: say nothing.
        return !entry.firing.is_empty();
    }
    let before_resolved: BTreeSet<&String> = entry.resolved.iter().collect();
    if sends_resolved && !resolved.iter().all(|r| before_resolved.contains(r)) {
        return true;
    }
    repeat.is_some_and(|r| entry.notified_at + r <= now)
}
