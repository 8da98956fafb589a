//! `pagerduty_configs`: PagerDuty's Events API v2. A firing group is a `trigger`, a
//! resolved one a `resolve`, both with the same `dedup_key` (a hash of the group key, as
//! Alertmanager makes it), so PagerDuty keeps one incident per group.
//!
//! The stored payload leaves out the routing key; it is added when sending, so the
//! delivery queue holds no credential.

use std::collections::BTreeMap;

use pharos_model::{AlertState, Notification};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{BaseUrl, default_true};
use crate::message_template::{MessageTemplate, render_field};
use crate::receivers::TemplateFields;
use crate::secret::Secret;
use crate::text::{self, Facts, Plain};
use crate::{BoxFuture, Receiver, SendError};

/// PagerDuty refuses a longer summary.
pub const MAX_SUMMARY_CHARS: usize = 1024;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration key of an Events API v2 integration: a secret.
    pub routing_key: Secret,
    #[serde(default = "default_url")]
    pub url: BaseUrl,
    /// `critical`, `error`, `warning` or `info` for every event; by default taken from
    /// the alerts' `severity` label (`error` when they have none).
    #[serde(default, deserialize_with = "severity")]
    pub severity: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    /// A template for the affected system; by default the alerts' common monitor,
    /// service, job or instance label.
    #[serde(default, deserialize_with = "crate::message_template::source")]
    pub source: Option<MessageTemplate>,
    /// A template for the incident's summary instead of `[FIRING:n] <alert>: <summary>`
    /// (cut at 1024 characters).
    #[serde(default, deserialize_with = "crate::message_template::description")]
    pub description: Option<MessageTemplate>,
    /// Extra `custom_details`, each value a template.
    #[serde(default, deserialize_with = "crate::message_template::details")]
    pub details: BTreeMap<String, MessageTemplate>,
    /// A template for the monitoring client's name shown on the incident.
    #[serde(
        default = "default_client",
        deserialize_with = "crate::message_template::client"
    )]
    pub client: Option<MessageTemplate>,
    /// A template for the link on the incident back to Pharos; `web.external_url` by
    /// default.
    #[serde(default, deserialize_with = "crate::message_template::client_url")]
    pub client_url: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_url() -> BaseUrl {
    BaseUrl::from_static("https://events.pagerduty.com/v2/enqueue")
}

fn default_client() -> Option<MessageTemplate> {
    MessageTemplate::parse("client", "Pharos").ok()
}

impl TemplateFields for PagerDutyConfig {
    fn message_templates_mut(&mut self) -> Vec<(String, &mut MessageTemplate)> {
        let mut out: Vec<(String, &mut MessageTemplate)> = self
            .details
            .iter_mut()
            .map(|(k, t)| (format!("details.{k}"), t))
            .collect();
        for (field, t) in [
            ("source", &mut self.source),
            ("description", &mut self.description),
            ("client", &mut self.client),
            ("client_url", &mut self.client_url),
        ] {
            if let Some(t) = t {
                out.push((field.to_string(), t));
            }
        }
        out
    }
}

fn severity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    match s.as_deref() {
        None | Some("critical" | "error" | "warning" | "info") => Ok(s),
        Some(other) => Err(serde::de::Error::custom(format!(
            "{other:?}: PagerDuty's severities are critical, error, warning and info"
        ))),
    }
}

/// The `severity` label in PagerDuty's four words.
pub fn pagerduty_severity(label: Option<&str>) -> &'static str {
    match label {
        Some("critical" | "page" | "fatal" | "emergency" | "alert") => "critical",
        Some("error" | "high") => "error",
        Some("warning" | "warn" | "medium") => "warning",
        Some("info" | "informational" | "low" | "none" | "notice" | "debug") => "info",
        _ => "error",
    }
}

/// Stable for the life of the group: the same on trigger and resolve.
pub fn dedup_key(group_key: &str) -> String {
    hex::encode(Sha256::digest(group_key.as_bytes()))
}

