//! Users, API tokens and browser sessions: turning a credential into a [`Caller`], signing
//! in and out, and the admin operations on users and tokens.
//!
//! Secrets are never kept: passwords as Argon2id hashes (memory-hard, checked off the
//! async workers), API tokens and session ids as SHA-256 digests. The admin token from
//! the data directory stays the break-glass credential.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use pharos_model::access::{ApiToken, Permission, Role, Scope, Session, SessionKind, User};
use pharos_store::Store;
use sha2::{Digest, Sha256};

use crate::{AppError, Caller, blocking};

/// Every API token starts with this, so a leaked one is recognisable (secret scanners,
/// log reviews) and never mistaken for the admin token.
pub const TOKEN_PREFIX: &str = "phr_";
const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_BYTES: usize = 1024;
/// How often a token's or session's "last used" is written: not on every request, so a
/// log shipper pushing ten times a second costs no database writes.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// How long a looked-up token or session is trusted without asking the store again.
/// Revocation through this process clears the cache at once.
const CACHE_FOR: Duration = Duration::from_secs(30);

/// How long a browser session lasts (Grafana's defaults: a week idle, 30 days at most).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub max_age: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(7 * 86_400),
            max_age: Duration::from_secs(30 * 86_400),
        }
    }
}

/// How a person signs in on the sign-in page.
pub enum SignIn {
    Password { name: String, password: String },
    AdminToken(String),
}

/// A session just opened: `cookie` is the secret the browser keeps, shown nowhere else.
pub struct NewSession {
    pub cookie: String,
    pub caller: Caller,
    pub max_age: Duration,
}

/// A token just created: `secret` is shown once and never again.
#[derive(serde::Serialize)]
pub struct NewToken {
    #[serde(flatten)]
    pub token: ApiToken,
    pub secret: String,
}

/// Failed sign-ins per client: after [`SignInLimiter::MAX_FAILURES`] within the window the
/// client waits, so a password cannot be guessed at request speed.
struct SignInLimiter {
    failures: HashMap<IpAddr, (Instant, u32)>,
}

impl SignInLimiter {
    const MAX_FAILURES: u32 = 10;
    const WINDOW: Duration = Duration::from_secs(15 * 60);
    /// Bounds the memory an attacker with many addresses can make it hold.
    const MAX_CLIENTS: usize = 100_000;

    fn check(&mut self, client: IpAddr, now: Instant) -> Result<(), AppError> {
        if let Some((since, n)) = self.failures.get(&client) {
            let age = now.duration_since(*since);
            if age < Self::WINDOW && *n >= Self::MAX_FAILURES {
                return Err(AppError::RateLimited {
                    message: "too many failed sign-ins from this address; try again later".into(),
                    retry_after_secs: (Self::WINDOW - age).as_secs().max(1),
                });
            }
        }
        Ok(())
    }

