//! `twilio_configs` (Pharos's own): an SMS through Twilio, a form-encoded
//! `POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json` with basic auth.
//! The text is kept short (two SMS segments at most): the headline, the first alert's
//! summary, how long, and the link to acknowledge. One message per recipient.

use std::borrow::Cow;

use pharos_model::Notification;
use serde::{Deserialize, Serialize};

use super::channel::{Channel, ChannelReceiver};
use super::{BaseUrl, OneOrMany, default_true};
use crate::message_template::MessageTemplate;
use crate::secret::Secret;
use crate::text::{self, Facts};
use crate::{BoxFuture, SendError};

/// Two GSM segments. Emoji make a message UCS-2 (70 characters a segment), which still
/// keeps this to a handful of segments; the words matter more than the count.
pub const MAX_SMS_CHARS: usize = 306;

/// Twilio's limit for one message's body (it is sent as up to ten segments); a
/// `message` template is cut here, Pharos's own text at [`MAX_SMS_CHARS`].
pub const MAX_BODY_CHARS: usize = 1600;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// `AC…`: not a secret, it is part of the URL.
    pub account_sid: String,
    /// The account's auth token (or an API key secret): a secret.
    pub auth_token: Secret,
    /// A Twilio number (`+15017122661`) or a messaging service SID (`MG…`).
    pub from: String,
    /// Recipients in E.164 format, one or a list.
    pub to: OneOrMany,
    #[serde(default = "default_api_url")]
    pub api_url: BaseUrl,
    /// A template for the SMS instead of Pharos's short text; cut at 1600 characters
    /// (Twilio's limit), so keep it short: every 153 characters is one more segment.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_api_url() -> BaseUrl {
    BaseUrl::from_static("https://api.twilio.com")
}

/// The SMS text for `n`.
pub fn sms_text(config: &TwilioConfig, n: &Notification) -> String {
    match &config.message {
        Some(t) => {
            let body = t.render_or(n, "message", || text::short(&Facts::of(n), MAX_SMS_CHARS));
            text::cut(&body, MAX_BODY_CHARS).into_owned()
        }
        None => text::short(&Facts::of(n), MAX_SMS_CHARS),
    }
}

pub type TwilioReceiver = ChannelReceiver<TwilioConfig>;

impl Channel for TwilioConfig {
    const INTEGRATION: &'static str = "twilio";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn payload(&self, n: &Notification) -> Option<String> {
        let body = sms_text(self, n);
        let forms: Vec<String> = self
            .to
            .0
            .iter()
            .map(|to| {
                let key = if self.from.starts_with("MG") {
                    "MessagingServiceSid"
                } else {
                    "From"
                };
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("To", to)
                    .append_pair(key, &self.from)
                    .append_pair("Body", &body)
                    .finish()
            })
            .collect();
        serde_json::to_string(&forms).ok()
    }

    fn parts<'a>(&self, payload: &'a str) -> Vec<Cow<'a, str>> {
        serde_json::from_str::<Vec<String>>(payload)
            .map(|v| v.into_iter().map(Cow::Owned).collect())
            .unwrap_or_default()
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let url = self.api_url.join(&format!(
                "2010-04-01/Accounts/{}/Messages.json",
                self.account_sid
            ));
            let request = client
                .post(url)
                .timeout(crate::http::DEFAULT_TIMEOUT)
                .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(part.to_string());
            crate::http::send(request).await
        })
    }
}
