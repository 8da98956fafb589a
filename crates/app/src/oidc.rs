//! Sign-in through an OpenID Connect provider (Google, GitLab, Keycloak, Authentik,
//! Microsoft Entra, …): the authorization-code flow with PKCE, the provider found by
//! discovery, the ID token's signature, issuer, audience, expiry and nonce checked by the
//! `openidconnect` crate, the role read from a claim.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use pharos_model::access::Role;
use serde::Deserialize;

use crate::AppError;

/// The `web.oidc` section. Its `Debug` leaves the client secret out.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer URL; `/.well-known/openid-configuration` is read from it.
    pub issuer: String,
    pub client_id: String,
    /// Write it as `${OIDC_CLIENT_SECRET}`: the config file then holds no secret.
    pub client_secret: String,
    /// The sign-in button's words.
    #[serde(default = "default_button")]
    pub button: String,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that carries the role: a string or a list of strings (groups).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim values → roles (`{pharos-admins: admin, sre: editor}`). Without it the
    /// values `viewer`, `editor` and `admin` are the roles. The highest match wins.
    #[serde(default)]
    pub role_map: BTreeMap<String, Role>,
    /// The role of a person whose claims match nothing; absent, they are refused.
    #[serde(default)]
    pub default_role: Option<Role>,
}

fn default_button() -> String {
    "Sign in with single sign-on".into()
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_role_claim() -> String {
    "pharos_role".into()
}

impl OidcSettings {
    /// The role `claims` give: the highest of the role claim's values that map to one,
    /// or the default role.
    pub fn role_of(&self, claims: &serde_json::Value) -> Option<Role> {
        let values: Vec<&str> = match claims.get(&self.role_claim) {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => vec![],
        };
        values
            .into_iter()
            .filter_map(|v| {
                if self.role_map.is_empty() {
                    v.parse::<Role>().ok()
                } else {
                    self.role_map.get(v).copied()
                }
            })
            .max()
            .or(self.default_role)
    }
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("role_claim", &self.role_claim)
            .field("role_map", &self.role_map)
            .field("default_role", &self.default_role)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OIDC {} (client {})", self.issuer, self.client_id)
    }
}

/// A sign-in started and not yet come back from the provider.
struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
    next: String,
    started: Instant,
}

/// Who came back from the provider.
pub struct OidcIdentity {
    pub name: String,
    pub role: Role,
    pub next: String,
}

const PENDING_FOR: Duration = Duration::from_secs(10 * 60);
/// Bounds what people (or a script) starting sign-ins and never finishing can make us hold.
const MAX_PENDING: usize = 10_000;
const DISCOVERY_FOR: Duration = Duration::from_secs(3600);

