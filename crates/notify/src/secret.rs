//! Credentials in receiver configs: bot tokens, passwords, routing keys, and URLs that
//! carry a token in their path (Slack, Discord and Teams webhooks). They are read from the
//! config (where `${ENV}` put them) and only ever leave as part of a request: `Debug` and
//! `Serialize` show `<secret>`, so neither a log line nor the API can print one.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

pub const REDACTED: &str = "<secret>";

/// A credential string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that puts it in a request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A URL whose path or query is a credential. Shown as its origin followed by
/// `/<secret>`, so a person can still tell which service it points at.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    pub fn new(url: Url) -> SecretUrl {
        SecretUrl(url)
    }

    pub fn expose(&self) -> &Url {
        &self.0
    }

    pub fn redacted(&self) -> String {
        format!("{}/{REDACTED}", self.0.origin().ascii_serialization())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        // url's own message would quote the input, and the input is the secret.
        let url = Url::parse(&raw)
            .map_err(|e| serde::de::Error::custom(format!("not a valid URL ({e})")))?;
        match url.scheme() {
            "http" | "https" => Ok(SecretUrl(url)),
            other => Err(serde::de::Error::custom(format!(
                "the URL must be http or https, not {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s: Secret = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<secret>\"");
        assert_eq!(s.expose(), "hunter2");
        let u: SecretUrl =
            serde_json::from_str("\"https://hooks.slack.com/services/T0/B0/XXXX\"").unwrap();
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            "\"https://hooks.slack.com/<secret>\""
        );
        let bad = serde_json::from_str::<SecretUrl>("\"not a url TOKEN123\"").unwrap_err();
        assert!(!bad.to_string().contains("TOKEN123"), "{bad}");
    }
}
