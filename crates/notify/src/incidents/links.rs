//! Signed acknowledgement links: `<external_url>/ack/<incident>.<expires>.<signature>`,
//! an HMAC-SHA256 over the incident id and expiry under a key kept in the data directory
//! (`incident_links.key`, mode 0600), so a person can acknowledge from a chat message or
//! email without signing in, and nobody can forge a link for another incident or stretch
//! one past its expiry.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "incident_links.key";
const KEY_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this acknowledgement link is not valid (it was changed or cut short)")]
    Invalid,
    #[error("this acknowledgement link has expired; acknowledge from the incident page")]
    Expired,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot use the link key {path}: {source}")]
pub struct KeyError {
    path: String,
    source: std::io::Error,
}

/// Signs and checks acknowledgement links.
pub struct AckLinks {
    key: hmac::Key,
}

impl std::fmt::Debug for AckLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AckLinks(<key>)")
    }
}

impl AckLinks {
    pub fn from_key(bytes: &[u8]) -> AckLinks {
        AckLinks {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// Reads the key from the data directory, making it (readable by this user only) the
    /// first time.
    pub fn load_or_create(dir: &Path) -> Result<AckLinks, KeyError> {
        let path = dir.join(KEY_FILE);
        let fail = |source| KeyError {
            path: path.display().to_string(),
            source,
        };
        match std::fs::File::open(&path) {
            Ok(mut f) => {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes).map_err(fail)?;
                if bytes.len() < KEY_BYTES {
                    return Err(fail(std::io::Error::new(
                        ErrorKind::InvalidData,
                        "the key file is too short",
                    )));
                }
                Ok(AckLinks::from_key(&bytes))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let mut bytes = [0u8; KEY_BYTES];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| fail(std::io::Error::other("the system random source failed")))?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(fail)?;
                f.write_all(&bytes).map_err(fail)?;
                f.sync_all().map_err(fail)?;
                Ok(AckLinks::from_key(&bytes))
            }
            Err(e) => Err(fail(e)),
        }
    }

    fn message(incident: i64, expires: i64) -> String {
        format!("pharos-ack:{incident}:{expires}")
    }

    /// The token part of a link (`<incident>.<expires>.<signature>`).
    pub fn token(&self, incident: i64, expires: DateTime<Utc>) -> String {
        let exp = expires.timestamp();
        let tag = hmac::sign(&self.key, Self::message(incident, exp).as_bytes());
        format!("{incident}.{exp}.{}", hex::encode(tag.as_ref()))
    }

    pub fn url(&self, external_url: &str, incident: i64, expires: DateTime<Utc>) -> String {
        format!(
            "{}/ack/{}",
            external_url.trim_end_matches('/'),
            self.token(incident, expires)
        )
    }

    /// The incident a token acknowledges, when its signature holds and it has not expired.
    /// The signature is checked first and in constant time (ring's `verify`).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<i64, LinkError> {
        let mut parts = token.trim().splitn(3, '.');
        let (Some(id), Some(exp), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(LinkError::Invalid);
        };
        let id: i64 = id.parse().map_err(|_| LinkError::Invalid)?;
        let exp: i64 = exp.parse().map_err(|_| LinkError::Invalid)?;
        let sig = hex::decode(sig).map_err(|_| LinkError::Invalid)?;
        hmac::verify(&self.key, Self::message(id, exp).as_bytes(), &sig)
            .map_err(|_| LinkError::Invalid)?;
        if now.timestamp() >= exp {
            return Err(LinkError::Expired);
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_tampered_and_expired_links() {
        let links = AckLinks::from_key(&[7u8; 32]);
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let expires = now + chrono::Duration::hours(24);
        let token = links.token(42, expires);
        assert_eq!(links.verify(&token, now), Ok(42));

        // Another incident, a later expiry, a changed signature, another key.
        let forged_id = token.replacen("42.", "43.", 1);
        assert_eq!(links.verify(&forged_id, now), Err(LinkError::Invalid));
        let later = token.replacen(
            &expires.timestamp().to_string(),
            &(expires.timestamp() + 3600).to_string(),
            1,
        );
        assert_eq!(links.verify(&later, now), Err(LinkError::Invalid));
        let mut flipped = token.clone();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert_eq!(links.verify(&flipped, now), Err(LinkError::Invalid));
        assert_eq!(
            AckLinks::from_key(&[8u8; 32]).verify(&token, now),
            Err(LinkError::Invalid)
        );
        assert_eq!(links.verify("42", now), Err(LinkError::Invalid));
        assert_eq!(links.verify("", now), Err(LinkError::Invalid));

        assert_eq!(links.verify(&token, expires), Err(LinkError::Expired));
        assert_eq!(
            links.url("https://pharos.example.com/", 42, expires),
            format!("https://pharos.example.com/ack/{token}")
        );
    }

    #[test]
    fn the_key_is_kept_in_the_data_directory() {
        let dir = std::env::temp_dir().join(format!("pharos-links-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(KEY_FILE));
        let a = AckLinks::load_or_create(&dir).unwrap();
        let b = AckLinks::load_or_create(&dir).unwrap();
        let at = Utc::now() + chrono::Duration::hours(1);
        assert_eq!(b.verify(&a.token(1, at), Utc::now()), Ok(1));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