pub struct Oidc {
    settings: OidcSettings,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(CoreProviderMetadata, Instant)>>,
    pending: Mutex<HashMap<String, Pending>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

impl Oidc {
    /// `external_url` is where browsers reach Pharos; the provider sends them back to
    /// `<external_url>/login/oidc/callback`, which must be registered with it.
    pub fn new(settings: OidcSettings, external_url: &str) -> Result<Oidc, AppError> {
        let redirect = RedirectUrl::new(format!(
            "{}/login/oidc/callback",
            external_url.trim_end_matches('/')
        ))
        .map_err(|e| AppError::invalid_field("web.external_url", e))?;
        IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| AppError::invalid_field("web.oidc.issuer", e))?;
        let http = reqwest::Client::builder()
            // The provider's answers are followed by nothing: no redirect to elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| AppError::Internal(format!("HTTP client: {e}")))?;
        Ok(Oidc {
            settings,
            redirect,
            http,
            metadata: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn button(&self) -> &str {
        &self.settings.button
    }

    /// The HTTP client `openidconnect` calls: ours, owning what it needs, so the futures
    /// it makes borrow nothing.
    fn http_client(
        &self,
    ) -> impl Fn(
        openidconnect::HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send>,
    > + use<> {
        let http = self.http.clone();
        move |req| Box::pin(send(http.clone(), req))
    }

    async fn client(
        &self,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        AppError,
    > {
        let mut cached = self.metadata.lock().await;
        let fresh = cached
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < DISCOVERY_FOR);
        if !fresh {
            let issuer = IssuerUrl::new(self.settings.issuer.clone())
                .map_err(|e| AppError::invalid_field("web.oidc.issuer", e))?;
            let http = self.http_client();
            let m = CoreProviderMetadata::discover_async(issuer, &http)
                .await
                .map_err(|e| {
                    AppError::Unavailable(format!(
                        "the sign-in provider {} cannot be reached: {e}",
                        self.settings.issuer
                    ))
                })?;
            *cached = Some((m, Instant::now()));
        }
        let (m, _) = cached.as_ref().expect("just filled");
        Ok(CoreClient::from_provider_metadata(
            m.clone(),
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    /// The provider's sign-in URL for a browser that wants to end up at `next`.
    pub async fn start(&self, next: &str) -> Result<String, AppError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &self.settings.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= MAX_PENDING {
            pending.retain(|_, p| p.started.elapsed() < PENDING_FOR);
            if pending.len() >= MAX_PENDING {
                return Err(AppError::RateLimited {
                    message: "too many sign-ins in progress; try again in a few minutes".into(),
                    retry_after_secs: 60,
                });
            }
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                verifier,
                nonce,
                next: next.to_string(),
                started: Instant::now(),
            },
        );
        Ok(url.to_string())
    }

    /// Completes a sign-in: the `state` must be one this process started, the code is
    /// exchanged with PKCE and the client secret, and the ID token must check out.
    pub async fn finish(&self, code: &str, state: &str) -> Result<OidcIdentity, AppError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(state)
            .filter(|p| p.started.elapsed() < PENDING_FOR)
            .ok_or_else(|| {
                AppError::Unauthorized(
                    "this sign-in was not started here or took too long; start again".into(),
                )
            })?;
        let client = self.client().await?;
        let http = self.http_client();
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| AppError::Unavailable(format!("the provider has no token endpoint: {e}")))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&http)
            .await
            .map_err(|e| {
                AppError::Unauthorized(format!("the provider refused the sign-in: {e}"))
            })?;
        let _ = token.access_token();
        let id_token = token
            .id_token()
            .ok_or_else(|| AppError::Unauthorized("the provider sent no ID token".into()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &pending.nonce)
            .map_err(|e| AppError::Unauthorized(format!("the ID token does not check out: {e}")))?;
        // The signature is verified above; read the claims the crate's core type does
        // not carry (the role claim) from the same token.
        let extra = payload(&id_token.to_string())?;
        let name = claims
            .preferred_username()
            .map(|u| u.to_string())
            .or_else(|| claims.email().map(|e| e.to_string()))
            .unwrap_or_else(|| claims.subject().to_string());
        let role = self.settings.role_of(&extra).ok_or_else(|| {
            AppError::Forbidden(format!(
                "{name} has no Pharos role: the {:?} claim matches none of the configured roles",
                self.settings.role_claim
            ))
        })?;
        Ok(OidcIdentity {
            name,
            role,
            next: pending.next,
        })
    }
}

async fn send(
    http: reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let resp = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let mut out = openidconnect::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    // An ID-token answer or a key set is a few kilobytes.
    let body = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    if body.len() > 1 << 20 {
        return Err(HttpError("the provider's answer is over 1 MiB".into()));
    }
    out.body(body.to_vec())
        .map_err(|e| HttpError(e.to_string()))
}

/// The claims of a JWT, unverified: only for a token whose signature was checked.
fn payload(jwt: &str) -> Result<serde_json::Value, AppError> {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap_or_default();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| AppError::Unauthorized(format!("the ID token is not a JWT: {e}")))?;
    serde_json::from_slice(&raw)
        .map_err(|e| AppError::Unauthorized(format!("the ID token's claims are not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(map: &[(&str, Role)], default: Option<Role>) -> OidcSettings {
        OidcSettings {
            issuer: "https://id.example".into(),
            client_id: "pharos".into(),
            client_secret: "s".into(),
            button: default_button(),
            scopes: default_scopes(),
            role_claim: "groups".into(),
            role_map: map.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            default_role: default,
        }
    }

    #[test]
    fn roles_come_from_the_claim_and_the_highest_wins() {
        let plain = oidc(&[], None);
        assert_eq!(
            plain.role_of(&serde_json::json!({"groups": "editor"})),
            Some(Role::Editor)
        );
        assert_eq!(
            plain.role_of(&serde_json::json!({"groups": ["viewer", "admin"]})),
            Some(Role::Admin)
        );
        assert_eq!(
            plain.role_of(&serde_json::json!({"groups": ["staff"]})),
            None
        );
        let mapped = oidc(
            &[("sre", Role::Editor), ("staff", Role::Viewer)],
            Some(Role::Viewer),
        );
        assert_eq!(
            mapped.role_of(&serde_json::json!({"groups": ["staff", "sre"]})),
            Some(Role::Editor)
        );
        assert_eq!(
            mapped.role_of(&serde_json::json!({"groups": ["admin"]})),
            Some(Role::Viewer)
        );
        assert_eq!(mapped.role_of(&serde_json::json!({})), Some(Role::Viewer));
        assert!(!format!("{mapped:?}").contains("client_secret: \"s\""));
    }
}
