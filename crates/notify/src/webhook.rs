//! The Alertmanager webhook receiver: POSTs the version 4 payload that Alertmanager sends,
//! so anything written for Alertmanager webhooks works unchanged.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use pharos_model::{Alert, AlertState, Labels};
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
    group_key: String,
    truncated_alerts: u32,
    status: &'static str,
    receiver: &'a str,
    group_labels: Labels,
    common_labels: &'a Labels,
    common_annotations: &'a Labels,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    alerts: [WebhookAlert<'a>; 1],
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

/// Builds the payload for one alert change (one alert per group until grouping exists).
pub fn alertmanager_payload(receiver: &str, alert: &Alert, external_url: &str) -> String {
    let status = if alert.state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    };
    let mut group_labels = Labels::new();
    group_labels.insert("alertname".into(), alert.name().to_string());
    let group_key = format!(
        "{{}}:{{alertname={:?}, fingerprint={:?}}}",
        alert.name(),
        alert.fingerprint
    );
    let message = WebhookMessage {
        version: "4",
        group_key,
        truncated_alerts: 0,
        status,
        receiver,
        group_labels,
        common_labels: &alert.labels,
        common_annotations: &alert.annotations,
        external_url,
        alerts: [WebhookAlert {
            status,
            labels: &alert.labels,
            annotations: &alert.annotations,
            starts_at: rfc3339(alert.starts_at),
            // Alertmanager's zero time for alerts that have not ended.
            ends_at: alert
                .ends_at
                .map(rfc3339)
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            generator_url: &alert.generator_url,
            fingerprint: &alert.fingerprint,
        }],
    };
    serde_json::to_string(&message).unwrap_or_default()
}

impl Receiver for WebhookReceiver {
    fn name(&self) -> &str {
        &self.name
    }

    fn payload_for(&self, alert: &Alert, external_url: &str) -> Option<String> {
        if alert.state == AlertState::Resolved && !self.config.send_resolved {
            return None;
        }
        Some(alertmanager_payload(&self.name, alert, external_url))
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
            "ops",
            &alert,
            "http://127.0.0.1:9800",
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
