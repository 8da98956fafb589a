//! Who may call each route: reads the credential a request carries (a bearer token or
//! basic-auth password, or the session cookie), turns it into a [`Caller`] through the
//! application's access control, and checks it against [`permissions::ROUTES`]. Requests
//! made with a cookie that change something must come from Pharos's own pages.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use pharos_app::Caller;

use crate::SharedState;
use crate::api::ApiError;
use crate::permissions::{self, Need};

pub const SESSION_COOKIE: &str = "pharos_session";

/// The caller the access middleware established for this request.
#[derive(Clone, Debug)]
pub struct Visitor(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Visitor>()
            .cloned()
            .unwrap_or(Visitor(Caller::Anonymous)))
    }
}

/// The credential a request carries, before it is checked.
enum Credential {
    Token(String),
    Cookie(String),
    None,
}

fn credential(headers: &HeaderMap) -> Credential {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Credential::Token(token.trim().to_string());
        }
        if let Some(encoded) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
        {
            // Some log shippers and Prometheus's `basic_auth` can send only this.
            return basic_password(encoded.trim()).map_or(Credential::None, Credential::Token);
        }
    }
    session_cookie(headers).map_or(Credential::None, Credential::Cookie)
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
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

/// The caller behind a request's credential; [`Caller::Anonymous`] when it has none or
/// one that does not check out.
pub async fn caller_of(state: &SharedState, headers: &HeaderMap) -> Caller {
    caller_for(state, credential(headers)).await
}

async fn caller_for(state: &SharedState, credential: Credential) -> Caller {
    match credential {
        Credential::Token(t) => state.access.caller_for_token(&t).await,
        Credential::Cookie(c) => state.access.caller_for_session(&c).await,
        Credential::None => None,
    }
    .unwrap_or(Caller::Anonymous)
}

/// The address a request came from: the socket's peer, or the first address of
/// `X-Forwarded-For` when the peer is a proxy listed in `web.trusted_proxies`.
pub fn client_of(state: &SharedState, req_headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
    let peer_ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
    let settings = state.settings();
    if settings
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&peer_ip))
    {
        if let Some(ip) = req_headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
    }
    peer_ip
}

/// True when the request reached Pharos over HTTPS: the external URL is `https://`, or a
/// trusted proxy says so in `X-Forwarded-Proto`.
pub fn over_https(state: &SharedState, headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    let settings = state.settings();
    if settings
        .external_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
    {
        return true;
    }
    let peer_ip = peer.map(|p| p.ip());
    peer_ip.is_some_and(|ip| settings.trusted_proxies.iter().any(|n| n.contains(&ip)))
        && headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// Refuses a state-changing request made with a cookie from another site, as Go's
/// `CrossOriginProtection` does: `Sec-Fetch-Site` when the browser sends it, otherwise
/// `Origin` against `Host`. A request with neither header did not come from a browser,
/// which is the only thing that holds the cookie.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !(site == "same-origin" || site == "none");
    }
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin_host = url::Url::parse(origin).ok().and_then(|u| {
        u.host_str().map(|h| match u.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        })
    });
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    origin_host.as_deref() != host
}

fn is_page(path: &str) -> bool {
    // `/federate` is scraped by a Prometheus: a refusal must be a 401 it logs, not a
    // redirect to the sign-in page it would read as a failed parse.
    !(path.starts_with("/api/")
        || path.starts_with("/loki/")
        || path.starts_with("/v1/")
        || path.starts_with("/-/")
        || path == "/federate")
}

fn unauthorized(path: &str, method: &Method, uri: &axum::http::Uri) -> Response {
    if is_page(path) && (method == Method::GET || method == Method::HEAD) {
        let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        return Redirect::to(&format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        ))
        .into_response();
    }
    let mut resp = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this route needs a credential: send `Authorization: Bearer <token>` (an API token or the admin token), or sign in",
    )
    .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"pharos\""),
    );
    resp
}

