//! Message templates in receiver configs (`title`, `text`, `message`, the webhook's
//! `body_template`): Alertmanager's template language, run by the engine Pharos uses for
//! rule templates, over Alertmanager's notification data (`.Status`, `.Receiver`,
//! `.Alerts` with `.Alerts.Firing` / `.Alerts.Resolved`, `.GroupLabels`,
//! `.CommonLabels`, `.CommonAnnotations`, `.ExternalURL`, and Pharos's `.AckURL`).
//!
//! A template is parsed when the config is read, so a mistake is a config error naming
//! the field and the `line:column`; a template that fails while rendering falls back to
//! Pharos's own text for that field, with a warning in the log, so the alert still
//! goes out. `{{ template "name" . }}` calls a named template: one the text defines
//! itself, one of the `templates:` files, or one of Alertmanager's defaults
//! ([`crate::template_files`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use pharos_model::{AlertState, Notification};
use pharos_template::{NamedTemplates, QuerySamples, Template, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A template from a receiver's config; shown in the API as its source.
#[derive(Clone, Debug)]
pub struct MessageTemplate {
    template: Template,
    source: String,
    /// What `{{template "…"}}` may call besides the text's own definitions.
    named: Arc<NamedTemplates>,
}

impl PartialEq for MessageTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl MessageTemplate {
    /// Parses `src`; `field` names it in errors (`template: title:1:12: …`). It may call
    /// Alertmanager's default templates until [`MessageTemplate::use_named_templates`]
    /// gives it the config's.
    pub fn parse(
        field: &str,
        src: &str,
    ) -> Result<MessageTemplate, pharos_template::TemplateError> {
        Template::parse_notification(field, src).map(|template| MessageTemplate {
            template,
            source: src.to_string(),
            named: crate::template_files::alertmanager_defaults(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The named templates this one calls that neither it nor `named` defines.
    pub fn undefined_templates(&self, named: &NamedTemplates) -> Vec<String> {
        self.template.undefined_templates(named)
    }

    /// The named templates `{{template "…"}}` calls from now on.
    pub fn use_named_templates(&mut self, named: Arc<NamedTemplates>) {
        self.named = named;
    }

    /// The text for `n`, or the error (with `line:column`).
    pub fn render(&self, n: &Notification) -> Result<String, pharos_template::TemplateError> {
        self.template
            .expand_value_with(&notification_data(n), &NoQueries, &self.named)
    }

    /// The text for `n`, or `fallback` (Pharos's own text) when the template fails; the
    /// failure is logged under the receiver's name and the field.
    pub fn render_or(
        &self,
        n: &Notification,
        field: &str,
        fallback: impl FnOnce() -> String,
    ) -> String {
        match self.render(n) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(
                    receiver = n.receiver.as_str(),
                    field,
                    error = %e,
                    "template failed; sending Pharos's own text instead"
                );
                fallback()
            }
        }
    }
}

/// `field` rendered from its template when the config has one, Pharos's text otherwise.
pub fn render_field(
    template: Option<&MessageTemplate>,
    n: &Notification,
    field: &str,
    default: impl FnOnce() -> String,
) -> String {
    match template {
        Some(t) => t.render_or(n, field, default),
        None => default(),
    }
}

/// Reads an optional template field. The template is named after the field, so its
/// errors read `not a valid template: template: title:1:12: …`; the config loader adds
/// the file, the line and the field's path.
fn optional<'de, D: Deserializer<'de>>(
    d: D,
    field: &str,
) -> Result<Option<MessageTemplate>, D::Error> {
    let Some(src) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    MessageTemplate::parse(field, &src)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("not a valid template: {e}")))
}

/// `deserialize_with` functions, one per field name that holds a template.
macro_rules! template_fields {
    ($($name:ident),*) => {$(
        pub(crate) fn $name<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<MessageTemplate>, D::Error> {
            optional(d, stringify!($name))
        }
    )*};
}

template_fields!(
    title,
    text,
    message,
    summary,
    color,
    description,
    source,
    body_template,
    html,
    client,
    client_url
);

/// Reads a map whose values are templates (PagerDuty's `details`), each named
/// `<field>.<key>` in errors.
pub(crate) fn template_map<'de, D: Deserializer<'de>>(
    d: D,
    field: &str,
) -> Result<BTreeMap<String, MessageTemplate>, D::Error> {
    BTreeMap::<String, String>::deserialize(d)?
        .into_iter()
        .map(|(k, src)| {
            MessageTemplate::parse(&format!("{field}.{k}"), &src)
                .map(|t| (k, t))
                .map_err(|e| serde::de::Error::custom(format!("not a valid template: {e}")))
        })
        .collect()
}

pub(crate) fn details<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, MessageTemplate>, D::Error> {
    template_map(d, "details")
}

impl Serialize for MessageTemplate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// Notification templates have no PromQL: `query` answers an error.
struct NoQueries;

impl pharos_template::Host for NoQueries {
    fn query(&self, _expr: &str) -> Result<QuerySamples, String> {
        Err("query is not available in notification templates".into())
    }
}

fn status_word(state: AlertState) -> &'static str {
    if state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    }
}

fn time(t: DateTime<Utc>) -> Value {
    Value::Str(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Alertmanager's template data for `n`; times as RFC 3339 strings.
pub fn notification_data(n: &Notification) -> Value {
    let alerts = n
        .alerts
        .iter()
        .map(|a| {
            let mut m = BTreeMap::new();
            m.insert("Status", Value::Str(status_word(a.state).into()));
            m.insert("Labels", Value::Map(a.labels.clone()));
            m.insert("Annotations", Value::Map(a.annotations.clone()));
            m.insert("StartsAt", time(a.starts_at));
            m.insert(
                "EndsAt",
                a.ends_at
                    .map(time)
                    .unwrap_or_else(|| Value::Str("0001-01-01T00:00:00Z".into())),
            );
            m.insert("GeneratorURL", Value::Str(a.generator_url.clone()));
            m.insert("Fingerprint", Value::Str(a.fingerprint.clone()));
            Value::Struct(m)
        })
        .collect();
    let mut m = BTreeMap::new();
    m.insert("Receiver", Value::Str(n.receiver.clone()));
    m.insert("Status", Value::Str(status_word(n.status()).into()));
    m.insert("Alerts", Value::List(alerts));
    m.insert("GroupLabels", Value::Map(n.group_labels.clone()));
    m.insert("CommonLabels", Value::Map(n.common_labels()));
    m.insert("CommonAnnotations", Value::Map(n.common_annotations()));
    m.insert("ExternalURL", Value::Str(n.external_url.clone()));
    m.insert("GroupKey", Value::Str(n.group_key.clone()));
    m.insert(
        "TruncatedAlerts",
        Value::Int(i64::try_from(n.truncated_alerts).unwrap_or(i64::MAX)),
    );
    m.insert("AckURL", Value::Str(n.ack_url.clone().unwrap_or_default()));
    Value::Struct(m)
}
