//! The credentials of scrape jobs made through the API: which fields of a job hold them,
//! how they are shown (`<secret>`), and how they rest in the store — sealed with
//! ChaCha20-Poly1305 under a key kept in its own file in the data directory (mode 0600),
//! so a copy of `pharos.db` alone reveals none of them.
//!
//! The job's JSON is split in two: the document with every secret replaced by
//! [`REDACTED`] (stored in clear, echoed by GET) and the secrets by field path (sealed).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use crate::ScrapeError;

/// What GET answers show instead of a credential; sent back unchanged in a PUT or PATCH,
/// it keeps the stored value.
pub const REDACTED: &str = "<secret>";

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "secrets.key";

/// The fields of a scrape job that hold credentials (Prometheus's `Secret` fields); `*`
/// stands for every item of a list or every value of a map.
const SECRET_FIELDS: &[&[&str]] = &[
    &["basic_auth", "password"],
    &["authorization", "credentials"],
    &["bearer_token"],
    &["oauth2", "client_secret"],
    &["oauth2", "client_certificate_key"],
    &["tls_config", "key"],
    &["http_headers", "*", "secrets", "*"],
    &["consul_sd_configs", "*", "token"],
    &["consul_sd_configs", "*", "password"],
    &["consul_sd_configs", "*", "basic_auth", "password"],
    &["consul_sd_configs", "*", "authorization", "credentials"],
    &["docker_sd_configs", "*", "basic_auth", "password"],
    &["docker_sd_configs", "*", "authorization", "credentials"],
];

/// Format of a sealed blob: this byte, the nonce, then ciphertext and tag.
const SEALED_V1: u8 = 1;

/// Replaces every credential in a job's JSON with [`REDACTED`]; returns the secrets by
/// dotted field path (`basic_auth.password`, `consul_sd_configs.0.token`). A field
/// already [`REDACTED`] is left out.
pub fn split_secrets(doc: &mut Value) -> BTreeMap<String, String> {
    let mut secrets = BTreeMap::new();
    for pattern in SECRET_FIELDS {
        each_field(doc, pattern, String::new(), &mut |path, v| {
            if let Value::String(s) = v
                && s != REDACTED
            {
                secrets.insert(path, std::mem::replace(s, REDACTED.to_string()));
            }
        });
    }
    secrets
}

/// Puts stored secrets back where a job's JSON says [`REDACTED`]. A [`REDACTED`] with no
/// stored value behind it is an error naming the field.
pub fn restore_secrets(
    doc: &mut Value,
    secrets: &BTreeMap<String, String>,
) -> Result<(), ScrapeError> {
    let mut missing = None;
    for pattern in SECRET_FIELDS {
        each_field(doc, pattern, String::new(), &mut |path, v| {
            if v.as_str() == Some(REDACTED) {
                match secrets.get(&path) {
                    Some(s) => *v = Value::String(s.clone()),
                    None => {
                        missing.get_or_insert(path);
                    }
                }
            }
        });
    }
    match missing {
        Some(field) => Err(ScrapeError::NoStoredSecret { field }),
        None => Ok(()),
    }
}

/// Calls `f` with the dotted path and the value of every field `pattern` names in `doc`.
fn each_field(
    doc: &mut Value,
    pattern: &[&str],
    at: String,
    f: &mut dyn FnMut(String, &mut Value),
) {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    let Some((first, rest)) = pattern.split_first() else {
        f(at, doc);
        return;
    };
    match (*first, doc) {
        ("*", Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                each_field(item, rest, join(&i.to_string()), f);
            }
        }
        ("*", Value::Object(map)) => {
            for (k, v) in map.iter_mut() {
                each_field(v, rest, join(k), f);
            }
        }
        (key, Value::Object(map)) => {
            if let Some(v) = map.get_mut(key) {
                each_field(v, rest, join(key), f);
            }
        }
        _ => {}
    }
}

