//! `pagerduty_configs`: PagerDuty's Events API v2 (`routing_key`), or v1 for an
//! integration keyed by `service_key`, as Alertmanager sends both. A firing group is a
//! `trigger`, a resolved one a `resolve`, both with the same `dedup_key` (v1:
//! `incident_key`; a hash of the group key, as Alertmanager makes it), so PagerDuty keeps
//! one incident per group.
//!
//! The stored payload leaves out the key; it is added when sending, so the delivery
//! queue holds no credential.

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
    #[serde(default)]
    pub routing_key: Option<Secret>,
    /// The key of an Events API v1 integration (Alertmanager's older field): a secret.
    /// Exactly one of `routing_key` and `service_key` is set.
    #[serde(default)]
    pub service_key: Option<Secret>,
    /// v2's endpoint by default. With `service_key`, events go to v1's endpoint unless
    /// this is set to another URL than v2's default.
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
    BaseUrl::from_static(V2_URL)
}

const V2_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";

impl PagerDutyConfig {
    /// Alertmanager's check: one key, of either kind.
    pub fn check(&self) -> Result<(), String> {
        match (&self.routing_key, &self.service_key) {
            (None, None) => Err("missing service or routing key in PagerDuty config".into()),
            (Some(_), Some(_)) => {
                Err("at most one of routing_key and service_key can be set".into())
            }
            _ => Ok(()),
        }
    }

    /// Where events go, and the name of the key field in them.
    fn endpoint(&self) -> (&str, &'static str, Option<&Secret>) {
        match &self.service_key {
            Some(k) if self.url.as_str().trim_end_matches('/') == V2_URL => {
                (V1_URL, "service_key", Some(k))
            }
            Some(k) => (self.url.as_str(), "service_key", Some(k)),
            None => (self.url.as_str(), "routing_key", self.routing_key.as_ref()),
        }
    }
}

/// The v1 form of a v2 event: `event_type`, `incident_key`, `description`, `details`,
/// and on a trigger `client` and `client_url`, as Alertmanager's `notifyV1` sends.
fn v1_event(v2: serde_json::Value) -> serde_json::Value {
    let trigger = v2["event_action"] == "trigger";
    let mut e = json!({
        "event_type": v2["event_action"],
        "incident_key": v2["dedup_key"],
    });
    if trigger {
        e["description"] = v2["payload"]["summary"].clone();
        e["details"] = v2["payload"]["custom_details"].clone();
        e["client"] = v2["client"].clone();
        if !v2["client_url"].is_null() {
            e["client_url"] = v2["client_url"].clone();
        }
    }
    e
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
        let v2 = event(&self.config, n, &self.external_url);
        Some(if self.config.service_key.is_some() {
            v1_event(v2).to_string()
        } else {
            v2.to_string()
        })
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let mut event: serde_json::Map<String, serde_json::Value> = serde_json::from_str(part)
                .map_err(|e| SendError::permanent(format!("stored event unreadable: {e}")))?;
            let (url, key_field, key) = self.config.endpoint();
            let key = key.ok_or_else(|| {
                SendError::permanent("missing service or routing key in PagerDuty config")
            })?;
            event.insert(key_field.into(), json!(key.expose()));
            let body = serde_json::Value::Object(event).to_string();
            crate::http::post_json(client, url, body).await
        })
    }
}
