//! `opsgenie_configs`: Opsgenie's Alert API v2, as Alertmanager's Opsgenie integration
//! uses it. A firing group creates an alert (`POST /v2/alerts`), a resolved one closes it
//! (`POST /v2/alerts/<alias>/close?identifierType=alias`); both name the alert by the
//! same alias (a hash of the group key, as Alertmanager makes it), so Opsgenie keeps one
//! alert per group and deduplicates repeats.
//!
//! The stored payload is the request's path and body; the API key is added when
//! sending, so the delivery queue holds no credential.

use std::collections::BTreeMap;

use pharos_model::{AlertState, Notification};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::channel::{Channel, ChannelReceiver};
use super::{BaseUrl, default_true};
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::Secret;
use crate::text::{self, Facts, Plain};
use crate::{BoxFuture, SendError};

/// Opsgenie's limits.
const MAX_MESSAGE_CHARS: usize = 130;
const MAX_DESCRIPTION_CHARS: usize = 15000;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieConfig {
    /// The API key of an Opsgenie API integration: a secret.
    pub api_key: Secret,
    /// `https://api.opsgenie.com/` by default; `https://api.eu.opsgenie.com/` for the EU
    /// instance.
    #[serde(default = "default_api_url")]
    pub api_url: BaseUrl,
    /// A template for the alert's message instead of `[FIRING:n] <alert>`.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    /// A template for the description instead of the alerts' details.
    #[serde(default, deserialize_with = "crate::message_template::description")]
    pub description: Option<MessageTemplate>,
    /// A template for the source; `Pharos` by default.
    #[serde(default, deserialize_with = "crate::message_template::source")]
    pub source: Option<MessageTemplate>,
    /// Extra details; the group's common labels are always sent.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub entity: Option<String>,
    /// Who is notified, each with `type` (`team`, `user`, `escalation`, `schedule`) and
    /// one of `id`, `name` or `username`.
    #[serde(default)]
    pub responders: Vec<OpsgenieResponder>,
    /// Comma-separated tags, as Alertmanager writes them.
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// `P1` to `P5` for every alert; by default from the worst severity (critical P1,
    /// warning P3, info P5).
    #[serde(default, deserialize_with = "priority")]
    pub priority: Option<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieResponder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
}

fn default_api_url() -> BaseUrl {
    BaseUrl::from_static("https://api.opsgenie.com")
}

fn priority<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    match s.as_deref() {
        None | Some("P1" | "P2" | "P3" | "P4" | "P5") => Ok(s),
        Some(other) => Err(serde::de::Error::custom(format!(
            "{other:?}: Opsgenie's priorities are P1 to P5"
        ))),
    }
}

/// The alert's alias: stable for the life of the group, the same on create and close.
pub fn alias(group_key: &str) -> String {
    super::pagerduty::dedup_key(group_key)
}

/// What is stored and sent: the path under `api_url` and the JSON body.
#[derive(Debug, Deserialize, Serialize)]
pub struct OpsgenieRequest {
    pub path: String,
    pub body: serde_json::Value,
}

/// The request Opsgenie is sent for `n`.
pub fn opsgenie_request(config: &OpsgenieConfig, n: &Notification) -> OpsgenieRequest {
    let alias = alias(&n.group_key);
    let source = render_field(config.source.as_ref(), n, "source", || "Pharos".into());
    if n.status() == AlertState::Resolved {
        return OpsgenieRequest {
            path: format!("v2/alerts/{alias}/close?identifierType=alias"),
            body: json!({ "source": source, "note": "Resolved in Pharos" }),
        };
    }
    let f = Facts::of(n);
    let message = render_field(config.message.as_ref(), n, "message", || f.title.clone());
    let description = render_field(config.description.as_ref(), n, "description", || {
        text::details(&f, &Plain)
    });
    let mut details: BTreeMap<String, String> = n.common_labels().into_iter().collect();
    details.extend(config.details.clone());
    let priority = config.priority.clone().unwrap_or_else(|| match f.level {
        text::Level::Critical => "P1".into(),
        text::Level::Warning => "P3".into(),
        text::Level::Info | text::Level::Resolved => "P5".into(),
    });
    let mut body = json!({
        "alias": alias,
        "message": text::cut(&message, MAX_MESSAGE_CHARS),
        "description": text::cut(&description, MAX_DESCRIPTION_CHARS),
        "details": details,
        "source": source,
        "priority": priority,
    });
    if !config.responders.is_empty() {
        body["responders"] = json!(config.responders);
    }
    let tags: Vec<&str> = config
        .tags
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if !tags.is_empty() {
        body["tags"] = json!(tags);
    }
    if let Some(entity) = &config.entity {
        body["entity"] = json!(entity);
    }
    if let Some(note) = &config.note {
        body["note"] = json!(note);
    }
    if !config.actions.is_empty() {
        body["actions"] = json!(config.actions);
    }
    OpsgenieRequest {
        path: "v2/alerts".into(),
        body,
    }
}

pub type OpsgenieReceiver = ChannelReceiver<OpsgenieConfig>;

impl Channel for OpsgenieConfig {
    const INTEGRATION: &'static str = "opsgenie";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn payload(&self, n: &Notification) -> Option<String> {
        serde_json::to_string(&opsgenie_request(self, n)).ok()
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let request: OpsgenieRequest = serde_json::from_str(part)
                .map_err(|_| SendError::permanent("the stored payload cannot be read"))?;
            let request = crate::http::json_post(
                client,
                self.api_url.join(&request.path),
                crate::http::DEFAULT_TIMEOUT,
                request.body.to_string(),
            )
            .header(
                "Authorization",
                format!("GenieKey {}", self.api_key.expose()),
            );
            crate::http::send(request).await
        })
    }
}
