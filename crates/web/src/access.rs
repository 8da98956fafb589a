//! Who may do what: the admin token (as `Authorization: Bearer` for the API, or a session
//! cookie for the UI) and the pages the config makes public.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "pharos_session";

/// Holds only digests of the admin token, so neither a heap dump nor a `Debug` print
/// reveals it.
#[derive(Clone)]
pub struct Access {
    token_digest: [u8; 32],
    session: String,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Access(<redacted>)")
    }
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

impl Access {
    pub fn new(admin_token: &str) -> Access {
        let session = hex::encode(digest(&[b"pharos-ui-session\0", admin_token.as_bytes()]));
        Access {
            token_digest: digest(&[admin_token.as_bytes()]),
            session,
        }
    }

    /// Compares digests so the comparison time says nothing about the token.
    pub fn token_matches(&self, candidate: &str) -> bool {
        digest(&[candidate.as_bytes()]) == self.token_digest
    }

    /// The value of the UI's session cookie: derived from the token, never the token itself.
    pub fn session_value(&self) -> &str {
        &self.session
    }

    /// True when the request carries the admin token (as a bearer token, or as the
    /// password of HTTP basic auth, which is all some log shippers and Prometheus's
    /// `basic_auth` can send) or the UI session cookie.
    pub fn is_admin(&self, headers: &HeaderMap) -> bool {
        if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            if let Some(token) = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
            {
                return self.token_matches(token.trim());
            }
            if let Some(encoded) = value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
            {
                return basic_password(encoded.trim()).is_some_and(|p| self.token_matches(&p));
            }
        }
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == SESSION_COOKIE && value == self.session)
    }
}

/// The password of a basic-auth credential (`user:password`, base64); the user is ignored.
fn basic_password(encoded: &str) -> Option<String> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.split_once(':').map(|(_, p)| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_and_cookie() {
        let a = Access::new("s3cret");
        let mut h = HeaderMap::new();
        assert!(!a.is_admin(&h));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(a.is_admin(&h));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer wrong"));
        assert!(!a.is_admin(&h));
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; {SESSION_COOKIE}={}", a.session_value())).unwrap(),
        );
        assert!(a.is_admin(&h));
        assert!(!a.session_value().contains("s3cret"));
        let mut h = HeaderMap::new();
        // "pharos:s3cret" and "pharos:wrong"
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic cGhhcm9zOnMzY3JldA=="),
        );
        assert!(a.is_admin(&h));
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic cGhhcm9zOndyb25n"),
        );
        assert!(!a.is_admin(&h));
    }
}
