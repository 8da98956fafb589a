//! `email_configs`: mail over SMTP with `lettre`, a plain-text and an HTML part. Port 465
//! is implicit TLS; otherwise `require_tls: true` (the default, as in Alertmanager) insists
//! on STARTTLS and `false` sends in the clear. The stored payload is the message's parts
//! as JSON (addresses, subject, both bodies, date and Message-ID fixed when queued), so a
//! retry sends the same mail and a reader of the delivery log can see it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pharos_model::{AlertState, Notification};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::message_template::{MessageTemplate, render_field, template_map};
use crate::receivers::TemplateFields;
use crate::secret::Secret;
use crate::text::{self, EmailHtml, Facts, Markup, Plain};
use crate::{BoxFuture, Receiver, SendError};

const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipients, comma-separated (`ops@example.com, Oncall <oncall@example.com>`).
    #[serde(deserialize_with = "mailboxes")]
    pub to: String,
    #[serde(deserialize_with = "mailbox")]
    pub from: String,
    /// `host:port`. Port 465 means implicit TLS.
    pub smarthost: SmartHost,
    /// The name sent in `EHLO`; the machine's host name when unset.
    #[serde(default)]
    pub hello: Option<String>,
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    pub auth_password: Option<Secret>,
    /// TLS from the first byte (SMTPS) instead of STARTTLS. Pharos's extension: by
    /// default, as in Alertmanager, only port 465 is implicit TLS; some providers use
    /// another port for it.
    #[serde(default)]
    pub implicit_tls: Option<bool>,
    /// STARTTLS is required (refuses servers that do not offer it); `false` sends
    /// without TLS on ports other than 465.
    #[serde(default = "super::default_true")]
    pub require_tls: bool,
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Extra headers, each value a template; `Subject` replaces Pharos's subject
    /// (`Subject: '{{ template "email.default.subject" . }}'` is Alertmanager's).
    #[serde(default, deserialize_with = "headers")]
    pub headers: BTreeMap<String, MessageTemplate>,
    /// A template for the plain-text part instead of Pharos's text.
    #[serde(default, deserialize_with = "crate::message_template::text")]
    pub text: Option<MessageTemplate>,
    /// A template for the HTML part instead of Pharos's (Alertmanager's
    /// `{{ template "email.default.html" . }}` works).
    #[serde(default, deserialize_with = "crate::message_template::html")]
    pub html: Option<MessageTemplate>,
    /// Alertmanager's default: no mail when everything resolved.
    #[serde(default)]
    pub send_resolved: bool,
}

/// Alertmanager's `tls_config`, the parts that apply to SMTP.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file with the CA (or the self-signed certificate) to trust besides the
    /// system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name the certificate must carry; the smarthost's host by default.
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SmartHost {
    pub host: String,
    pub port: u16,
}

impl Serialize for SmartHost {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}:{}", self.host, self.port))
    }
}

impl<'de> Deserialize<'de> for SmartHost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let (host, port) = raw.rsplit_once(':').ok_or_else(|| {
            serde::de::Error::custom(format!("{raw:?} needs a port: write host:port"))
        })?;
        let port = port
            .parse::<u16>()
            .map_err(|_| serde::de::Error::custom(format!("{raw:?}: the port is not a number")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(serde::de::Error::custom(format!(
                "{raw:?}: the host is empty"
            )));
        }
        Ok(SmartHost {
            host: host.to_string(),
            port,
        })
    }
}

fn mailboxes<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<Mailboxes>()
        .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a list of addresses: {e}")))?;
    Ok(s)
}

fn mailbox<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<Mailbox>()
        .map_err(|e| serde::de::Error::custom(format!("{s:?} is not an address: {e}")))?;
    Ok(s)
}

fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, MessageTemplate>, D::Error> {
    let h = template_map(d, "headers")?;
    for name in h.keys() {
        let lower = name.to_ascii_lowercase();
        if [
            "to",
            "from",
            "date",
            "message-id",
            "content-type",
            "mime-version",
        ]
        .contains(&lower.as_str())
        {
            return Err(serde::de::Error::custom(format!(
                "header {name:?} is set by Pharos (use `to` / `from` for addresses)"
            )));
        }
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(serde::de::Error::custom(format!(
                "{name:?} is not a header name"
            )));
        }
    }
    Ok(h)
}

/// The mail as stored in the delivery queue.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Email {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date: DateTime<Utc>,
    pub message_id: String,
    pub headers: BTreeMap<String, String>,
    pub text: String,
    pub html: String,
}

/// The mail for `n`.
pub fn email_for(config: &EmailConfig, n: &Notification) -> Email {
    let f = Facts::of(n);
    let date = n
        .alerts
        .iter()
        .map(|a| a.updated_at)
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH);
    let pharos_subject = || format!("{} {}", f.level.emoji(), f.title);
    let mut subject = None;
    let mut headers = BTreeMap::new();
    for (name, t) in &config.headers {
        if name.eq_ignore_ascii_case("subject") {
            subject = Some(t.render_or(n, "headers.Subject", pharos_subject));
        } else {
            let field = format!("headers.{name}");
            let value = t.render_or(n, &field, || t.source().to_string());
            headers.insert(name.clone(), value);
        }
    }
    let subject = subject.unwrap_or_else(pharos_subject);
    let id = Sha256::digest(format!(
        "{}\0{}\0{}",
        n.group_key,
        n.status().as_str(),
        date.timestamp_millis()
    ));
    let domain = url::Url::parse(&n.external_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "pharos.invalid".into());
    Email {
        from: config.from.clone(),
        to: config.to.clone(),
        subject,
        date,
        message_id: format!("<{}@{domain}>", hex::encode(&id[..12])),
        headers,
        text: render_field(config.text.as_ref(), n, "text", || text::body(&f, &Plain)),
        html: render_field(config.html.as_ref(), n, "html", || html_body(&f)),
    }
}

