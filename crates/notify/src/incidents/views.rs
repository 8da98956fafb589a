//! What the API and the incident page read: an incident with its timeline (its events and
//! its group's deliveries merged), runbooks and the next escalation step, and the
//! post-mortem draft made from them.

use chrono::{DateTime, Utc};
use pharos_store::{DeliveryOutcome, IncidentRecord, IncidentState};
use serde::Serialize;

use super::{IncidentError, IncidentSettings, Incidents, Runbook, postmortem};

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

impl Incidents {
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
}