    fn failed(&mut self, client: IpAddr, now: Instant) {
        if self.failures.len() >= Self::MAX_CLIENTS {
            self.failures
                .retain(|_, (since, _)| now.duration_since(*since) < Self::WINDOW);
        }
        let entry = self.failures.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= Self::WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    fn succeeded(&mut self, client: IpAddr) {
        self.failures.remove(&client);
    }
}

struct Cached<T> {
    value: T,
    fetched: Instant,
    touched: Instant,
}

/// Credentials looked up in the last [`CACHE_FOR`], so a busy shipper or page costs no
/// store read per request. Unknown credentials are kept too, so a flood of wrong ones is
/// cheap; the map is emptied when it grows past a bound.
struct RecentLookups<T> {
    map: Mutex<HashMap<String, Cached<T>>>,
}

impl<T: Clone> RecentLookups<T> {
    fn new() -> Self {
        RecentLookups {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached<T>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh entry, and whether its "last used" is due a write (then marked written,
    /// so one caller writes it).
    fn get(&self, key: &str, now: Instant) -> Option<(T, bool)> {
        let mut map = self.lock();
        let c = map
            .get_mut(key)
            .filter(|c| now.duration_since(c.fetched) < CACHE_FOR)?;
        let due = now.duration_since(c.touched) >= TOUCH_EVERY;
        if due {
            c.touched = now;
        }
        Some((c.value.clone(), due))
    }

    fn put(&self, key: &str, value: T, now: Instant) {
        let mut map = self.lock();
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(
            key.to_string(),
            Cached {
                value,
                fetched: now,
                touched: now,
            },
        );
    }

    fn update(&self, key: &str, f: impl FnOnce(&mut T)) {
        if let Some(c) = self.lock().get_mut(key) {
            f(&mut c.value);
        }
    }

    fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

pub struct AccessControl {
    store: Arc<Store>,
    admin_digest: [u8; 32],
    policy: RwLock<SessionPolicy>,
    limiter: Mutex<SignInLimiter>,
    tokens: RecentLookups<Option<pharos_store::TokenGrant>>,
    sessions: RecentLookups<Session>,
}

impl std::fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessControl(<redacted>)")
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn digest_hex(secret: &str) -> String {
    hex::encode(digest(secret))
}

fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A user name: what people type to sign in and what incident timelines show.
fn check_user_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid_field(
            "name",
            "a user name is 1 to 64 letters, digits, '.', '-', '_' or '@'",
        ))
    }
}

fn check_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid_field(
            "password",
            format!("a password has at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid_field(
            "password",
            format!("a password has at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// An Argon2id hash with the crate's defaults (19 MiB, 2 passes), the OWASP minimum.
pub fn hash_password(password: &str) -> Result<String, AppError> {
    check_password(password)?;
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| AppError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("hashing the password: {e}")))
}

/// A real hash of nothing anyone knows, checked when the name is unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_secret()).unwrap_or_default())
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Compared as digests, so the time taken says nothing about the secret.
fn same_secret(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AccessControl {
    pub fn new(store: Arc<Store>, admin_token: &str) -> AccessControl {
        AccessControl {
            store,
            admin_digest: digest(admin_token),
            policy: RwLock::new(SessionPolicy::default()),
            limiter: Mutex::new(SignInLimiter {
                failures: HashMap::new(),
            }),
            tokens: RecentLookups::new(),
            sessions: RecentLookups::new(),
        }
    }

    pub fn set_policy(&self, p: SessionPolicy) {
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = p;
    }

    pub fn policy(&self) -> SessionPolicy {
        *self.policy.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_admin_token(&self, candidate: &str) -> bool {
        same_secret(&digest(candidate), &self.admin_digest)
    }

    /// The caller a bearer token (or basic-auth password) stands for: the admin token or
    /// an API token that has not expired. `None` for anything else.
    pub async fn caller_for_token(&self, secret: &str) -> Option<Caller> {
        if self.is_admin_token(secret) {
            return Some(Caller::Admin);
        }
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 200 {
            return None;
        }
        let key = digest_hex(secret);
        let now = Instant::now();
        let (grant, touch) = match self.tokens.get(&key, now) {
            Some(hit) => hit,
            None => {
                let store = self.store.clone();
                let k = key.clone();
                let grant = blocking(move || store.token_by_digest(&k))
                    .await
                    .ok()?
                    .ok()?;
                self.tokens.put(&key, grant.clone(), now);
                // Found for the first time in this process: used now.
                (grant, true)
            }
        };
        let grant = grant?;
        if grant.expires_at.is_some_and(|t| t <= Utc::now()) {
            return None;
        }
        if touch {
            let (store, id) = (self.store.clone(), grant.id);
            tokio::task::spawn_blocking(move || store.record_token_use(id, Utc::now()));
        }
        Some(Caller::Token {
            id: grant.id,
            name: grant.name,
            scopes: grant.scopes,
        })
    }

    /// The caller a session cookie stands for, while the session is neither idle too long
    /// nor too old.
    pub async fn caller_for_session(&self, cookie: &str) -> Option<Caller> {
        if cookie.len() != 64 {
            return None;
        }
        let key = digest_hex(cookie);
        let now = Instant::now();
        let policy = self.policy();
        let (session, touch) = match self.sessions.get(&key, now) {
            Some(hit) => hit,
            None => {
                let store = self.store.clone();
                let k = key.clone();
                let session = blocking(move || store.session(&k)).await.ok()?.ok()??;
                self.sessions.put(&key, session.clone(), now);
                (session, true)
            }
        };
        let wall = Utc::now();
        if expired(&session, wall, policy) {
            self.forget_session(&key).await;
            return None;
        }
        if touch {
            self.sessions.update(&key, |s| s.last_seen_at = wall);
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || store.touch_session(&key, wall));
        }
        Some(match session.kind {
            SessionKind::AdminToken => Caller::Admin,
            SessionKind::Password | SessionKind::Oidc => Caller::User {
                name: session.user_name,
                role: session.role,
            },
        })
    }

    /// Checks a name and password (or the admin token) and opens a session. Failures are
    /// counted per client address; past the limit even a right password waits.
    pub async fn sign_in(&self, how: SignIn, client: IpAddr) -> Result<NewSession, AppError> {
        let now = Instant::now();
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(client, now)?;
        let found = match how {
            SignIn::AdminToken(t) => self.is_admin_token(t.trim()).then(|| None),
            SignIn::Password { name, password } => {
                let store = self.store.clone();
                blocking(move || -> Result<Option<Option<User>>, AppError> {
                    let cred = store.user_credential(name.trim())?;
                    // Hash even for an unknown name, so the answer's timing does not say
                    // which names exist.
                    let hash = cred
                        .as_ref()
                        .map_or_else(|| dummy_hash(), |c| c.password_hash.as_str());
                    let ok = password_matches(&password, hash);
                    Ok((ok && cred.is_some()).then(|| cred.map(|c| c.user)))
                })
                .await??
            }
        };
        let Some(user) = found else {
            self.limiter
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .failed(client, now);
            tracing::warn!(operation = "sign_in", client = %client, error_type = "bad_credentials", "sign-in refused");
            return Err(AppError::Unauthorized(
                "that name and password (or token) do not match".into(),
            ));
        };
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .succeeded(client);
        let wall = Utc::now();
        let session = Session {
            kind: match user {
                Some(_) => SessionKind::Password,
                None => SessionKind::AdminToken,
            },
            user_id: user.as_ref().map(|u| u.id),
            user_name: user.as_ref().map_or("admin".into(), |u| u.name.clone()),
            role: user.as_ref().map_or(Role::Admin, |u| u.role),
            created_at: wall,
            last_seen_at: wall,
        };
        self.open_session(session).await
    }

    /// Opens a session for a person an OpenID Connect provider vouched for.
    pub async fn sign_in_oidc(&self, name: &str, role: Role) -> Result<NewSession, AppError> {
        let wall = Utc::now();
        self.open_session(Session {
            kind: SessionKind::Oidc,
            user_id: None,
            user_name: name.to_string(),
            role,
            created_at: wall,
            last_seen_at: wall,
        })
        .await
    }

    async fn open_session(&self, session: Session) -> Result<NewSession, AppError> {
        let wall = session.created_at;
        let cookie = random_secret();
        let key = digest_hex(&cookie);
        let store = self.store.clone();
        let s = session.clone();
        let user_id = session.user_id;
        blocking(move || {
            store.create_session(&key, &s)?;
            if let Some(id) = user_id {
                store.record_sign_in(id, wall)?;
            }
            Ok::<_, pharos_store::StoreError>(())
        })
        .await??;
        tracing::info!(operation = "sign_in", user = %session.user_name, role = %session.role, via = session.kind.as_str(), "signed in");
        let caller = match session.kind {
            SessionKind::AdminToken => Caller::Admin,
            _ => Caller::User {
                name: session.user_name,
                role: session.role,
            },
        };
        Ok(NewSession {
            cookie,
            caller,
            max_age: self.policy().max_age,
        })
    }

    /// Ends a session: its cookie no longer works, here or after a restart.
    pub async fn sign_out(&self, cookie: &str) -> Result<(), AppError> {
        self.forget_session(&digest_hex(cookie)).await;
        Ok(())
    }

    async fn forget_session(&self, key: &str) {
        self.sessions.remove(key);
        let store = self.store.clone();
        let k = key.to_string();
        if let Ok(Err(e)) = blocking(move || store.delete_session(&k)).await {
            tracing::warn!(operation = "sign_out", error = %e, "could not delete the session");
        }
    }

    /// Drops expired sessions from the store (a housekeeping timer calls it).
    pub async fn purge_sessions(&self) -> Result<usize, AppError> {
        let p = self.policy();
        let now = Utc::now();
        let idle = now - chrono::Duration::from_std(p.idle).unwrap_or_default();
        let old = now - chrono::Duration::from_std(p.max_age).unwrap_or_default();
        let store = self.store.clone();
        Ok(blocking(move || store.purge_sessions(idle, old)).await??)
    }

    fn clear_caches(&self) {
        self.sessions.clear();
        self.tokens.clear();
    }

    pub async fn users(&self, caller: &Caller) -> Result<Vec<User>, AppError> {
        caller.require_admin("list users")?;
        let store = self.store.clone();
        Ok(blocking(move || store.users()).await??)
    }

    pub async fn add_user(
        &self,
        caller: &Caller,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<User, AppError> {
        caller.require_admin("add users")?;
        add_user(&self.store, name, role, password).await
    }

    /// Changes a user's role or password; the user's sessions end.
    pub async fn update_user(
        &self,
        caller: &Caller,
        name: &str,
        role: Option<Role>,
        password: Option<&str>,
    ) -> Result<User, AppError> {
        caller.require_admin("change users")?;
        let hash = match password {
            Some(p) => {
                let p = p.to_string();
                Some(blocking(move || hash_password(&p)).await??)
            }
            None => None,
        };
        let store = self.store.clone();
        let n = name.to_string();
        let user = blocking(move || store.update_user(&n, role, hash.as_deref())).await??;
        self.clear_caches();
        tracing::info!(operation = "user_update", user = %user.name, role = %user.role, by = %caller.actor(), "user changed");
        Ok(user)
    }

    pub async fn delete_user(&self, caller: &Caller, name: &str) -> Result<User, AppError> {
        caller.require_admin("delete users")?;
        let store = self.store.clone();
        let n = name.to_string();
        let user = blocking(move || store.delete_user(&n)).await??;
        self.clear_caches();
        tracing::info!(operation = "user_delete", user = %user.name, by = %caller.actor(), "user deleted");
        Ok(user)
    }

    pub async fn tokens(&self, caller: &Caller) -> Result<Vec<ApiToken>, AppError> {
        caller.require_admin("list API tokens")?;
        let store = self.store.clone();
        Ok(blocking(move || store.tokens()).await??)
    }

    /// Makes a token with `scopes`; its secret is in the answer and nowhere else.
    pub async fn create_token(
        &self,
        caller: &Caller,
        name: &str,
        scopes: &[Scope],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<NewToken, AppError> {
        caller.require_admin("create API tokens")?;
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AppError::invalid_field(
                "name",
                "a token's name is 1 to 100 characters",
            ));
        }
        if scopes.is_empty() {
            return Err(AppError::invalid_field(
                "scopes",
                "a token needs at least one scope: logs:write, metrics:write, alerts:write, read, admin",
            ));
        }
        if expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(AppError::invalid_field(
                "expires_at",
                "the expiry is in the past",
            ));
        }
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let secret = format!("{TOKEN_PREFIX}{}", random_secret());
        let (store, key, prefix, n, by) = (
            self.store.clone(),
            digest_hex(&secret),
            secret[..TOKEN_PREFIX.len() + 6].to_string(),
            name.to_string(),
            caller.actor(),
        );
        let s = scopes.clone();
        let token =
            blocking(move || store.create_token(&n, &key, &prefix, &s, &by, expires_at)).await??;
        self.clear_caches();
        tracing::info!(operation = "token_create", token = %token.name, scopes = ?scopes, by = %caller.actor(), "API token created");
        Ok(NewToken { token, secret })
    }

    pub async fn revoke_token(&self, caller: &Caller, id: i64) -> Result<(), AppError> {
        caller.require_admin("revoke API tokens")?;
        let store = self.store.clone();
        blocking(move || store.delete_token(id)).await??;
        self.clear_caches();
        tracing::info!(operation = "token_revoke", token_id = id, by = %caller.actor(), "API token revoked");
        Ok(())
    }
}

fn expired(s: &Session, now: DateTime<Utc>, p: SessionPolicy) -> bool {
    let age = |t: DateTime<Utc>| (now - t).to_std().unwrap_or_default();
    age(s.last_seen_at) > p.idle || age(s.created_at) > p.max_age
}

/// Adds a user straight to a store: the admin operation, and `pharos user add` on a
/// headless first start (no caller: whoever can write the data directory is admin).
pub async fn add_user(
    store: &Arc<Store>,
    name: &str,
    role: Role,
    password: &str,
) -> Result<User, AppError> {
    let name = name.trim().to_string();
    check_user_name(&name)?;
    let p = password.to_string();
    let hash = blocking(move || hash_password(&p)).await??;
    let store = store.clone();
    let user = blocking(move || store.create_user(&name, role, &hash)).await??;
    tracing::info!(operation = "user_add", user = %user.name, role = %user.role, "user added");
    Ok(user)
}

/// What each permission means, for the users and tokens pages and SECURITY.md.
pub fn permission_summary() -> Vec<(Permission, &'static str)> {
    Permission::ALL
        .into_iter()
        .map(|p| {
            (
                p,
                match p {
                    Permission::Read => "read every page and API",
                    Permission::Edit => {
                        "change monitors, maintenance, silences, issues, incidents, dashboards"
                    }
                    Permission::Admin => {
                        "users, tokens, projects and keys, receivers, scrape jobs, reload"
                    }
                    Permission::IngestLogs => "push logs",
                    Permission::IngestMetrics => "Prometheus remote_write",
                    Permission::IngestAlerts => "post alerts to the Alertmanager API",
                    Permission::UploadSourceMaps => "upload JavaScript source maps with sentry-cli",
                    Permission::IngestTraces => "push OpenTelemetry traces",
                    Permission::StatusPosts => {
                        "post, update and delete incidents and maintenance on status pages"
                    }
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> (AccessControl, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("pharos-access-{}", rand::random::<u64>()));
        let store = Arc::new(Store::open(&dir).unwrap());
        (AccessControl::new(store, "the-admin-token"), dir)
    }

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn a_signed_out_session_no_longer_works() {
        let (ac, dir) = control();
        ac.add_user(&Caller::Admin, "ana", Role::Viewer, "correct horse battery")
            .await
            .unwrap();
        let s = ac
            .sign_in(
                SignIn::Password {
                    name: "ana".into(),
                    password: "correct horse battery".into(),
                },
                CLIENT,
            )
            .await
            .unwrap();
        let caller = ac.caller_for_session(&s.cookie).await.unwrap();
        assert!(caller.allows(Permission::Read));
        assert!(!caller.allows(Permission::Edit));
        ac.sign_out(&s.cookie).await.unwrap();
        assert_eq!(ac.caller_for_session(&s.cookie).await, None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn sessions_expire_when_idle_or_old() {
        let (ac, dir) = control();
        let s = ac
            .sign_in(SignIn::AdminToken("the-admin-token".into()), CLIENT)
            .await
            .unwrap();
        assert_eq!(ac.caller_for_session(&s.cookie).await, Some(Caller::Admin));
        ac.set_policy(SessionPolicy {
            idle: Duration::ZERO,
            max_age: Duration::from_secs(3600),
        });
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(ac.caller_for_session(&s.cookie).await, None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn sign_ins_are_limited_per_client() {
        let (ac, dir) = control();
        for _ in 0..SignInLimiter::MAX_FAILURES {
            let e = ac
                .sign_in(SignIn::AdminToken("guess".into()), CLIENT)
                .await
                .err()
                .unwrap();
            assert!(matches!(e, AppError::Unauthorized(_)));
        }
        let e = ac
            .sign_in(SignIn::AdminToken("the-admin-token".into()), CLIENT)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, AppError::RateLimited { .. }), "{e}");
        // Another client is not affected.
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(
            ac.sign_in(SignIn::AdminToken("the-admin-token".into()), other)
                .await
                .is_ok()
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn tokens_carry_their_scopes_until_revoked_or_expired() {
        let (ac, dir) = control();
        let t = ac
            .create_token(&Caller::Admin, "promtail", &[Scope::LogsWrite], None)
            .await
            .unwrap();
        assert!(t.secret.starts_with(TOKEN_PREFIX));
        let c = ac.caller_for_token(&t.secret).await.unwrap();
        assert!(c.allows(Permission::IngestLogs) && !c.allows(Permission::Read));
        assert_eq!(ac.caller_for_token("phr_wrong").await, None);
        let listed = ac.tokens(&Caller::Admin).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!format!("{:?}", listed[0]).contains(&t.secret[8..]));
        ac.revoke_token(&Caller::Admin, t.token.id).await.unwrap();
        assert_eq!(ac.caller_for_token(&t.secret).await, None);
        let viewer = Caller::User {
            name: "v".into(),
            role: Role::Viewer,
        };
        assert!(matches!(
            ac.create_token(&viewer, "x", &[Scope::Read], None).await,
            Err(AppError::Forbidden(_))
        ));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn passwords_are_hashed_and_checked() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &h));
        assert!(!password_matches("wrong horse battery", &h));
        assert!(hash_password("short").is_err());
    }
}