pub struct PagerDutyReceiver {
    name: String,
    config: PagerDutyConfig,
    external_url: String,
}

impl PagerDutyReceiver {
    pub fn new(name: String, config: PagerDutyConfig, external_url: &str) -> Self {
        PagerDutyReceiver {
            name,
            config,
            external_url: external_url.to_string(),
        }
    }
}

/// The event PagerDuty is sent for `n`.
pub fn event(config: &PagerDutyConfig, n: &Notification, external_url: &str) -> serde_json::Value {
    let dedup = dedup_key(&n.group_key);
    if n.status() == AlertState::Resolved {
        return json!({
            "event_action": "resolve",
            "dedup_key": dedup,
        });
    }
    let f = Facts::of(n);
    let first = f.alerts.first();
    let summary = render_field(
        config.description.as_ref(),
        n,
        "description",
        || match first.and_then(|a| a.summary.as_deref()) {
            Some(s) => format!("{}: {s}", f.title),
            None => f.title.clone(),
        },
    );
    let worst = n
        .firing()
        .map(|a| pagerduty_severity(text::severity_word(&a.labels).as_deref()))
        .max_by_key(|s| {
            ["info", "warning", "error", "critical"]
                .iter()
                .position(|x| x == s)
        })
        .unwrap_or("error");
    let common = n.common_labels();
    let source = render_field(config.source.as_ref(), n, "source", || {
        ["monitor", "service", "job", "instance"]
            .iter()
            .find_map(|l| common.get(*l).cloned())
            .unwrap_or_else(|| "pharos".into())
    });
    let mut details = serde_json::Map::new();
    details.insert("firing".into(), json!(text::details(&f, &Plain)));
    details.insert("num_firing".into(), json!(f.firing));
    details.insert("num_resolved".into(), json!(f.resolved));
    for (k, t) in &config.details {
        let value = t.render_or(n, &format!("details.{k}"), || t.source().to_string());
        details.insert(k.clone(), json!(value));
    }
    let mut links = Vec::new();
    if let Some(ack) = f.ack_url {
        links.push(json!({ "href": ack, "text": "Acknowledge in Pharos" }));
    }
    if let Some(src) = first.and_then(|a| a.source) {
        links.push(json!({ "href": src, "text": "Source" }));
    }
    if let Some(r) = f.common_runbook().or_else(|| first.and_then(|a| a.runbook)) {
        links.push(json!({ "href": r, "text": "Runbook" }));
    }
    let mut payload = json!({
        "summary": text::cut(&summary, MAX_SUMMARY_CHARS),
        "source": source,
        "severity": config.severity.as_deref().unwrap_or(worst),
        "custom_details": details,
    });
    if let Some(a) = first {
        payload["timestamp"] = json!(
            a.starts_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
    }
    for (key, value) in [
        ("class", &config.class),
        ("component", &config.component),
        ("group", &config.group),
    ] {
        if let Some(v) = value {
            payload[key] = json!(v);
        }
    }
    let client_url = render_field(config.client_url.as_ref(), n, "client_url", || {
        external_url.to_string()
    });
    let client = render_field(config.client.as_ref(), n, "client", || "Pharos".into());
    let mut event = json!({
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": payload,
        "client": client,
        "links": links,
    });
    if !client_url.is_empty() {
        event["client_url"] = json!(client_url);
    }
    event
}

impl Receiver for PagerDutyReceiver {
    fn name(&self) -> &str {
        &self.name
    }

    fn integration(&self) -> &'static str {
        "pagerduty"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.config.send_resolved {
            return None;
        }
        Some(event(&self.config, n, &self.external_url).to_string())
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let mut event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(part)
                .map_err(|e| SendError::permanent(format!("stored event unreadable: {e}")))?;
            event.insert(
                "routing_key".into(),
                json!(self.config.routing_key.expose()),
            );
            let body = serde_json::Value::Object(event).to_string();
            crate::http::post_json(client, self.config.url.as_str(), body).await
        })
    }
}
