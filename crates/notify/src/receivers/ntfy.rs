//! `ntfy_configs`: a message published to an ntfy topic (ntfy.sh or a self-hosted
//! server) with ntfy's JSON publishing: `POST <url>/` with the topic in the body. The
//! title is the group's headline, the priority and the tag (shown as an emoji) follow
//! the worst severity, and a click opens the acknowledge link or Pharos's alerts page.
//!
//! The access token is added when sending, so the delivery queue holds no credential.

use pharos_model::Notification;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::channel::{Channel, ChannelReceiver};
use super::{BaseUrl, default_true};
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::Secret;
use crate::text::{self, Facts, Level, Markdown};
use crate::{BoxFuture, SendError};

/// ntfy cuts a message at 4,096 bytes; stay under it in characters.
const MAX_MESSAGE_CHARS: usize = 4000;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    /// The ntfy server; `https://ntfy.sh` by default.
    #[serde(default = "default_url")]
    pub url: BaseUrl,
    /// The topic to publish to. On the public server anyone who knows it can read it:
    /// pick one that is hard to guess, or use a token on a protected topic.
    pub topic: String,
    /// 1 (min) to 5 (max/urgent), or ntfy's words `min`, `low`, `default`, `high`,
    /// `urgent`; by default from the worst severity (critical 5, warning 4, info 3,
    /// resolved 2).
    #[serde(default, deserialize_with = "priority")]
    pub priority: Option<u8>,
    /// Extra tags; ntfy shows a tag that names an emoji as that emoji. Pharos adds one
    /// for the severity.
    #[serde(default)]
    pub tags: Vec<String>,
    /// An access token for a protected topic (`tk_…`), sent as `Authorization: Bearer`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A template for the title instead of `[FIRING:n] <alert>`.
    #[serde(default, deserialize_with = "crate::message_template::title")]
    pub title: Option<MessageTemplate>,
    /// A template for the message instead of the alerts' details.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_url() -> BaseUrl {
    BaseUrl::from_static("https://ntfy.sh")
}

fn priority<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Word(String),
    }
    let Some(raw) = Option::<Raw>::deserialize(d)? else {
        return Ok(None);
    };
    let p = match raw {
        Raw::Number(n @ 1..=5) => n as u8,
        Raw::Word(w) => match w.as_str() {
            "1" | "min" => 1,
            "2" | "low" => 2,
            "3" | "default" => 3,
            "4" | "high" => 4,
            "5" | "max" | "urgent" => 5,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "{other:?} is not an ntfy priority (1 to 5, or min, low, default, high, urgent)"
                )));
            }
        },
        Raw::Number(n) => {
            return Err(serde::de::Error::custom(format!(
                "{n} is not an ntfy priority (1 to 5)"
            )));
        }
    };
    Ok(Some(p))
}

fn level_priority(level: Level) -> u8 {
    match level {
        Level::Critical => 5,
        Level::Warning => 4,
        Level::Info => 3,
        Level::Resolved => 2,
    }
}

/// The ntfy emoji short code for a level.
fn level_tag(level: Level) -> &'static str {
    match level {
        Level::Critical => "rotating_light",
        Level::Warning => "warning",
        Level::Info => "information_source",
        Level::Resolved => "white_check_mark",
    }
}

/// The JSON ntfy is sent for `n`.
pub fn ntfy_message(config: &NtfyConfig, n: &Notification) -> serde_json::Value {
    let f = Facts::of(n);
    let title = render_field(config.title.as_ref(), n, "title", || f.title.clone());
    let message = render_field(config.message.as_ref(), n, "message", || {
        text::details(&f, &Markdown)
    });
    let mut tags = vec![level_tag(f.level).to_string()];
    tags.extend(config.tags.iter().cloned());
    let mut body = json!({
        "topic": config.topic,
        "title": title,
        "message": text::cut(&message, MAX_MESSAGE_CHARS),
        "markdown": true,
        "priority": config.priority.unwrap_or_else(|| level_priority(f.level)),
        "tags": tags,
    });
    if let Some(click) = f.ack_url.map(str::to_string).or(f.alerts_url.clone()) {
        body["click"] = json!(click);
    }
    body
}

pub type NtfyReceiver = ChannelReceiver<NtfyConfig>;

impl Channel for NtfyConfig {
    const INTEGRATION: &'static str = "ntfy";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn payload(&self, n: &Notification) -> Option<String> {
        Some(ntfy_message(self, n).to_string())
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            // JSON publishing goes to the server's root, the topic in the body.
            let mut request = crate::http::json_post(
                client,
                self.url.join("/"),
                crate::http::DEFAULT_TIMEOUT,
                part.to_string(),
            );
            if let Some(token) = &self.token {
                request = request.bearer_auth(token.expose());
            }
            crate::http::send(request).await
        })
    }
}
