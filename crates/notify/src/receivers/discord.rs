//! `discord_configs`: a Discord channel webhook, one embed coloured by severity, as
//! Alertmanager's Discord integration sends.

use pharos_model::Notification;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::chat_webhook::{ChatWebhook, ChatWebhookReceiver};
use super::default_true;
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::SecretUrl;
use crate::text::{self, Facts, Markdown};

/// Discord's limits for an embed.
const MAX_TITLE_CHARS: usize = 256;
const MAX_DESCRIPTION_CHARS: usize = 4096;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// `https://discord.com/api/webhooks/<id>/<token>`: a secret.
    pub webhook_url: SecretUrl,
    /// A template for the embed's title instead of `<emoji> [FIRING:n] <alert>`.
    #[serde(default, deserialize_with = "crate::message_template::title")]
    pub title: Option<MessageTemplate>,
    /// A template for the embed's description instead of the alerts' details.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

pub type DiscordReceiver = ChatWebhookReceiver<DiscordConfig>;

impl ChatWebhook for DiscordConfig {
    const KIND: &'static str = "discord";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn webhook_url(&self) -> url::Url {
        self.webhook_url.expose().clone()
    }

    fn message(&self, n: &Notification) -> serde_json::Value {
        discord_message(self, n)
    }
}

/// The webhook body for `n`.
pub fn discord_message(config: &DiscordConfig, n: &Notification) -> serde_json::Value {
    let f = Facts::of(n);
    let title = render_field(config.title.as_ref(), n, "title", || {
        format!("{} {}", f.level.emoji(), f.title)
    });
    let description = render_field(config.message.as_ref(), n, "message", || {
        text::details(&f, &Markdown)
    });
    let mut embed = json!({
        "title": text::cut(&title, MAX_TITLE_CHARS),
        "description": text::cut(&description, MAX_DESCRIPTION_CHARS),
        "color": f.level.color_int(),
    });
    if let Some(url) = f.ack_url.map(str::to_string).or(f.alerts_url.clone()) {
        embed["url"] = json!(url);
    }
    json!({
        "content": "",
        "embeds": [embed],
        // Alert text may contain `@everyone`; never let it ping anyone.
        "allowed_mentions": { "parse": [] },
    })
}
