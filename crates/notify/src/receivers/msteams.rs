//! `msteams_configs`: a Microsoft Teams incoming webhook, sent the legacy MessageCard
//! that Alertmanager's msteams integration sends (title, summary, Markdown text, theme
//! colour by severity).

use pharos_model::Notification;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::chat_webhook::{ChatWebhook, ChatWebhookReceiver};
use super::default_true;
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::SecretUrl;
use crate::text::{self, Facts, Markdown};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MsTeamsConfig {
    /// The incoming webhook URL: a secret.
    pub webhook_url: SecretUrl,
    /// A template for the card's title instead of `<emoji> [FIRING:n] <alert>`.
    #[serde(default, deserialize_with = "crate::message_template::title")]
    pub title: Option<MessageTemplate>,
    /// A template for the summary (the notification's preview) instead of the title.
    #[serde(default, deserialize_with = "crate::message_template::summary")]
    pub summary: Option<MessageTemplate>,
    /// A template for the text instead of the alerts' details.
    #[serde(default, deserialize_with = "crate::message_template::text")]
    pub text: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

pub type MsTeamsReceiver = ChatWebhookReceiver<MsTeamsConfig>;

impl ChatWebhook for MsTeamsConfig {
    const KIND: &'static str = "msteams";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn webhook_url(&self) -> url::Url {
        self.webhook_url.expose().clone()
    }

    fn message(&self, n: &Notification) -> serde_json::Value {
        teams_card(self, n)
    }
}

/// The MessageCard for `n`. Teams renders the text as Markdown where a blank line
/// separates paragraphs and a single newline is ignored, hence the doubled breaks.
pub fn teams_card(config: &MsTeamsConfig, n: &Notification) -> serde_json::Value {
    let f = Facts::of(n);
    let text = render_field(config.text.as_ref(), n, "text", || {
        text::details(&f, &Markdown).replace('\n', "\n\n")
    });
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "themeColor": f.level.color_hex().trim_start_matches('#'),
        "summary": render_field(config.summary.as_ref(), n, "summary", || f.title.clone()),
        "title": render_field(config.title.as_ref(), n, "title", || {
            format!("{} {}", f.level.emoji(), f.title)
        }),
        "text": text,
    });
    let mut actions = Vec::new();
    if let Some(ack) = f.ack_url {
        actions.push(json!({
            "@type": "OpenUri",
            "name": "Acknowledge",
            "targets": [{ "os": "default", "uri": ack }],
        }));
    }
    if let Some(all) = &f.alerts_url {
        actions.push(json!({
            "@type": "OpenUri",
            "name": "Open Pharos",
            "targets": [{ "os": "default", "uri": all }],
        }));
    }
    if !actions.is_empty() {
        card["potentialAction"] = json!(actions);
    }
    card
}
