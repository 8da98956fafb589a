//! The channels, one file each, and `receivers:` as the config file writes it
//! (Alertmanager's layout: a name and a list per integration kind).
//!
//! Each file holds the channel's config (Alertmanager's field names where Alertmanager
//! has the integration), how a notification becomes its payload, and how a payload is
//! sent. The words come from [`crate::text`], so every channel says the same thing. What
//! every channel's receiver does alike is [`channel::ChannelReceiver`]; what the chat
//! webhooks share, [`chat_webhook`].

pub mod channel;
pub mod chat_webhook;
pub mod discord;
pub mod email;
pub mod googlechat;
pub mod matrix;
pub mod mattermost;
pub mod msteams;
pub mod ntfy;
pub mod opsgenie;
pub mod pagerduty;
pub mod pushover;
pub mod slack;
pub mod telegram;
pub mod twilio;
pub mod webhook;
pub mod whatsapp;

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use crate::Receiver;
use crate::message_template::MessageTemplate;

/// The template fields of one integration's config, for checking and linking them to
/// the config's named templates ([`crate::template_files`]).
pub(crate) trait TemplateFields {
    /// Each template set, with its field's name (`title`, `details.runbook`).
    fn message_templates_mut(&mut self) -> Vec<(String, &mut MessageTemplate)>;
}

/// `TemplateFields` for a config whose templates are `Option<MessageTemplate>` fields.
macro_rules! optional_template_fields {
    ($($config:ty => [$($field:ident),*];)*) => {$(
        impl TemplateFields for $config {
            fn message_templates_mut(&mut self) -> Vec<(String, &mut MessageTemplate)> {
                let mut out = Vec::new();
                $(
                    if let Some(t) = self.$field.as_mut() {
                        out.push((stringify!($field).to_string(), t));
                    }
                )*
                out
            }
        }
    )*};
}

optional_template_fields! {
    webhook::WebhookConfig => [body_template];
    slack::SlackConfig => [title, text, color];
    telegram::TelegramConfig => [message];
    discord::DiscordConfig => [title, message];
    msteams::MsTeamsConfig => [title, summary, text];
    whatsapp::WhatsAppConfig => [message];
    twilio::TwilioConfig => [message];
    ntfy::NtfyConfig => [title, message];
    pushover::PushoverConfig => [title, message];
    opsgenie::OpsgenieConfig => [message, description, source];
    mattermost::MattermostConfig => [title, text];
    googlechat::GoogleChatConfig => [message];
    matrix::MatrixConfig => [message, html];
}

/// One entry of `receivers:`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub webhook_configs: Vec<webhook::WebhookConfig>,
    #[serde(default)]
    pub slack_configs: Vec<slack::SlackConfig>,
    #[serde(default)]
    pub telegram_configs: Vec<telegram::TelegramConfig>,
    #[serde(default)]
    pub email_configs: Vec<email::EmailConfig>,
    #[serde(default)]
    pub pagerduty_configs: Vec<pagerduty::PagerDutyConfig>,
    #[serde(default)]
    pub discord_configs: Vec<discord::DiscordConfig>,
    #[serde(default)]
    pub msteams_configs: Vec<msteams::MsTeamsConfig>,
    #[serde(default)]
    pub whatsapp_configs: Vec<whatsapp::WhatsAppConfig>,
    #[serde(default)]
    pub twilio_configs: Vec<twilio::TwilioConfig>,
    #[serde(default)]
    pub ntfy_configs: Vec<ntfy::NtfyConfig>,
    #[serde(default)]
    pub pushover_configs: Vec<pushover::PushoverConfig>,
    #[serde(default)]
    pub opsgenie_configs: Vec<opsgenie::OpsgenieConfig>,
    #[serde(default)]
    pub mattermost_configs: Vec<mattermost::MattermostConfig>,
    #[serde(default)]
    pub googlechat_configs: Vec<googlechat::GoogleChatConfig>,
    #[serde(default)]
    pub matrix_configs: Vec<matrix::MatrixConfig>,
}

