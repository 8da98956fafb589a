//! What the chat webhooks share (Slack, Mattermost, Discord, Teams, Google Chat): a
//! notification is one JSON message POSTed to the webhook's URL, which is a secret and
//! so never stored with the payload; and Slack's attachment, which Mattermost reads too.
//!
//! Each channel's file keeps its config and how a notification becomes its message; the
//! rest is a [`Channel`] written once here.

use pharos_model::Notification;
use serde::Serialize;
use serde_json::json;

use super::channel::Channel;
pub use super::channel::ChannelReceiver;
use crate::text::{Facts, Markup};
use crate::{BoxFuture, SendError};

/// A channel whose notification is one JSON message POSTed to a webhook URL.
pub trait ChatWebhook: Serialize + Send + Sync + 'static {
    /// The kind, as the delivery log and the API name it (`slack`).
    const KIND: &'static str;

    /// Whether a group whose alerts all resolved is sent.
    fn send_resolved(&self) -> bool;

    /// Where the message is posted.
    fn webhook_url(&self) -> url::Url;

    /// The message for `n`.
    fn message(&self, n: &Notification) -> serde_json::Value;
}

/// Every chat webhook is a [`Channel`]: the message as the payload, posted as it is.
impl<C: ChatWebhook> Channel for C {
    const INTEGRATION: &'static str = C::KIND;

    fn send_resolved(&self) -> bool {
        ChatWebhook::send_resolved(self)
    }

    fn payload(&self, n: &Notification) -> Option<String> {
        Some(self.message(n).to_string())
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(crate::http::post_json(
            client,
            self.webhook_url(),
            part.to_string(),
        ))
    }
}

/// The receiver of a chat webhook.
pub type ChatWebhookReceiver<C> = ChannelReceiver<C>;

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
