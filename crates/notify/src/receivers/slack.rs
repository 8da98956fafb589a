//! `slack_configs`: a Slack incoming webhook. One attachment coloured by the worst
//! severity (seed 001: critical red, warning orange, info blue; resolved green), titled
//! `[FIRING:n] …` / `[RESOLVED] …`, the alerts in mrkdwn, and fields for what a person
//! scans first.

use pharos_model::Notification;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::chat_webhook::{AttachmentText, ChatWebhook, ChatWebhookReceiver, slack_attachment};
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::SecretUrl;
use crate::text::{self, Facts, Markup, SlackMrkdwn};

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

pub type SlackReceiver = ChatWebhookReceiver<SlackConfig>;

impl ChatWebhook for SlackConfig {
    const KIND: &'static str = "slack";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn webhook_url(&self) -> url::Url {
        self.api_url.expose().clone()
    }

    fn message(&self, n: &Notification) -> serde_json::Value {
        slack_message(self, n)
    }
}

/// The message Slack is sent for `n`.
pub fn slack_message(config: &SlackConfig, n: &Notification) -> serde_json::Value {
    let f = Facts::of(n);
    let m = SlackMrkdwn;
    let title = render_field(config.title.as_ref(), n, "title", || f.title.clone());
    let body = render_field(config.text.as_ref(), n, "text", || text::details(&f, &m));
    let mut extra_fields = Vec::new();
    if let Some(r) = f.common_runbook() {
        extra_fields.push(json!({ "title": "Runbook", "value": m.link(r, r), "short": false }));
    }
    let color = render_field(config.color.as_ref(), n, "color", || {
        f.level.color_hex().to_string()
    });
    let mut attachment = slack_attachment(
        &f,
        &m,
        AttachmentText {
            title,
            text: body,
            color,
        },
        extra_fields,
    );
    attachment["mrkdwn_in"] = json!(["text", "fields"]);
    let mut message = json!({ "attachments": [attachment] });
    if let Some(c) = &config.channel {
        message["channel"] = json!(c);
    }
    if let Some(u) = &config.username {
        message["username"] = json!(u);
    }
    message
}
