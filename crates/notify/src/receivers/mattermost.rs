//! `mattermost_configs`: a Mattermost incoming webhook. Mattermost reads Slack's
//! attachment format, so the message is one attachment coloured by the worst severity,
//! titled `[FIRING:n] …` / `[RESOLVED] …`, with the alerts in Markdown.

use pharos_model::Notification;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::chat_webhook::{AttachmentText, ChatWebhook, ChatWebhookReceiver, slack_attachment};
use super::default_true;
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::SecretUrl;
use crate::text::{self, Facts, Markdown};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MattermostConfig {
    /// The incoming webhook URL (`https://chat.example.com/hooks/<key>`): a secret.
    pub webhook_url: SecretUrl,
    /// Overrides the webhook's channel (`town-square`, or `@user` for a direct
    /// message), when the webhook allows it.
    #[serde(default)]
    pub channel: Option<String>,
    /// Overrides the poster's name, when the server allows it.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    /// A template for the title instead of `[FIRING:n] <alert>`.
    #[serde(default, deserialize_with = "crate::message_template::title")]
    pub title: Option<MessageTemplate>,
    /// A template for the text instead of the alerts' details.
    #[serde(default, deserialize_with = "crate::message_template::text")]
    pub text: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

pub type MattermostReceiver = ChatWebhookReceiver<MattermostConfig>;

impl ChatWebhook for MattermostConfig {
    const KIND: &'static str = "mattermost";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn webhook_url(&self) -> url::Url {
        self.webhook_url.expose().clone()
    }

    fn message(&self, n: &Notification) -> serde_json::Value {
        mattermost_message(self, n)
    }
}

/// The webhook body for `n`.
pub fn mattermost_message(config: &MattermostConfig, n: &Notification) -> serde_json::Value {
    let f = Facts::of(n);
    let title = render_field(config.title.as_ref(), n, "title", || f.title.clone());
    let body = render_field(config.text.as_ref(), n, "text", || {
        text::details(&f, &Markdown)
    });
    let attachment = slack_attachment(
        &f,
        &Markdown,
        AttachmentText {
            title,
            text: body,
            color: f.level.color_hex().to_string(),
        },
        Vec::new(),
    );
    let mut message = json!({ "attachments": [attachment] });
    for (key, value) in [
        ("channel", &config.channel),
        ("username", &config.username),
        ("icon_url", &config.icon_url),
    ] {
        if let Some(v) = value {
            message[key] = json!(v);
        }
    }
    message
}
