//! `pushover_configs`: Pushover's message API, as Alertmanager's Pushover integration
//! sends it (`POST /1/messages.json`, form-encoded). A firing group is sent at
//! Alertmanager's default priority 2 (emergency: repeated every `retry` until someone
//! acknowledges it on the phone, for at most `expire`), a resolved one at 0.
//!
//! The stored payload holds the message's parameters only; the application token and
//! the user key are added when sending, so the delivery queue holds no credential.

use std::collections::BTreeMap;

use pharos_model::{AlertState, HumanDuration, Notification};
use serde::{Deserialize, Deserializer, Serialize};

use super::channel::{Channel, ChannelReceiver};
use super::{BaseUrl, default_true};
use crate::message_template::{MessageTemplate, render_field};
use crate::secret::Secret;
use crate::text::{self, Facts, Html};
use crate::{BoxFuture, SendError};

/// Pushover's limits.
const MAX_TITLE_CHARS: usize = 250;
const MAX_MESSAGE_CHARS: usize = 1024;
const MAX_URL_CHARS: usize = 512;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PushoverConfig {
    /// The recipient's user (or group) key: a secret.
    pub user_key: Secret,
    /// The application's API token: a secret.
    pub token: Secret,
    /// `https://api.pushover.net/1/messages.json` by default.
    #[serde(default = "default_api_url")]
    pub api_url: BaseUrl,
    /// A template for the title instead of `[FIRING:n] <alert>`.
    #[serde(default, deserialize_with = "crate::message_template::title")]
    pub title: Option<MessageTemplate>,
    /// A template for the message instead of the alerts' details.
    #[serde(default, deserialize_with = "crate::message_template::message")]
    pub message: Option<MessageTemplate>,
    /// A link shown with the message; the acknowledge link (or Pharos's alerts page) by
    /// default.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub url_title: Option<String>,
    /// Whether the message is Pushover's HTML; by default yes for Pharos's text and no
    /// for a `message` template.
    #[serde(default)]
    pub html: Option<bool>,
    /// Send only to this device of the user.
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub sound: Option<String>,
    /// -2 to 2 for every firing notification; 2 (emergency) by default, as Alertmanager.
    /// Resolved notifications are sent at 0.
    #[serde(default, deserialize_with = "priority")]
    pub priority: Option<i8>,
    /// How often Pushover repeats an emergency notification (at least 30s).
    #[serde(default = "default_retry")]
    pub retry: HumanDuration,
    /// How long Pushover keeps repeating it (at most 3h).
    #[serde(default = "default_expire")]
    pub expire: HumanDuration,
    /// Time to live on the device; unset keeps the message.
    #[serde(default)]
    pub ttl: Option<HumanDuration>,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_api_url() -> BaseUrl {
    BaseUrl::from_static("https://api.pushover.net/1/messages.json")
}

fn default_retry() -> HumanDuration {
    HumanDuration::from_secs(60)
}

fn default_expire() -> HumanDuration {
    HumanDuration::from_secs(3600)
}

fn priority<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i8>, D::Error> {
    let p = Option::<i64>::deserialize(d)?;
    match p {
        None => Ok(None),
        Some(p @ -2..=2) => Ok(Some(p as i8)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "{other} is not a Pushover priority (-2 to 2)"
        ))),
    }
}

/// The message's parameters for `n`, without the token and the user key.
pub fn pushover_params(config: &PushoverConfig, n: &Notification) -> BTreeMap<String, String> {
    let f = Facts::of(n);
    let resolved = n.status() == AlertState::Resolved;
    let title = render_field(config.title.as_ref(), n, "title", || f.title.clone());
    let message = render_field(config.message.as_ref(), n, "message", || {
        text::details(&f, &Html)
    });
    let mut p = BTreeMap::new();
    p.insert(
        "title".to_string(),
        text::cut(&title, MAX_TITLE_CHARS).into_owned(),
    );
    p.insert(
        "message".to_string(),
        text::cut(&message, MAX_MESSAGE_CHARS).into_owned(),
    );
    if config.html.unwrap_or(config.message.is_none()) {
        p.insert("html".to_string(), "1".to_string());
    }
    let priority = if resolved {
        0
    } else {
        config.priority.unwrap_or(2)
    };
    p.insert("priority".to_string(), priority.to_string());
    if priority == 2 {
        let secs = |d: &HumanDuration| d.as_duration().as_secs().to_string();
        p.insert("retry".to_string(), secs(&config.retry));
        p.insert("expire".to_string(), secs(&config.expire));
    }
    let url = config
        .url
        .clone()
        .or_else(|| f.ack_url.map(str::to_string))
        .or(f.alerts_url.clone());
    if let Some(url) = url {
        p.insert(
            "url".to_string(),
            text::cut(&url, MAX_URL_CHARS).into_owned(),
        );
    }
    for (key, value) in [
        ("url_title", &config.url_title),
        ("device", &config.device),
        ("sound", &config.sound),
    ] {
        if let Some(v) = value {
            p.insert(key.to_string(), v.clone());
        }
    }
    if let Some(ttl) = &config.ttl {
        p.insert("ttl".to_string(), ttl.as_duration().as_secs().to_string());
    }
    p
}

pub type PushoverReceiver = ChannelReceiver<PushoverConfig>;

impl Channel for PushoverConfig {
    const INTEGRATION: &'static str = "pushover";

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn payload(&self, n: &Notification) -> Option<String> {
        serde_json::to_string(&pushover_params(self, n)).ok()
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let params: BTreeMap<String, String> = serde_json::from_str(part)
                .map_err(|_| SendError::permanent("the stored payload cannot be read"))?;
            let form = {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("token", self.token.expose());
                form.append_pair("user", self.user_key.expose());
                for (k, v) in &params {
                    form.append_pair(k, v);
                }
                form.finish()
            };
            let request = client
                .post(self.api_url.as_str())
                .timeout(crate::http::DEFAULT_TIMEOUT)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form);
            crate::http::send(request).await
        })
    }
}
