//! `googlechat_configs`: a Google Chat space's incoming webhook, one text message per
//! notification in Google Chat's own formatting (`*bold*`, `<url|text>`). The messages
//! of one group go to one thread (the webhook's `threadKey`, a hash of the group key),
//! so a resolved notification answers its firing one.

use pharos_model::Notification;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::chat_webhook::{ChatWebhook, ChatWebhookReceiver};
use super::default_true;
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::SecretUrl;
use crate::text::{self, Facts, Markup};

/// Google Chat refuses a longer text.
const MAX_TEXT_CHARS: usize = 4000;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoogleChatConfig {
    /// The space's webhook URL (`https://chat.googleapis.com/v1/spaces/…/messages?key=…&token=…`):
    /// a secret.
    pub url: SecretUrl,
    /// A template for the text instead of the headline and the alerts' details.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    /// One thread per alert group; `false` posts every notification on its own.
    #[serde(default = "default_true")]
    pub threaded: bool,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

/// Google Chat's text formatting: `*bold*`, `<url|text>`; nothing to escape but the
/// link's delimiters.
pub struct GoogleChatText;

impl Markup for GoogleChatText {
    fn escape(&self, s: &str) -> String {
        s.to_string()
    }
    fn bold(&self, escaped: &str) -> String {
        format!("*{escaped}*")
    }
    fn link(&self, text: &str, url: &str) -> String {
        format!(
            "<{}|{}>",
            url.replace(['<', '>', '|'], ""),
            text.replace(['<', '>', '|'], "")
        )
    }
}

pub type GoogleChatReceiver = ChatWebhookReceiver<GoogleChatConfig>;

impl ChatWebhook for GoogleChatConfig {
    const KIND: &'static str = "googlechat";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn webhook_url(&self) -> url::Url {
        let mut url = self.url.expose().clone();
        if self.threaded {
            // Without this a `thread.threadKey` in the body is ignored.
            url.query_pairs_mut()
                .append_pair("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
        }
        url
    }

    fn message(&self, n: &Notification) -> serde_json::Value {
        googlechat_message(self, n)
    }
}

/// The message body for `n`.
pub fn googlechat_message(config: &GoogleChatConfig, n: &Notification) -> serde_json::Value {
    let text = render_field(config.message.as_ref(), n, "message", || {
        text::body(&Facts::of(n), &GoogleChatText)
    });
    let mut message = json!({ "text": text::cut(&text, MAX_TEXT_CHARS) });
    if config.threaded {
        message["thread"] = json!({ "threadKey": super::pagerduty::dedup_key(&n.group_key) });
    }
    message
}