impl TemplateFields for EmailConfig {
    fn message_templates_mut(&mut self) -> Vec<(String, &mut MessageTemplate)> {
        let mut out: Vec<(String, &mut MessageTemplate)> = self
            .headers
            .iter_mut()
            .map(|(k, t)| (format!("headers.{k}"), t))
            .collect();
        for (field, t) in [("text", &mut self.text), ("html", &mut self.html)] {
            if let Some(t) = t {
                out.push((field.to_string(), t));
            }
        }
        out
    }
}

fn html_body(f: &Facts<'_>) -> String {
    let m = EmailHtml;
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><body style=\"font-family: sans-serif; font-size: 14px; line-height: 1.4\">\n",
    );
    out.push_str(&format!(
        "<div style=\"border-left: 6px solid {}; padding: 4px 12px\"><h2 style=\"margin: 0\">{} {}</h2></div>\n",
        f.level.color_hex(),
        f.level.emoji(),
        m.escape(&f.title)
    ));
    for a in &f.alerts {
        out.push_str(&format!("<p>{}</p>\n", text::alert_block(a, &m)));
    }
    let footer = text::footer(f, &m);
    if !footer.is_empty() {
        out.push_str(&format!("<p>{}</p>\n", footer.join(m.line_break())));
    }
    out.push_str("</body></html>\n");
    out
}

pub struct EmailReceiver {
    name: String,
    config: EmailConfig,
    /// Built on first use (it needs the runtime) and kept, so a burst of alerts reuses
    /// one connection.
    transport: tokio::sync::OnceCell<AsyncSmtpTransport<Tokio1Executor>>,
}

impl EmailReceiver {
    pub fn new(name: String, config: EmailConfig) -> Self {
        EmailReceiver {
            name,
            config,
            transport: tokio::sync::OnceCell::new(),
        }
    }

    fn build_transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
        let c = &self.config;
        let host = &c.smarthost.host;
        let tls = || -> Result<TlsParameters, SendError> {
            let mut b = TlsParameters::builder(
                c.tls_config
                    .server_name
                    .clone()
                    .unwrap_or_else(|| host.clone()),
            );
            if let Some(path) = &c.tls_config.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    SendError::permanent(format!(
                        "cannot read tls_config.ca_file {}: {e}",
                        path.display()
                    ))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    SendError::permanent(format!("tls_config.ca_file {}: {e}", path.display()))
                })?;
                b = b.add_root_certificate(cert);
            }
            if c.tls_config.insecure_skip_verify {
                b = b.dangerous_accept_invalid_certs(true);
            }
            b.build_rustls()
                .map_err(|e| SendError::permanent(format!("TLS setup: {e}")))
        };
        let tls = if c.implicit_tls.unwrap_or(c.smarthost.port == 465) {
            Tls::Wrapper(tls()?)
        } else if c.require_tls {
            Tls::Required(tls()?)
        } else {
            Tls::None
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(c.smarthost.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &c.auth_username {
            let password = c
                .auth_password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            b = b.credentials(Credentials::new(user.clone(), password));
        }
        if let Some(hello) = &c.hello {
            b = b.hello_name(ClientId::Domain(hello.clone()));
        }
        Ok(b.build())
    }
}

fn message(email: &Email) -> Result<Message, SendError> {
    let bad =
        |e: &dyn std::fmt::Display| SendError::permanent(format!("cannot build the mail: {e}"));
    let from: Mailbox = email.from.parse().map_err(|e| bad(&e))?;
    let to: Mailboxes = email.to.parse().map_err(|e| bad(&e))?;
    let mut b = Message::builder()
        .from(from)
        .subject(email.subject.clone())
        .date(email.date.into())
        .message_id(Some(email.message_id.clone()));
    for mailbox in to {
        b = b.to(mailbox);
    }
    for (name, value) in &email.headers {
        let name = HeaderName::new_from_ascii(name.clone()).map_err(|e| bad(&e))?;
        b = b.raw_header(HeaderValue::new(name, value.clone()));
    }
    b.multipart(MultiPart::alternative_plain_html(
        email.text.clone(),
        email.html.clone(),
    ))
    .map_err(|e| bad(&e))
}

fn classify(e: lettre::transport::smtp::Error) -> SendError {
    let status = e.status().map(u16::from);
    // lettre's messages quote the server's answer, never the credentials.
    let reason = format!("SMTP: {e}");
    if e.is_permanent() || e.is_client() {
        SendError::Permanent { status, reason }
    } else {
        SendError::Retryable { status, reason }
    }
}

impl Receiver for EmailReceiver {
    fn name(&self) -> &str {
        &self.name
    }

    fn integration(&self) -> &'static str {
        "email"
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.config.send_resolved {
            return None;
        }
        serde_json::to_string(&email_for(&self.config, n)).ok()
    }

    fn send<'a>(
        &'a self,
        _client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        Box::pin(async move {
            let email: Email = serde_json::from_str(part)
                .map_err(|e| SendError::permanent(format!("stored mail unreadable: {e}")))?;
            let message = message(&email)?;
            let transport = self
                .transport
                .get_or_try_init(|| async { self.build_transport() })
                .await?;
            match transport.send(message).await {
                Ok(response) => Ok(u16::from(response.code())),
                Err(e) => Err(classify(e)),
            }
        })
    }
}
