//! `whatsapp_configs` (Pharos's own): a text message through the WhatsApp Cloud API,
//! `POST {api_url}/{phone_number_id}/messages` with a bearer token. One message per
//! recipient; the stored payload is the list of message bodies.
//!
//! WhatsApp delivers free-form text only within 24 hours of the recipient's last message
//! to the business number; outside it the API answers an error that lands in the
//! delivery log (Meta's message templates are the way around it, not supported here).

use std::borrow::Cow;

use pharos_model::Notification;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::channel::{Channel, ChannelReceiver};
use super::{BaseUrl, OneOrMany, default_true};
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::Secret;
use crate::text::{self, Facts};
use crate::{BoxFuture, SendError};

/// The Cloud API's limit for a text body.
const MAX_BODY_CHARS: usize = 4096;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// The sending number's id in Meta's WhatsApp Manager (not the phone number).
    pub phone_number_id: String,
    /// A system user's access token: a secret.
    pub access_token: Secret,
    /// Recipients in international format (`+4915112345678`), one or a list.
    pub to: OneOrMany,
    #[serde(default = "default_api_url")]
    pub api_url: BaseUrl,
    /// A template for the message instead of Pharos's text; cut at 4096 characters.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_api_url() -> BaseUrl {
    BaseUrl::from_static("https://graph.facebook.com/v21.0")
}

/// The message text for `n`.
pub fn whatsapp_text(config: &WhatsAppConfig, n: &Notification) -> String {
    let body = render_field(config.message.as_ref(), n, "message", || {
        text::body(&Facts::of(n), &text::WhatsApp)
    });
    text::cut(&body, MAX_BODY_CHARS).into_owned()
}

pub type WhatsAppReceiver = ChannelReceiver<WhatsAppConfig>;

impl Channel for WhatsAppConfig {
    const INTEGRATION: &'static str = "whatsapp";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn payload(&self, n: &Notification) -> Option<String> {
        let body = whatsapp_text(self, n);
        let messages: Vec<serde_json::Value> = self
            .to
            .0
            .iter()
            .map(|to| {
                json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to.trim_start_matches('+'),
                    "type": "text",
                    "text": { "preview_url": false, "body": body },
                })
            })
            .collect();
        Some(serde_json::Value::Array(messages).to_string())
    }

    fn parts<'a>(&self, payload: &'a str) -> Vec<Cow<'a, str>> {
        match serde_json::from_str::<Vec<serde_json::Value>>(payload) {
            Ok(v) => v.into_iter().map(|b| Cow::Owned(b.to_string())).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let url = self
                .api_url
                .join(&format!("{}/messages", self.phone_number_id));
            let request =
                crate::http::json_post(client, url, crate::http::DEFAULT_TIMEOUT, part.to_string())
                    .bearer_auth(self.access_token.expose());
            crate::http::send(request).await
        })
    }
}
