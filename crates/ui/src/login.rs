//! Signing in to the UI with the admin token. The cookie carries a digest of the token,
//! `HttpOnly` and `SameSite=Strict`, so forms cannot be posted from other sites.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{self, Nav};
use pharos_web::SharedState;
use pharos_web::access::SESSION_COOKIE;

#[derive(Deserialize, Default)]
pub struct Next {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// Only paths on this server, so the sign-in page cannot be used to redirect elsewhere.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

fn login_page(next: &str, error: Option<&str>) -> maud::Markup {
    layout::page(
        "Sign in",
        Nav::None,
        false,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { div.error-box role="alert" { (e) } }
            form.stack method="post" action="/login" {
                label { "Admin token"
                    span.hint { "Printed by Pharos on its first start, stored in the data directory as admin_token, or set with PHAROS_ADMIN_TOKEN." }
                    input name="token" type="password" autocomplete="current-password" required autofocus;
                }
                input type="hidden" name="next" value=(next);
                div { button.primary type="submit" { "Sign in" } }
            }
        },
    )
}

pub async fn form(q: Result<Query<Next>, axum::extract::rejection::QueryRejection>) -> Response {
    let next = q.ok().and_then(|q| q.0.next);
    login_page(safe_next(next.as_deref()), None).into_response()
}

pub async fn submit(State(state): State<SharedState>, Form(login): Form<Login>) -> Response {
    let next = safe_next(login.next.as_deref()).to_string();
    if !state.access.token_matches(login.token.trim()) {
        tracing::warn!(
            operation = "ui_login",
            error_type = "bad_token",
            "sign-in with a wrong token"
        );
        return (
            StatusCode::UNAUTHORIZED,
            login_page(&next, Some("That is not the admin token.")),
        )
            .into_response();
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000",
        state.access.session_value()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}

pub async fn logout(_headers: HeaderMap) -> Response {
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}
