//! Alerts from outside: Alertmanager's `POST /api/v2/alerts`, as a Prometheus or a
//! script sends them. They are checked, stored and grouped like an evaluator's, and lapse
//! when they are not posted again before their end.

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, Labels};

use super::{DispatchError, Dispatcher, invalid};

/// An alert as Alertmanager's `POST /api/v2/alerts` takes it.
#[derive(Clone, Debug, Default)]
pub struct PostedAlert {
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
}

impl Dispatcher {
    /// Alertmanager's `POST /api/v2/alerts`: checks every alert first (one bad alert
    /// refuses the request, as Alertmanager answers 400), stores the changes, routes them.
    pub async fn post_alerts(&self, posted: Vec<PostedAlert>) -> Result<(), DispatchError> {
        let now = self.now();
        let resolve_timeout = chrono::Duration::from_std(self.routing().resolve_timeout)
            .unwrap_or(chrono::Duration::minutes(5));
        let mut changes = Vec::new();
        for (i, p) in posted.into_iter().enumerate() {
            if p.labels.is_empty() {
                return Err(invalid(
                    format!("[{i}].labels"),
                    "an alert needs at least one label",
                ));
            }
            for (name, value) in &p.labels {
                let valid = !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(invalid(
                        format!("[{i}].labels"),
                        format!("invalid label name {name:?}"),
                    ));
                }
                if value.is_empty() {
                    return Err(invalid(
                        format!("[{i}].labels.{name}"),
                        "label values must not be empty",
                    ));
                }
            }
            let starts_at = p.starts_at.unwrap_or(now);
            if let Some(end) = p.ends_at
                && end < starts_at
            {
                return Err(invalid(
                    format!("[{i}].endsAt"),
                    "must not be before startsAt",
                ));
            }
            let fingerprint = Alert::fingerprint_of(&p.labels);
            let known = self.state().alerts.get(&fingerprint).cloned();
            let resolved = p.ends_at.is_some_and(|e| e <= now);
            if resolved
                && known
                    .as_ref()
                    .is_none_or(|k| k.alert.state == AlertState::Resolved)
            {
                // Prometheus re-sends resolved alerts for a while; nothing is open for it.
                continue;
            }
            let expires = p.ends_at.unwrap_or(now + resolve_timeout);
            let starts_at = match &known {
                Some(k) if k.alert.state == AlertState::Firing => k.alert.starts_at.min(starts_at),
                _ => starts_at,
            };
            let alert = Alert {
                fingerprint,
                labels: p.labels,
                annotations: p.annotations,
                state: if resolved {
                    AlertState::Resolved
                } else {
                    AlertState::Firing
                },
                starts_at,
                // Firing alerts from the API keep their expected end here, so a restart
                // knows when they lapse.
                ends_at: Some(expires),
                generator_url: p.generator_url,
                updated_at: now,
            };
            changes.push(alert);
        }
        let stored = changes.clone();
        self.blocking(move |s| s.save_alerts(&stored.iter().collect::<Vec<_>>()))
            .await?;
        let mut st = self.state();
        for a in changes {
            let expires = a.ends_at;
            st.insert(a, expires, now);
        }
        drop(st);
        self.wake.notify_one();
        Ok(())
    }
}