/// The key that seals API jobs' credentials.
pub struct SecretKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// Reads `dir/secrets.key`, or makes it (32 random bytes, mode 0600) on first use.
    pub fn load_or_create(dir: &Path) -> Result<SecretKey, ScrapeError> {
        let path = dir.join(KEY_FILE);
        let rng = SystemRandom::new();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let mut b = vec![0u8; CHACHA20_POLY1305.key_len()];
                rng.fill(&mut b)
                    .map_err(|_| ScrapeError::NoRandomnessForKey)?;
                let write = || -> std::io::Result<()> {
                    let mut f = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&path)?;
                    f.write_all(&b)?;
                    f.sync_all()
                };
                write().map_err(|source| ScrapeError::WriteKey {
                    path: path.clone(),
                    source,
                })?;
                b
            }
            Err(source) => return Err(ScrapeError::ReadKey { path, source }),
        };
        let unbound =
            UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| ScrapeError::NotAKey {
                path: path.clone(),
                len: bytes.len(),
                want: CHACHA20_POLY1305.key_len(),
            })?;
        Ok(SecretKey {
            key: LessSafeKey::new(unbound),
            rng,
        })
    }

    /// Seals a job's secrets; `job` is bound in so a blob cannot be moved to another job.
    pub fn seal(
        &self,
        job: &str,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Vec<u8>, ScrapeError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| ScrapeError::NoRandomnessForNonce)?;
        let mut data = serde_json::to_vec(secrets).map_err(ScrapeError::EncodeSecrets)?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(job.as_bytes()),
                &mut data,
            )
            .map_err(|_| ScrapeError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + data.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) made for the same job.
    pub fn open(&self, job: &str, sealed: &[u8]) -> Result<BTreeMap<String, String>, ScrapeError> {
        let refused = || ScrapeError::CannotOpen {
            job: job.to_string(),
        };
        let Some((&SEALED_V1, rest)) = sealed.split_first() else {
            return Err(refused());
        };
        if rest.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, data) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(job.as_bytes()), &mut data)
            .map_err(|_| refused())?;
        serde_json::from_slice(plain).map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_split_out_and_put_back() {
        let mut doc = json!({
            "job_name": "app",
            "basic_auth": {"username": "u", "password": "hunter2"},
            "bearer_token": "tok",
        });
        let secrets = split_secrets(&mut doc);
        assert_eq!(doc["basic_auth"]["password"], REDACTED);
        assert_eq!(doc["bearer_token"], REDACTED);
        assert_eq!(doc["basic_auth"]["username"], "u");
        assert_eq!(secrets.len(), 2);
        assert!(!doc.to_string().contains("hunter2"));
        restore_secrets(&mut doc, &secrets).unwrap();
        assert_eq!(doc["basic_auth"]["password"], "hunter2");
    }

    #[test]
    fn secrets_inside_lists_and_maps_are_split_out_too() {
        let mut doc = json!({
            "job_name": "app",
            "consul_sd_configs": [{"server": "c:8500", "token": "acl-1"}, {"token": "acl-2"}],
            "http_headers": {"X-Key": {"values": ["v"], "secrets": ["hdr-secret"]}},
        });
        let secrets = split_secrets(&mut doc);
        assert_eq!(
            secrets.keys().collect::<Vec<_>>(),
            [
                "consul_sd_configs.0.token",
                "consul_sd_configs.1.token",
                "http_headers.X-Key.secrets.0"
            ]
        );
        let text = doc.to_string();
        assert!(
            !text.contains("acl-") && !text.contains("hdr-secret"),
            "{text}"
        );
        restore_secrets(&mut doc, &secrets).unwrap();
        assert_eq!(doc["consul_sd_configs"][1]["token"], "acl-2");
        assert_eq!(doc["http_headers"]["X-Key"]["secrets"][0], "hdr-secret");
    }

    #[test]
    fn a_placeholder_without_a_stored_secret_names_the_field() {
        let mut doc = json!({"authorization": {"credentials": REDACTED}});
        let e = restore_secrets(&mut doc, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "authorization.credentials: \"<secret>\" stands for a stored credential and this job has none; send the credential itself"
        );
    }

    #[test]
    fn sealed_secrets_open_only_for_their_job_and_key() {
        let dir = std::env::temp_dir().join(format!("pharos-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = SecretKey::load_or_create(&dir).unwrap();
        let secrets = BTreeMap::from([("bearer_token".to_string(), "s3cr3t-value".to_string())]);
        let sealed = key.seal("app", &secrets).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(key.open("app", &sealed).unwrap(), secrets);
        assert!(key.open("other", &sealed).is_err(), "bound to the job");
        // The same file gives the same key after a restart.
        let again = SecretKey::load_or_create(&dir).unwrap();
        assert_eq!(again.open("app", &sealed).unwrap(), secrets);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join(KEY_FILE)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.join(KEY_FILE), [7u8; 5]).unwrap();
        assert_eq!(
            SecretKey::load_or_create(&dir).unwrap_err().to_string(),
            format!(
                "{}: not a secrets key (5 bytes, want 32)",
                dir.join(KEY_FILE).display()
            )
        );
        let no_dir = dir.join("missing");
        match SecretKey::load_or_create(&no_dir) {
            Err(e @ ScrapeError::WriteKey { .. }) => {
                let io = std::error::Error::source(&e).expect("the io error");
                assert_eq!(
                    e.to_string(),
                    format!("cannot write {}: {io}", no_dir.join(KEY_FILE).display())
                );
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(dir.join(KEY_FILE), [7u8; 32]).unwrap();
        let other = SecretKey::load_or_create(&dir).unwrap();
        assert_eq!(
            other.open("app", &sealed).unwrap_err().to_string(),
            "the stored credentials of scrape job \"app\" cannot be opened with secrets.key (was the key file replaced?); send them again with PUT or PATCH"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
