//! What the dispatcher shows of the alerts it holds: each with its muting and receivers,
//! and its groups, for Alertmanager's `GET /api/v2/alerts`, `/alerts/groups` and the UI.

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, Labels};

use super::{Dispatcher, Suppression};

/// An alert with what the dispatcher knows of it, for `GET /api/v2/alerts` and the UI.
#[derive(Clone, Debug)]
pub struct AlertView {
    pub alert: Alert,
    /// When it resolves unless it changes: the posted `endsAt`, or now + resolve timeout.
    pub ends_at: DateTime<Utc>,
    pub suppression: Suppression,
    pub receivers: Vec<String>,
}

/// A group as `GET /api/v2/alerts/groups` shows it.
#[derive(Clone, Debug)]
pub struct GroupView {
    pub labels: Labels,
    pub receiver: String,
    pub alerts: Vec<AlertView>,
}

impl Dispatcher {
    /// Every alert the dispatcher holds that has not resolved, with its status.
    pub fn alerts(&self) -> Vec<AlertView> {
        let now = self.now();
        let st = self.state();
        let timeout = chrono::Duration::from_std(st.routing.resolve_timeout).unwrap_or_default();
        st.alerts
            .values()
            .filter(|t| t.alert.state != AlertState::Resolved)
            .map(|t| AlertView {
                ends_at: t.expires_at.unwrap_or(now + timeout),
                suppression: st.suppression(&t.alert, now),
                receivers: st.routing.receivers_for(&t.alert.labels),
                alert: t.alert.clone(),
            })
            .collect()
    }

    /// Whether an alert is silenced or inhibited now (for the UI's alert list).
    pub fn suppression_of(&self, alert: &Alert) -> Suppression {
        let now = self.now();
        self.state().suppression(alert, now)
    }

    pub fn groups(&self) -> Vec<GroupView> {
        let now = self.now();
        let st = self.state();
        let timeout = chrono::Duration::from_std(st.routing.resolve_timeout).unwrap_or_default();
        st.groups
            .values()
            .map(|g| GroupView {
                labels: g.labels.clone(),
                receiver: st.routing.routes[g.route].receiver.clone(),
                alerts: g
                    .alerts
                    .values()
                    .filter(|a| a.state != AlertState::Resolved)
                    .map(|a| AlertView {
                        ends_at: st
                            .alerts
                            .get(&a.fingerprint)
                            .and_then(|t| t.expires_at)
                            .unwrap_or(now + timeout),
                        suppression: st.suppression(a, now),
                        receivers: vec![st.routing.routes[g.route].receiver.clone()],
                        alert: a.clone(),
                    })
                    .collect(),
            })
            .filter(|g| !g.alerts.is_empty())
            .collect()
    }
}
