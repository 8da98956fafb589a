//! The Alertmanager webhook receiver: POSTs the version 4 payload that Alertmanager sends,
//! so anything written for Alertmanager webhooks works unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use pharos_model::{AlertState, Labels, Notification};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{BoxFuture, Receiver, SendError};

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST. Often carries a secret: write it as `${ENV_VAR}`; it is never logged.
    pub url: Url,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// Extra headers, e.g. an `Authorization` the endpoint wants.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout: pharos_model::HumanDuration,
}

fn default_true() -> bool {
    true
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

impl Receiver for WebhookReceiver {
    fn name(&self) -> &str {
        &self.name
    }

    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.config.send_resolved {
            return None;
        }
        Some(alertmanager_payload(n))
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let mut request = client
                .post(self.config.url.clone())
                .timeout(self.config.timeout.as_duration())
                .header("Content-Type", "application/json")
                .body(payload.to_string());
            for (k, v) in &self.config.headers {
                request = request.header(k, v);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match status {
                        200..=299 => Ok(status),
                        408 | 429 | 500..=599 => Err(SendError::Retryable {
                            status: Some(status),
                            reason: format!("HTTP {status}"),
                        }),
                        _ => Err(SendError::Permanent {
                            status: Some(status),
                            reason: format!("HTTP {status}"),
                        }),
                    }
                }
                // reqwest's message names the URL, which may hold a secret: keep only the kind.
                Err(e) => Err(SendError::Retryable {
                    status: None,
                    reason: describe(&e),
                }),
            }
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut inner = None;
    while let Some(s) = source {
        inner = Some(s.to_string());
        source = s.source();
    }
    match inner {
        Some(i) => format!("{kind}: {i}"),
        None => kind.to_string(),
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