/// A refusal a person reads in the browser (a viewer who pressed a button).
fn refused_page(message: &str) -> Response {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        StatusCode::FORBIDDEN,
        axum::response::Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed · Pharos</title><link rel=\"stylesheet\" href=\"/assets/pharos.css\"></head><body><main><h1>Not allowed</h1><div class=\"error-box\">{escaped}. Ask an admin for a role that allows it.</div><p><a href=\"/\">Back to the overview</a></p></main></body></html>"
        )),
    )
        .into_response()
}

/// The access check every request passes before its handler, for the route template
/// `path` (`None` for the fallback: Sentry DSNs with a path prefix, and 404s, which
/// checks its own key).
pub async fn authorize(
    state: &SharedState,
    path: Option<&str>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(path) = path else {
        return next.run(req).await;
    };
    let Some(need) = permissions::need_of(req.method(), path) else {
        let allowed = permissions::methods_of(path);
        if !allowed.is_empty() {
            // A method the route does not take: what axum would answer, and refused
            // even if a handler for it existed without a row.
            let mut resp = ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} {path} is not a method this route takes", req.method()),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                resp.headers_mut().insert(header::ALLOW, v);
            }
            return resp;
        }
        tracing::error!(operation = "authorize", route = %path, method = %req.method(), "route has no row in permissions::ROUTES; refused");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{} {path} is not open to anyone", req.method()),
        )
        .into_response();
    };
    if need == Need::Open {
        // Still tell the handler who is asking (the sign-in page, /metrics).
        let caller = caller_of(state, req.headers()).await;
        req.extensions_mut().insert(Visitor(caller));
        return next.run(req).await;
    }
    let credential = credential(req.headers());
    let from_cookie = matches!(credential, Credential::Cookie(_));
    let caller = caller_for(state, credential).await;
    let allowed = match need {
        Need::Open => true,
        Need::Public(page) => {
            state.settings().public.contains(&page)
                || caller.allows(pharos_model::access::Permission::Read)
        }
        Need::Granted(p) => caller.allows(p),
    };
    if !allowed {
        if caller == Caller::Anonymous {
            return unauthorized(path, req.method(), req.uri());
        }
        tracing::info!(operation = "authorize", route = %path, method = %req.method(), caller = %caller, "refused: not permitted");
        let message = format!("the {caller} may not {} {path}", req.method());
        if is_page(path) {
            return refused_page(&message);
        }
        return ApiError::new(StatusCode::FORBIDDEN, message).into_response();
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if from_cookie && !safe && cross_site(req.headers()) {
        tracing::warn!(operation = "authorize", route = %path, "refused a cross-site request made with the session cookie");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-site requests may not change anything",
        )
        .into_response();
    }
    req.extensions_mut().insert(Visitor(caller));
    next.run(req).await
}

/// Where a request came from (see [`client_of`]), and whether it came over HTTPS.
pub struct Client {
    pub addr: IpAddr,
    pub https: bool,
}

impl FromRequestParts<SharedState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Client {
            addr: client_of(state, &parts.headers, peer),
            https: over_https(state, &parts.headers, peer),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_each_header() {
        let mut h = HeaderMap::new();
        assert!(matches!(credential(&h), Credential::None));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(matches!(credential(&h), Credential::Token(t) if t == "s3cret"));
        // "pharos:s3cret"
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic cGhhcm9zOnMzY3JldA=="),
        );
        assert!(matches!(credential(&h), Credential::Token(t) if t == "s3cret"));
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; {SESSION_COOKIE}=abc")).unwrap(),
        );
        assert!(matches!(credential(&h), Credential::Cookie(c) if c == "abc"));
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        let mut h = HeaderMap::new();
        assert!(!cross_site(&h), "no browser headers: not a browser");
        h.insert(HOST, HeaderValue::from_static("pharos.example:9800"));
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(cross_site(&h));
        h.insert(
            ORIGIN,
            HeaderValue::from_static("http://pharos.example:9800"),
        );
        assert!(!cross_site(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_site(&h));
    }
}
