//! `telegram_configs`: the Bot API's `sendMessage` (`POST {api_url}/bot{token}/sendMessage`).
//! Each message starts with seed 000's emoji (🔴 critical, 🟠 warning, ℹ️ info,
//! ✅ resolved). Text is escaped for the chosen `parse_mode` (HTML by default, as in
//! Alertmanager; MarkdownV2, Markdown, or none).
//!
//! A message holds at most 4096 characters, so a long group is split between alerts into
//! several messages; the stored payload is the JSON list of `sendMessage` bodies and the
//! worker sends them in order, resuming after the last one that went through.

use std::borrow::Cow;

use pharos_model::Notification;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::channel::{Channel, ChannelReceiver};
use super::{BaseUrl, default_true};
use crate::message_template::MessageTemplate;
use crate::secret::Secret;
use crate::text::{self, Facts, Markup};
use crate::{BoxFuture, SendError};

/// Telegram's limit, in UTF-16 code units of the text after parsing. Counting the text
/// before parsing (markup included) errs on the safe side.
pub const MAX_MESSAGE_UNITS: usize = 4096;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// From @BotFather: a secret.
    pub bot_token: Secret,
    /// A chat id (`-1001234567890`) or a public channel's `@name`.
    pub chat_id: ChatId,
    #[serde(default = "default_api_url")]
    pub api_url: BaseUrl,
    /// `HTML` (default), `MarkdownV2`, `Markdown`, or empty for plain text.
    #[serde(default = "default_parse_mode", deserialize_with = "parse_mode")]
    pub parse_mode: String,
    /// A forum topic of the chat.
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// Deliver silently (no sound).
    #[serde(default)]
    pub disable_notifications: bool,
    /// A template for the whole message (written for `parse_mode`) instead of Pharos's
    /// text; sent as one message, cut at Telegram's 4096 characters.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_api_url() -> BaseUrl {
    BaseUrl::from_static("https://api.telegram.org")
}

fn default_parse_mode() -> String {
    "HTML".into()
}

fn parse_mode<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "HTML" | "MarkdownV2" | "Markdown" | "" => Ok(s),
        other => Err(serde::de::Error::custom(format!(
            "{other:?} is not a Telegram parse mode; use HTML, MarkdownV2, Markdown or \"\""
        ))),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ChatId {
    Id(i64),
    Name(String),
}

impl<'de> Deserialize<'de> for ChatId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ChatId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a numeric chat id or a channel's @name")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ChatId, E> {
                Ok(ChatId::Id(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ChatId, E> {
                i64::try_from(v)
                    .map(ChatId::Id)
                    .map_err(|_| E::custom("chat id out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ChatId, E> {
                // `${CHAT_ID}` substitution makes numbers arrive as text.
                if let Ok(id) = v.trim().parse::<i64>() {
                    return Ok(ChatId::Id(id));
                }
                if v.starts_with('@') && v.len() > 1 {
                    return Ok(ChatId::Name(v.to_string()));
                }
                Err(E::custom(format!(
                    "{v:?} is neither a numeric chat id nor a channel's @name"
                )))
            }
        }
        d.deserialize_any(Visitor)
    }
}

fn markup(parse_mode: &str) -> &'static dyn Markup {
    match parse_mode {
        "HTML" => &text::Html,
        "MarkdownV2" => &text::TelegramMarkdownV2,
        "Markdown" => &text::TelegramMarkdown,
        _ => &text::Plain,
    }
}

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// At most `max` UTF-16 units, cut on a character boundary, ending in `…` when cut.
fn cut_units(s: &str, max: usize) -> String {
    if units(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        if used + c.len_utf16() + 1 > max {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// The texts to send, each with the parse mode it was written for: blocks packed into as
/// few messages as fit. A block too long for one message even alone (long values that
/// escaping made longer) goes as plain text, cut, since markup cannot be cut safely.
pub fn messages(config: &TelegramConfig, n: &Notification) -> Vec<(String, String)> {
    if let Some(template) = &config.message {
        match template.render(n) {
            Ok(text) => {
                return vec![(
                    cut_units(&text, MAX_MESSAGE_UNITS),
                    config.parse_mode.clone(),
                )];
            }
            Err(e) => tracing::warn!(
                receiver = n.receiver.as_str(),
                field = "message",
                error = %e,
                "template failed; sending Pharos's own text instead"
            ),
        }
    }
    let f = Facts::of(n);
    let m = markup(&config.parse_mode);
    // Room for the `(2/3) ` marker added when there is more than one message.
    let room = MAX_MESSAGE_UNITS - 16;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current = String::new();
    let plain = text::blocks(&f, &text::Plain);
    for (block, plain) in text::blocks(&f, m).into_iter().zip(plain) {
        let (block, mode) = if units(&block) > room {
            (cut_units(&plain, room), String::new())
        } else {
            (block, config.parse_mode.clone())
        };
        if mode != config.parse_mode {
            if !current.is_empty() {
                out.push((std::mem::take(&mut current), config.parse_mode.clone()));
            }
            out.push((block, mode));
            continue;
        }
        if current.is_empty() {
            current = block;
        } else if units(&current) + 2 + units(&block) <= room {
            current.push_str("\n\n");
            current.push_str(&block);
        } else {
            out.push((
                std::mem::replace(&mut current, block),
                config.parse_mode.clone(),
            ));
        }
    }
    if !current.is_empty() {
        out.push((current, config.parse_mode.clone()));
    }
    let total = out.len();
    if total > 1 {
        for (i, (text, mode)) in out.iter_mut().enumerate() {
            let marker = format!("({}/{}) ", i + 1, total);
            *text = format!("{}{text}", markup(mode).escape(&marker));
        }
    }
    out
}

pub type TelegramReceiver = ChannelReceiver<TelegramConfig>;

impl Channel for TelegramConfig {
    const INTEGRATION: &'static str = "telegram";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn payload(&self, n: &Notification) -> Option<String> {
        let bodies: Vec<serde_json::Value> = messages(self, n)
            .into_iter()
            .map(|(text, mode)| {
                let mut body = json!({
                    "chat_id": self.chat_id,
                    "text": text,
                    "link_preview_options": { "is_disabled": true },
                });
                if !mode.is_empty() {
                    body["parse_mode"] = json!(mode);
                }
                if let Some(t) = self.message_thread_id {
                    body["message_thread_id"] = json!(t);
                }
                if self.disable_notifications {
                    body["disable_notification"] = json!(true);
                }
                body
            })
            .collect();
        Some(serde_json::Value::Array(bodies).to_string())
    }

    fn parts<'a>(&self, payload: &'a str) -> Vec<Cow<'a, str>> {
        match serde_json::from_str::<Vec<serde_json::Value>>(payload) {
            Ok(bodies) => bodies
                .into_iter()
                .map(|b| Cow::Owned(b.to_string()))
                .collect(),
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
                .join(&format!("bot{}/sendMessage", self.bot_token.expose()));
            crate::http::post_json(client, url, part.to_string()).await
        })
    }
}
