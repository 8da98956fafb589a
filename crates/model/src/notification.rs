//! What a receiver is told: one group of alerts for one receiver, as Alertmanager hands a
//! group to its integrations (the webhook payload version 4 is this, in JSON). Every
//! channel (webhook, Slack, Telegram, email, PagerDuty, …) renders the same
//! `Notification`, so grouping, silences and escalation are decided once, before it.

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertState, Labels};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The receiver's name in the config (`receivers[].name`).
    pub receiver: String,
    /// Alertmanager's group key: the route's path and the group's label values. Stable
    /// for the life of the group; PagerDuty's `dedup_key` is derived from it.
    pub group_key: String,
    /// The values of the route's `group_by` labels.
    pub group_labels: Labels,
    /// Firing and resolved alerts of the group, firing first.
    pub alerts: Vec<Alert>,
    /// Alerts left out by the receiver's `max_alerts`.
    pub truncated_alerts: usize,
    /// Base URL of Pharos's UI (`web.external_url`), for links back.
    pub external_url: String,
    /// Where a person acknowledges the group's incident (a signed link), when known.
    pub ack_url: Option<String>,
}

impl Notification {
    /// `firing` when any alert of the group fires, `resolved` when all have resolved.
    pub fn status(&self) -> AlertState {
        if self.alerts.iter().any(|a| a.state != AlertState::Resolved) {
            AlertState::Firing
        } else {
            AlertState::Resolved
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.state != AlertState::Resolved)
    }

    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.state == AlertState::Resolved)
    }

    /// Labels every alert of the group shares, with the same value.
    pub fn common_labels(&self) -> Labels {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// Annotations every alert of the group shares, with the same value.
    pub fn common_annotations(&self) -> Labels {
        common(self.alerts.iter().map(|a| &a.annotations))
    }

    /// A group of one alert, for callers that notify alert by alert (and for tests).
    pub fn single(receiver: &str, alert: &Alert, external_url: &str) -> Notification {
        let mut group_labels = Labels::new();
        group_labels.insert("alertname".into(), alert.name().to_string());
        Notification {
            receiver: receiver.to_string(),
            group_key: format!(
                "{{}}:{{alertname={:?}, fingerprint={:?}}}",
                alert.name(),
                alert.fingerprint
            ),
            group_labels,
            alerts: vec![alert.clone()],
            truncated_alerts: 0,
            external_url: external_url.to_string(),
            ack_url: None,
        }
    }
}

fn common<'a>(mut sets: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = sets.next() else {
        return Labels::new();
    };
    let mut out = first.clone();
    for s in sets {
        out.retain(|k, v| s.get(k) == Some(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn alert(labels: &[(&str, &str)], state: AlertState) -> Alert {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Alert {
            fingerprint: Alert::fingerprint_of(&labels),
            labels,
            annotations: Labels::new(),
            state,
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: String::new(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn status_and_common_labels_of_a_group() {
        let mut n = Notification::single(
            "ops",
            &alert(
                &[("alertname", "Down"), ("job", "api"), ("i", "1")],
                AlertState::Firing,
            ),
            "",
        );
        n.alerts.push(alert(
            &[("alertname", "Down"), ("job", "api"), ("i", "2")],
            AlertState::Resolved,
        ));
        assert_eq!(n.status(), AlertState::Firing);
        assert_eq!(
            n.common_labels().into_iter().collect::<Vec<_>>(),
            vec![
                ("alertname".into(), "Down".into()),
                ("job".into(), "api".into())
            ]
        );
        n.alerts[0].state = AlertState::Resolved;
        assert_eq!(n.status(), AlertState::Resolved);
    }
}
