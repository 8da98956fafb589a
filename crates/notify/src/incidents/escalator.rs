//! The escalation loop: reads the open incidents and queues each step due through the
//! dispatcher's receivers, delivery queue and delivery log, recording the step reached in
//! the same transaction, so acknowledging stops it and a restart never repeats a step.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::{Alert, AlertState, Notification};
use pharos_store::{IncidentRecord, IncidentState, NewDelivery, NewIncidentEvent};

use super::escalation::DueStep;
use super::{ACK_LINK_TTL, IncidentError, IncidentSettings, Incidents, ONCALL_PREFIX};

impl Incidents {
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
        due: &DueStep,
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
