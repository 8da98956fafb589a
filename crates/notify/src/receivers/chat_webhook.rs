//! What the chat webhooks share (Slack, Mattermost, Discord, Teams, Google Chat): a
//! notification is one JSON message POSTed to the webhook's URL, which is a secret and
//! so never stored with the payload; and Slack's attachment, which Mattermost reads too.
//!
//! Each channel's file keeps its config and how a notification becomes its message; the
//! receiver around it is [`ChatWebhookReceiver`], written once.

use pharos_model::{AlertState, Notification};
use serde::Serialize;
use serde_json::json;

use crate::text::{Facts, Markup};
use crate::{BoxFuture, Receiver, SendError};

/// A channel whose notification is one JSON message POSTed to a webhook URL.
pub trait ChatWebhook: Serialize + Send + Sync + 'static {
    /// The kind, as the delivery log and the API name it (`slack`).
    const INTEGRATION: &'static str;

    /// Whether a group whose alerts all resolved is sent.
    fn send_resolved(&self) -> bool;

    /// Where the message is posted.
    fn webhook_url(&self) -> url::Url;

    /// The message for `n`.
    fn message(&self, n: &Notification) -> serde_json::Value;
}

/// The receiver of a [`ChatWebhook`] channel.
pub struct ChatWebhookReceiver<C> {
    name: String,
    config: C,
}

impl<C: ChatWebhook> ChatWebhookReceiver<C> {
    pub fn new(name: String, config: C) -> Self {
        ChatWebhookReceiver { name, config }
    }
}

impl<C: ChatWebhook> Receiver for ChatWebhookReceiver<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn integration(&self) -> &'static str {
        C::INTEGRATION
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.config.send_resolved() {
            return None;
        }
        Some(self.config.message(n).to_string())
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(crate::http::post_json(
            client,
            self.config.webhook_url(),
            part.to_string(),
        ))
    }
}

/// The text of a Slack attachment: what Slack and Mattermost show the same way.
pub struct AttachmentText {
    pub title: String,
    pub text: String,
    pub color: String,
}

/// Slack's attachment for `f`: coloured, titled (linked to the alerts page), the text,
/// and fields for the severity, the count of firing and resolved alerts, `extra_fields`
/// (Slack's runbook) and the acknowledge link in `m`'s link syntax.
pub fn slack_attachment(
    f: &Facts<'_>,
    m: &dyn Markup,
    shown: AttachmentText,
    extra_fields: Vec<serde_json::Value>,
) -> serde_json::Value {
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
    fields.extend(extra_fields);
    if let Some(ack) = f.ack_url {
        fields.push(json!({
            "title": "Acknowledge",
            "value": m.link("Acknowledge", ack),
            "short": false,
        }));
    }
    let mut attachment = json!({
        "fallback": format!("{} {}", f.level.emoji(), shown.title),
        "color": shown.color,
        "title": shown.title,
        "text": shown.text,
        "fields": fields,
        "footer": "Pharos",
    });
    if let Some(url) = &f.alerts_url {
        attachment["title_link"] = json!(url);
    }
    attachment
}
