//! Signing in to the UI with a name and password (or the admin token, the break-glass
//! credential) and signing out. The session cookie is a random id the server keeps (as a
//! digest); signing out deletes it, so a copied cookie stops working too.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use pharos_app::AppError;
use pharos_app::access::SignIn;
use serde::Deserialize;

use super::layout::{self, Nav};
use pharos_web::SharedState;
use pharos_web::access::{Client, SESSION_COOKIE, session_cookie};

#[derive(Deserialize, Default)]
pub struct Next {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct Login {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// Only paths on this server, so the sign-in page cannot send anyone elsewhere: one
/// leading `/`, not `//` or `/\\` (which browsers read as another host), and no control
/// characters or whitespace (browsers drop tabs and newlines, so `/\t/evil.example`
/// becomes `//evil.example`).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n
        }
        _ => "/",
    }
}

fn login_page(state: &SharedState, next: &str, error: Option<&str>) -> maud::Markup {
    let sso = state.oidc.as_ref().map(|o| o.button().to_string());
    let sso_href = format!(
        "/login/oidc?next={}",
        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    layout::page(
        "Sign in",
        Nav::None,
        false,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { div.error-box role="alert" { (e) } }
            @if let Some(label) = &sso {
                p { a.button.primary href=(sso_href) { (label) } }
            }
            form.stack method="post" action="/login" {
                label { "Name"
                    input name="name" type="text" autocomplete="username" autofocus;
                }
                label { "Password"
                    input name="password" type="password" autocomplete="current-password";
                }
                fieldset {
                    legend { "Or the admin token" }
                    label { "Admin token"
                        span.hint { "Printed by Pharos on its first start, stored in the data directory as admin_token, or set with PHAROS_ADMIN_TOKEN. Add people with their own names on the Users page, or with pharos user add." }
                        input name="token" type="password" autocomplete="off";
                    }
                }
                input type="hidden" name="next" value=(next);
                div { button.primary type="submit" { "Sign in" } }
            }
        },
    )
}

pub async fn form(
    State(state): State<SharedState>,
    q: Result<Query<Next>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = q.ok().and_then(|q| q.0.next);
    login_page(&state, safe_next(next.as_deref()), None).into_response()
}

fn cookie(value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    // Lax, not Strict: a link to an incident in a chat message must open signed in.
    // Cross-site form posts are refused by the access middleware's origin check.
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub async fn submit(
    State(state): State<SharedState>,
    client: Client,
    Form(login): Form<Login>,
) -> Response {
    let next = safe_next(login.next.as_deref()).to_string();
    let with_token = !login.token.trim().is_empty();
    let how = if with_token {
        SignIn::AdminToken(login.token.trim().to_string())
    } else {
        SignIn::Password {
            name: login.name,
            password: login.password,
        }
    };
    match state.access.sign_in(how, client.addr).await {
        Ok(s) => (
            [(
                header::SET_COOKIE,
                cookie(&s.cookie, s.max_age.as_secs(), client.https),
            )],
            Redirect::to(&next),
        )
            .into_response(),
        Err(AppError::RateLimited {
            message,
            retry_after_secs,
        }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            login_page(&state, &next, Some(&message)),
        )
            .into_response(),
        Err(AppError::Unauthorized(_)) => (
            StatusCode::UNAUTHORIZED,
            login_page(
                &state,
                &next,
                Some(if with_token {
                    "That is not the admin token."
                } else {
                    "That name and password do not match."
                }),
            ),
        )
            .into_response(),
        Err(e) => super::error_page(e, false),
    }
}

/// Sends the browser to the OpenID Connect provider.
pub async fn oidc_start(
    State(state): State<SharedState>,
    q: Result<Query<Next>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return super::error_page(
            AppError::NotFound("sign-in through OpenID Connect (web.oidc is not set)".into()),
            false,
        );
    };
    let next = q.ok().and_then(|q| q.0.next);
    match oidc.start(safe_next(next.as_deref())).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => super::error_page(e, false),
    }
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Where the provider sends the browser back: the code becomes a session.
pub async fn oidc_callback(
    State(state): State<SharedState>,
    client: Client,
    q: Result<Query<Callback>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return super::error_page(AppError::NotFound("OpenID Connect sign-in".into()), false);
    };
    let cb = match q {
        Ok(q) => q.0,
        Err(e) => return super::error_page(AppError::invalid(e.body_text()), false),
    };
    if let Some(err) = cb.error {
        let why = cb.error_description.unwrap_or_default();
        return super::error_page(
            AppError::Unauthorized(format!("the sign-in provider said {err}: {why}")),
            false,
        );
    }
    let (Some(code), Some(st)) = (cb.code, cb.state) else {
        return super::error_page(AppError::invalid("code and state are required"), false);
    };
    let who = match oidc.finish(&code, &st).await {
        Ok(w) => w,
        Err(e) => return super::error_page(e, false),
    };
    match state.access.sign_in_oidc(&who.name, who.role).await {
        Ok(s) => (
            [(
                header::SET_COOKIE,
                cookie(&s.cookie, s.max_age.as_secs(), client.https),
            )],
            Redirect::to(safe_next(Some(&who.next))),
        )
            .into_response(),
        Err(e) => super::error_page(e, false),
    }
}

pub async fn logout(
    State(state): State<SharedState>,
    client: Client,
    headers: HeaderMap,
) -> Response {
    if let Some(c) = session_cookie(&headers) {
        if let Err(e) = state.access.sign_out(&c).await {
            return super::error_page(e, false);
        }
    }
    (
        [(header::SET_COOKIE, cookie("", 0, client.https))],
        Redirect::to("/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/issues?x=1")), "/issues?x=1");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "https://evil.example",
            "evil",
            "/ /evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