impl ReceiverConfig {
    /// Checks across the fields of one integration that typing cannot make (a PagerDuty
    /// integration has one key); an error names the field path from the receiver.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (i, c) in self.pagerduty_configs.iter().enumerate() {
            c.check()
                .map_err(|e| (format!("pagerduty_configs[{i}]"), e))?;
        }
        Ok(())
    }

    /// How many integrations this receiver has, of every kind. Alertmanager allows none
    /// (a receiver that drops what is routed to it).
    pub fn integration_count(&self) -> usize {
        self.webhook_configs.len()
            + self.slack_configs.len()
            + self.telegram_configs.len()
            + self.email_configs.len()
            + self.pagerduty_configs.len()
            + self.discord_configs.len()
            + self.msteams_configs.len()
            + self.whatsapp_configs.len()
            + self.twilio_configs.len()
            + self.ntfy_configs.len()
            + self.pushover_configs.len()
            + self.opsgenie_configs.len()
            + self.mattermost_configs.len()
            + self.googlechat_configs.len()
            + self.matrix_configs.len()
    }

    /// Every template of every integration, with its path from the receiver
    /// (`slack_configs[0].title`).
    pub(crate) fn message_templates_mut(&mut self) -> Vec<(String, &mut MessageTemplate)> {
        let mut out = Vec::new();
        macro_rules! each {
            ($($kind:ident),*) => {$(
                for (i, c) in self.$kind.iter_mut().enumerate() {
                    for (field, t) in c.message_templates_mut() {
                        out.push((format!("{}[{i}].{field}", stringify!($kind)), t));
                    }
                }
            )*};
        }
        each!(
            webhook_configs,
            slack_configs,
            telegram_configs,
            email_configs,
            pagerduty_configs,
            discord_configs,
            msteams_configs,
            whatsapp_configs,
            twilio_configs,
            ntfy_configs,
            pushover_configs,
            opsgenie_configs,
            mattermost_configs,
            googlechat_configs,
            matrix_configs
        );
        out
    }

    /// The integrations, each named `<receiver>/<kind><index>` (`ops/slack0`), or just
    /// `<receiver>` when it has only one, so the delivery log stays readable.
    pub fn build(&self, external_url: &str) -> Vec<Arc<dyn Receiver>> {
        let single = self.integration_count() == 1;
        let name = |kind: &str, i: usize| {
            if single {
                self.name.clone()
            } else {
                format!("{}/{kind}{i}", self.name)
            }
        };
        let mut out: Vec<Arc<dyn Receiver>> = Vec::new();
        for (i, c) in self.webhook_configs.iter().enumerate() {
            out.push(Arc::new(webhook::WebhookReceiver::new(
                name("webhook", i),
                c.clone(),
            )));
        }
        for (i, c) in self.slack_configs.iter().enumerate() {
            out.push(Arc::new(slack::SlackReceiver::new(
                name("slack", i),
                c.clone(),
            )));
        }
        for (i, c) in self.telegram_configs.iter().enumerate() {
            out.push(Arc::new(telegram::TelegramReceiver::new(
                name("telegram", i),
                c.clone(),
            )));
        }
        for (i, c) in self.email_configs.iter().enumerate() {
            out.push(Arc::new(email::EmailReceiver::new(
                name("email", i),
                c.clone(),
            )));
        }
        for (i, c) in self.pagerduty_configs.iter().enumerate() {
            out.push(Arc::new(pagerduty::PagerDutyReceiver::new(
                name("pagerduty", i),
                c.clone(),
                external_url,
            )));
        }
        for (i, c) in self.discord_configs.iter().enumerate() {
            out.push(Arc::new(discord::DiscordReceiver::new(
                name("discord", i),
                c.clone(),
            )));
        }
        for (i, c) in self.msteams_configs.iter().enumerate() {
            out.push(Arc::new(msteams::MsTeamsReceiver::new(
                name("msteams", i),
                c.clone(),
            )));
        }
        for (i, c) in self.whatsapp_configs.iter().enumerate() {
            out.push(Arc::new(whatsapp::WhatsAppReceiver::new(
                name("whatsapp", i),
                c.clone(),
            )));
        }
        for (i, c) in self.twilio_configs.iter().enumerate() {
            out.push(Arc::new(twilio::TwilioReceiver::new(
                name("twilio", i),
                c.clone(),
            )));
        }
        for (i, c) in self.ntfy_configs.iter().enumerate() {
            out.push(Arc::new(ntfy::NtfyReceiver::new(
                name("ntfy", i),
                c.clone(),
            )));
        }
        for (i, c) in self.pushover_configs.iter().enumerate() {
            out.push(Arc::new(pushover::PushoverReceiver::new(
                name("pushover", i),
                c.clone(),
            )));
        }
        for (i, c) in self.opsgenie_configs.iter().enumerate() {
            out.push(Arc::new(opsgenie::OpsgenieReceiver::new(
                name("opsgenie", i),
                c.clone(),
            )));
        }
        for (i, c) in self.mattermost_configs.iter().enumerate() {
            out.push(Arc::new(mattermost::MattermostReceiver::new(
                name("mattermost", i),
                c.clone(),
            )));
        }
        for (i, c) in self.googlechat_configs.iter().enumerate() {
            out.push(Arc::new(googlechat::GoogleChatReceiver::new(
                name("googlechat", i),
                c.clone(),
            )));
        }
        for (i, c) in self.matrix_configs.iter().enumerate() {
            out.push(Arc::new(matrix::MatrixReceiver::new(
                name("matrix", i),
                c.clone(),
            )));
        }
        out
    }
}

pub(crate) fn default_true() -> bool {
    true
}

/// A service's base URL (`api_url`, `url`): tests and self-hosted gateways point it
/// elsewhere. Checked to be http(s) when the config is read; kept without a trailing `/`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub(crate) fn from_static(s: &'static str) -> BaseUrl {
        BaseUrl(s.to_string())
    }

    /// `path` appended with exactly one `/` between.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.0, path.trim_start_matches('/'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let url = url::Url::parse(&raw)
            .map_err(|e| serde::de::Error::custom(format!("{raw:?} is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(serde::de::Error::custom(format!(
                "{raw:?}: the URL must be http or https"
            )));
        }
        Ok(BaseUrl(raw.trim_end_matches('/').to_string()))
    }
}

/// One value or a list (`to: "+15550001"` or `to: ["+15550001", "+15550002"]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    out.push(v);
                }
                Ok(OneOrMany(out))
            }
        }
        let v = d.deserialize_any(Visitor)?;
        if v.0.is_empty() || v.0.iter().any(|s| s.trim().is_empty()) {
            return Err(serde::de::Error::custom(
                "needs at least one non-empty value",
            ));
        }
        Ok(v)
    }
}
