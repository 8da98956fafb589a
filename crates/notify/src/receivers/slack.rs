//! `slack_configs`: a Slack incoming webhook. One attachment coloured by the worst
//! severity (seed 001: critical red, warning orange, info blue; resolved green), titled
//! `[FIRING:n] …` / `[RESOLVED] …`, the alerts in mrkdwn, and fields for what a person
//! scans first.

use pharos_model::{AlertState, Notification};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::message_template::{MessageTemplate, render_field};
use crate::secret::SecretUrl;
use crate::text::{self, Facts, Markup, SlackMrkdwn};
use crate::{BoxFuture, Receiver, SendError};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming webhook URL (`https://hooks.slack.com/services/…`): a secret.
    pub api_url: SecretUrl,
    /// Overrides the webhook's channel (`#ops`), when the webhook allows it.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// A template for the title instead of `[FIRING:n] <alert>`.
    #[serde(default, deserialize_with = "crate::message_template::title")]
    pub title: Option<MessageTemplate>,
    /// A template for the text instead of the alerts' details.
    #[serde(default, deserialize_with = "crate::message_template::text")]
    pub text: Option<MessageTemplate>,
    /// A template for the colour (`danger`, `#439FE0`) instead of the severity's.
    #[serde(default, deserialize_with = "crate::message_template::color")]
    pub color: Option<MessageTemplate>,
    /// Alertmanager's default: resolved notifications are not sent to Slack.
    #[serde(default)]
    pub send_resolved: bool,
}

pub struct SlackReceiver {
    name: String,
    config: SlackConfig,
}

impl SlackReceiver {
    pub fn new(name: String, config: SlackConfig) -> Self {
        SlackReceiver { name, config }
    }
}

/// The message Slack is sent for `n`.
pub fn slack_message(config: &SlackConfig, n: &Notification) -> serde_json::Value {
    let f = Facts::of(n);
    let m = SlackMrkdwn;
    let title = render_field(config.title.as_ref(), n, "title", || f.title.clone());
    let body = render_field(config.text.as_ref(), n, "text", || text::details(&f, &m));
    let mut fields = vec![json!({
        "title": "Severity",
        "value": f.level.word(),
        "short": true,
    })];
    fields.push(json!({
        "title": "Alerts",
        "value": match (f.firing, f.resolved) {
            (n, 0) => format!("{n} firing"),
            (0, r) => format!("{r} resolved"),
            (n, r) => format!("{n} firing, {r} resolved"),
        },
        "short": true,
    }));
    if let Some(r) = f.common_runbook() {
        fields.push(json!({ "title": "Runbook", "value": m.link(r, r), "short": false }));
    }
    if let Some(ack) = f.ack_url {
        fields.push(json!({
            "title": "Acknowledge",
            "value": m.link("Acknowledge", ack),
            "short": false,
        }));
    }
    let mut attachment = json!({
        "fallback": format!("{} {}", f.level.emoji(), title),
        "color": render_field(config.color.as_ref(), n, "color", || f.level.color_hex().to_string()),
        "title": title,
        "text": body,
        "fields": fields,
        "mrkdwn_in": ["text", "fields"],
        "footer": "Pharos",
    });
    if let Some(url) = &f.alerts_url {
        attachment["title_link"] = json!(url);
    }
    let mut message = json!({ "attachments": [attachment] });
    if let Some(c) = &config.channel {
        message["channel"] = json!(c);
    }
    if let Some(u) = &config.username {
        message["username"] = json!(u);
    }
    message
}

impl Receiver for SlackReceiver {
    fn name(&self) -> &str {
        &self.name
    }

    fn integration(&self) -> &'static str {
        "slack"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.config.send_resolved {
            return None;
        }
        Some(slack_message(&self.config, n).to_string())
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(crate::http::post_json(
            client,
            self.config.api_url.expose().clone(),
            part.to_string(),
        ))
    }
}
