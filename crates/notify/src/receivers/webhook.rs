//! `webhook_configs`: POSTs the Alertmanager webhook payload version 4, so anything
//! written for Alertmanager webhooks works unchanged, or a body of the config's own
//! (`body_template`) for an endpoint that wants another shape.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use pharos_model::{AlertState, Labels, Notification};
use serde::{Deserialize, Serialize};

use super::default_true;
use crate::message_template::MessageTemplate;
use crate::secret::{Secret, SecretUrl};
use crate::{BoxFuture, Receiver, SendError};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST. Often carries a secret: write it as `${ENV_VAR}`; it is never logged
    /// and the API shows only its origin.
    pub url: SecretUrl,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// The most alerts one payload lists; the rest are counted in `truncatedAlerts`.
    /// `0` lists all.
    #[serde(default)]
    pub max_alerts: usize,
    /// Extra headers, e.g. an `Authorization` the endpoint wants. Their values are
    /// shown as `<secret>`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default = "default_timeout")]
    pub timeout: pharos_model::HumanDuration,
    /// A template (Alertmanager's language, over the same data) for the whole JSON body,
    /// instead of Alertmanager's payload: `{"text": {{ toJson .CommonAnnotations.summary }}}`.
    /// Alertmanager has no such field; Pharos names it for what it is. Checked as a
    /// template when the config is read; a body that fails to render is replaced by the
    /// Alertmanager payload (and a warning logged), so the alert still goes out.
    #[serde(default, deserialize_with = "crate::message_template::body_template")]
    pub body_template: Option<MessageTemplate>,
}

fn default_timeout() -> pharos_model::HumanDuration {
    pharos_model::HumanDuration::from_secs(10)
}

pub struct WebhookReceiver {
    name: String,
    config: WebhookConfig,
}

impl WebhookReceiver {
    pub fn new(name: String, config: WebhookConfig) -> Self {
        WebhookReceiver { name, config }
    }
}

/// Alertmanager's webhook body, version 4.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookMessage<'a> {
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: usize,
    status: &'static str,
    receiver: &'a str,
    group_labels: &'a Labels,
    common_labels: Labels,
    common_annotations: Labels,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    /// Pharos's addition, left out when there is no incident: the signed link that
    /// acknowledges the group's incident (Alertmanager's readers ignore unknown fields).
    #[serde(rename = "ackURL", skip_serializing_if = "Option::is_none")]
    ack_url: Option<&'a str>,
    alerts: Vec<WebhookAlert<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert<'a> {
    status: &'static str,
    labels: &'a Labels,
    annotations: &'a Labels,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: &'a str,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status_word(state: AlertState) -> &'static str {
    if state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    }
}

/// Alertmanager's webhook payload (version 4) for a notification.
pub fn alertmanager_payload(n: &Notification) -> String {
    let message = WebhookMessage {
        version: "4",
        group_key: &n.group_key,
        truncated_alerts: n.truncated_alerts,
        status: status_word(n.status()),
        receiver: &n.receiver,
        group_labels: &n.group_labels,
        common_labels: n.common_labels(),
        common_annotations: n.common_annotations(),
        external_url: &n.external_url,
        ack_url: n.ack_url.as_deref(),
        alerts: n
            .alerts
            .iter()
            .map(|a| WebhookAlert {
                status: status_word(a.state),
                labels: &a.labels,
                annotations: &a.annotations,
                starts_at: rfc3339(a.starts_at),
                // Alertmanager's zero time for alerts that have not ended.
                ends_at: a
                    .ends_at
                    .map(rfc3339)
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
                generator_url: &a.generator_url,
                fingerprint: &a.fingerprint,
            })
            .collect(),
    };
    serde_json::to_string(&message).unwrap_or_default()
}

impl WebhookReceiver {
    /// The body for `n`: the config's template, or Alertmanager's payload.
    fn body(&self, n: &Notification) -> String {
        match &self.config.body_template {
            Some(t) => t.render_or(n, "body_template", || alertmanager_payload(n)),
            None => alertmanager_payload(n),
        }
    }
}

impl Receiver for WebhookReceiver {
    fn name(&self) -> &str {
        &self.name
    }

    fn integration(&self) -> &'static str {
        "webhook"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.config.send_resolved {
            return None;
        }
        let max = self.config.max_alerts;
        if max == 0 || n.alerts.len() <= max {
            return Some(self.body(n));
        }
        let mut kept = n.clone();
        kept.alerts.truncate(max);
        kept.truncated_alerts += n.alerts.len() - max;
        Some(self.body(&kept))
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let mut request = crate::http::json_post(
                client,
                self.config.url.expose().clone(),
                self.config.timeout.as_duration(),
                payload.to_string(),
            );
            for (k, v) in &self.config.headers {
                request = request.header(k, v.expose());
            }
            crate::http::send(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::Alert;

    #[test]
    fn payload_has_alertmanager_v4_shape() {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), "MonitorDown".into());
        labels.insert("monitor".into(), "api".into());
        let alert = Alert {
            fingerprint: Alert::fingerprint_of(&labels),
            labels,
            annotations: Labels::new(),
            state: AlertState::Firing,
            starts_at: DateTime::UNIX_EPOCH,
            ends_at: None,
            generator_url: "http://127.0.0.1:9800/monitors/api".into(),
            updated_at: DateTime::UNIX_EPOCH,
        };
        let v: serde_json::Value = serde_json::from_str(&alertmanager_payload(
            &Notification::single("ops", &alert, "http://127.0.0.1:9800"),
        ))
        .unwrap();
        assert_eq!(v["version"], "4");
        assert_eq!(v["status"], "firing");
        assert_eq!(v["receiver"], "ops");
        assert_eq!(v["externalURL"], "http://127.0.0.1:9800");
        assert_eq!(v["groupLabels"]["alertname"], "MonitorDown");
        assert_eq!(v["alerts"][0]["labels"]["monitor"], "api");
        assert_eq!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(v["alerts"][0]["startsAt"], "1970-01-01T00:00:00.000Z");
        assert!(
            v["alerts"][0]["generatorURL"]
                .as_str()
                .unwrap()
                .ends_with("/monitors/api")
        );
        assert_eq!(v["truncatedAlerts"], 0);
    }
}
