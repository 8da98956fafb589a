//! The one alert model every evaluator produces and every receiver consumes, shaped
//! after Alertmanager's: labels identify an alert, annotations describe it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds but not yet long enough (Prometheus's `for:`).
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertState> {
        match s {
            "pending" => Some(AlertState::Pending),
            "firing" => Some(AlertState::Firing),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable hash of the labels: the same condition is the same alert.
    pub fingerprint: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    pub starts_at: DateTime<Utc>,
    /// Set once resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// A link back to what fired (the monitor page, the rule, the issue).
    pub generator_url: String,
    pub updated_at: DateTime<Utc>,
}

impl Alert {
    pub fn fingerprint_of(labels: &Labels) -> String {
        let mut hasher = Sha256::new();
        for (k, v) in labels {
            hasher.update(k.as_bytes());
            hasher.update([0xff]);
            hasher.update(v.as_bytes());
            hasher.update([0xff]);
        }
        hex::encode(&hasher.finalize()[..8])
    }

    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Where an alert change goes once it is stored: the dispatcher, which groups, silences
/// and notifies it. Evaluators never call it themselves; their alert sink stores the
/// change first and then hands it over, so nothing is notified that a restart would not
/// find in the store.
pub trait StoredAlertHandler: Send + Sync {
    fn alert_stored(&self, alert: &Alert);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_depends_on_labels_only() {
        let mut a = Labels::new();
        a.insert("alertname".into(), "MonitorDown".into());
        a.insert("monitor".into(), "api".into());
        let mut b = a.clone();
        assert_eq!(Alert::fingerprint_of(&a), Alert::fingerprint_of(&b));
        b.insert("monitor".into(), "db".into());
        assert_ne!(Alert::fingerprint_of(&a), Alert::fingerprint_of(&b));
    }
}
