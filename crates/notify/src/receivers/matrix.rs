//! `matrix_configs`: a message in a Matrix room, sent with the client-server API as the
//! account of `access_token` (which must have joined the room):
//! `PUT /_matrix/client/v3/rooms/<room_id>/send/m.room.message/<txn_id>`, a plain `body`
//! and an HTML `formatted_body`.
//!
//! The transaction id is made when the notification is queued and stored with it, so a
//! retry of a message the homeserver did take is recognised and not posted twice. The
//! access token is added when sending.

use std::time::{SystemTime, UNIX_EPOCH};

use pharos_model::{AlertState, Notification};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::channel::{Channel, ChannelReceiver};
use super::{BaseUrl, default_true};
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::Secret;
use crate::text::{self, Facts, Html, Plain};
use crate::{BoxFuture, SendError};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    /// The homeserver's client API (`https://matrix.example.com`); `https://matrix.org`
    /// by default.
    #[serde(default = "default_homeserver")]
    pub homeserver_url: BaseUrl,
    /// The room's id (`!abcdef:example.com`, in the room's settings), not an alias.
    #[serde(deserialize_with = "room_id")]
    pub room_id: String,
    /// The sending account's access token: a secret.
    pub access_token: Secret,
    /// `m.text` (the default) or `m.notice` (shown greyed; bots are meant to use it).
    #[serde(default = "default_msgtype", deserialize_with = "msgtype")]
    pub msgtype: String,
    /// A template for the plain `body` instead of Pharos's text.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    /// A template for the HTML `formatted_body`. Without it, a `message` template is
    /// sent as plain text only; without either, Pharos's text in both forms.
    #[serde(default, deserialize_with = "crate::message_template::html")]
    pub html: Option<MessageTemplate>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_homeserver() -> BaseUrl {
    BaseUrl::from_static("https://matrix.org")
}

fn default_msgtype() -> String {
    "m.text".into()
}

fn room_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.starts_with('!') && s.contains(':') {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "{s:?} is not a Matrix room id (`!opaque:server`, not a `#alias:server`)"
        )))
    }
}

fn msgtype<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "m.text" | "m.notice" => Ok(s),
        other => Err(serde::de::Error::custom(format!(
            "{other:?}: the message type is m.text or m.notice"
        ))),
    }
}

/// What is stored and sent: the transaction id and the event's content.
#[derive(Debug, Deserialize, Serialize)]
pub struct MatrixMessage {
    pub txn_id: String,
    pub content: serde_json::Value,
}

/// The event content for `n`.
pub fn matrix_content(config: &MatrixConfig, n: &Notification) -> serde_json::Value {
    let f = Facts::of(n);
    let body = render_field(config.message.as_ref(), n, "message", || {
        text::body(&f, &Plain)
    });
    let html = match (&config.message, &config.html) {
        (_, Some(t)) => Some(t.render_or(n, "html", || pharos_html(&f))),
        (Some(_), None) => None,
        (None, None) => Some(pharos_html(&f)),
    };
    let mut content = json!({
        "msgtype": config.msgtype,
        "body": body,
    });
    if let Some(html) = html {
        content["format"] = json!("org.matrix.custom.html");
        content["formatted_body"] = json!(html);
    }
    content
}

fn pharos_html(f: &Facts<'_>) -> String {
    text::body(f, &Html).replace('\n', "<br>")
}

/// Unique per notification: the group, its status and the time it was queued.
fn transaction_id(n: &Notification) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(n.group_key.as_bytes());
    h.update([u8::from(n.status() == AlertState::Resolved)]);
    h.update(nanos.to_be_bytes());
    format!("pharos-{}", &hex::encode(h.finalize())[..32])
}

pub type MatrixReceiver = ChannelReceiver<MatrixConfig>;

impl Channel for MatrixConfig {
    const INTEGRATION: &'static str = "matrix";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn payload(&self, n: &Notification) -> Option<String> {
        serde_json::to_string(&MatrixMessage {
            txn_id: transaction_id(n),
            content: matrix_content(self, n),
        })
        .ok()
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let message: MatrixMessage = serde_json::from_str(part)
                .map_err(|_| SendError::permanent("the stored payload cannot be read"))?;
            let mut url = url::Url::parse(self.homeserver_url.as_str())
                .map_err(|e| SendError::permanent(format!("homeserver_url: {e}")))?;
            url.path_segments_mut()
                .map_err(|_| SendError::permanent("homeserver_url cannot take a path"))?
                .pop_if_empty()
                .extend([
                    "_matrix",
                    "client",
                    "v3",
                    "rooms",
                    &self.room_id,
                    "send",
                    "m.room.message",
                    &message.txn_id,
                ]);
            let request = client
                .put(url)
                .timeout(crate::http::DEFAULT_TIMEOUT)
                .bearer_auth(self.access_token.expose())
                .header("Content-Type", "application/json")
                .body(message.content.to_string());
            crate::http::send(request).await
        })
    }
}
