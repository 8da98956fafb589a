//! `mattermost_configs`: a Mattermost incoming webhook. Mattermost reads Slack's
//! attachment format, so the message is one attachment coloured by the worst severity,
//! titled `[FIRING:n] …` / `[RESOLVED] …`, with the alerts in Markdown.

use pharos_model::{AlertState, Notification};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::default_true;
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::SecretUrl;
use crate::text::{self, Facts, Markdown, Markup};
use crate::{BoxFuture, Receiver, SendError};

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

pub struct MattermostReceiver {
    name: String,
    config: MattermostConfig,
}

impl MattermostReceiver {
    pub fn new(name: String, config: MattermostConfig) -> Self {
        MattermostReceiver { name, config }
    }
}

/// The webhook body for `n`.
pub fn mattermost_message(config: &MattermostConfig, n: &Notification) -> serde_json::Value {
    let f = Facts::of(n);
    let title = render_field(config.title.as_ref(), n, "title", || f.title.clone());
    let body = render_field(config.text.as_ref(), n, "text", || {
        text::details(&f, &Markdown)
    });
    let mut fields = vec![
        json!({ "title": "Severity", "value": f.level.word(), "short": true }),
        json!({
            "title": "Alerts",
            "value": match (f.firing, f.resolved) {
                (n, 0) => format!("{n} firing"),
                (0, r) => format!("{r} resolved"),
                (n, r) => format!("{n} firing, {r} resolved"),
            },
            "short": true,
        }),
    ];
    if let Some(ack) = f.ack_url {
        fields.push(json!({
            "title": "Acknowledge",
            "value": Markdown.link("Acknowledge", ack),
            "short": false,
        }));
    }
    let mut attachment = json!({
        "fallback": format!("{} {}", f.level.emoji(), title),
        "color": f.level.color_hex(),
        "title": title,
        "text": body,
        "fields": fields,
        "footer": "Pharos",
    });
    if let Some(url) = &f.alerts_url {
        attachment["title_link"] = json!(url);
    }
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

impl Receiver for MattermostReceiver {
    fn name(&self) -> &str {
        &self.name
    }

    fn integration(&self) -> &'static str {
        "mattermost"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.config.send_resolved {
            return None;
        }
        Some(mattermost_message(&self.config, n).to_string())
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(crate::http::post_json(
            client,
            self.config.webhook_url.expose().clone(),
            part.to_string(),
        ))
    }
}
