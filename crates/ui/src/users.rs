//! The admins' pages for people and programs: users with their roles (add, change role,
//! reset password, remove) and API tokens with their scopes (create, shown once; revoke).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use maud::{Markup, html};
use pharos_app::Caller;
use pharos_app::access::NewToken;
use pharos_model::access::{Role, Scope};
use pharos_web::SharedState;
use pharos_web::access::Visitor;
use serde::Deserialize;

use super::error_page;
use super::layout::{self, Nav};

pub async fn users_page(Visitor(caller): Visitor, State(state): State<SharedState>) -> Response {
    let users = match state.access.users(&caller).await {
        Ok(u) => u,
        Err(e) => return error_page(e, true),
    };
    let body = html! {
        h1 { "Users" }
        p.muted { "Viewers read every page; editors also change monitors, silences, issues, incidents and dashboards; admins also manage users, API tokens, projects, receivers and scrape jobs. The admin token stays valid as the break-glass credential." }
        table.list data-testid="users" {
            thead { tr { th { "Name" } th { "Role" } th { "Added" } th { "Last sign-in" } th { "Change" } } }
            tbody {
                @for u in &users {
                    tr data-user=(u.name) {
                        td { (u.name) }
                        td { (u.role) }
                        td { (layout::ago(Some(u.created_at))) }
                        td { (layout::ago(u.last_sign_in_at)) }
                        td {
                            form.inline method="post" action={ "/settings/users/" (u.name) } {
                                (role_select(u.role))
                                input name="password" type="password" placeholder="new password (optional)" autocomplete="new-password";
                                button type="submit" { "Save" }
                            }
                            form.inline method="post" action={ "/settings/users/" (u.name) "/delete" } {
                                button.danger type="submit" { "Remove" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a user" }
        form.stack method="post" action="/settings/users" {
            label { "Name" input name="name" required autocomplete="off"; }
            label { "Role" (role_select(Role::Viewer)) }
            label { "Password" span.hint { "at least 10 characters; the user can be given a new one here later" }
                input name="password" type="password" required autocomplete="new-password"; }
            div { button.primary type="submit" { "Add user" } }
        }
    };
    layout::page("Users", Nav::Users, true, body).into_response()
}

fn role_select(current: Role) -> Markup {
    html! {
        select name="role" {
            @for r in Role::ALL {
                option value=(r.as_str()) selected[r == current] { (r) }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct NewUserForm {
    name: String,
    role: Role,
    password: String,
}

pub async fn add_user(
    Visitor(caller): Visitor,
    State(state): State<SharedState>,
    Form(f): Form<NewUserForm>,
) -> Response {
    match state
        .access
        .add_user(&caller, &f.name, f.role, &f.password)
        .await
    {
        Ok(_) => Redirect::to("/settings/users").into_response(),
        Err(e) => error_page(e, true),
    }
}

#[derive(Deserialize)]
pub struct UserForm {
    role: Role,
    #[serde(default)]
    password: String,
}

pub async fn change_user(
    Visitor(caller): Visitor,
    State(state): State<SharedState>,
    Path(name): Path<String>,
    Form(f): Form<UserForm>,
) -> Response {
    let password = Some(f.password.as_str()).filter(|p| !p.is_empty());
    match state
        .access
        .update_user(&caller, &name, Some(f.role), password)
        .await
    {
        Ok(_) => Redirect::to("/settings/users").into_response(),
        Err(e) => error_page(e, true),
    }
}

pub async fn remove_user(
    Visitor(caller): Visitor,
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Response {
    match state.access.delete_user(&caller, &name).await {
        Ok(_) => Redirect::to("/settings/users").into_response(),
        Err(e) => error_page(e, true),
    }
}

async fn tokens_body(
    state: &SharedState,
    caller: &Caller,
    created: Option<&NewToken>,
) -> Result<Markup, pharos_app::AppError> {
    let tokens = state.access.tokens(caller).await?;
    Ok(html! {
        h1 { "API tokens" }
        p.muted { "For log shippers, Prometheus (remote_write, alerts) and Grafana: send a token as " code { "Authorization: Bearer <token>" } " or as the password of basic auth. Each token may do only what its scopes allow." }
        @if let Some(t) = created {
            div.notice role="status" data-testid="new-token" {
                p { "The token " strong { (t.token.name) } " — copy it now, it is not shown again:" }
                code.copy data-testid="token-secret" { (t.secret) }
            }
        }
        table.list data-testid="tokens" {
            thead { tr { th { "Name" } th { "Scopes" } th { "Starts with" } th { "Created" } th { "Last used" } th { "Expires" } th {} } }
            tbody {
                @for t in &tokens {
                    tr data-token=(t.name) {
                        td { (t.name) }
                        td { @for s in &t.scopes { code { (s) } " " } }
                        td { code { (t.prefix) "…" } }
                        td { (layout::ago(Some(t.created_at))) " by " (t.created_by) }
                        td { (layout::ago(t.last_used_at)) }
                        td { (t.expires_at.map_or("never".into(), |e| e.format("%Y-%m-%d %H:%M UTC").to_string())) }
                        td {
                            form.inline method="post" action={ "/settings/tokens/" (t.id) "/revoke" } {
                                button.danger type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "New token" }
        form.stack method="post" action="/settings/tokens" {
            label { "Name" span.hint { "what holds it: promtail on web-1, grafana" } input name="name" required autocomplete="off"; }
            fieldset {
                legend { "Scopes" }
                @for s in Scope::ALL {
                    label.check { input type="checkbox" name="scope" value=(s.as_str()); code { (s) } " " span.hint { (s.describe()) } }
                }
            }
            label { "Expires after" span.hint { "days; empty for never" } input name="expires_days" type="number" min="1" max="3650"; }
            div { button.primary type="submit" { "Create token" } }
        }
    })
}

pub async fn tokens_page(Visitor(caller): Visitor, State(state): State<SharedState>) -> Response {
    match tokens_body(&state, &caller, None).await {
        Ok(body) => layout::page("API tokens", Nav::Tokens, true, body).into_response(),
        Err(e) => error_page(e, true),
    }
}

pub async fn create_token(
    Visitor(caller): Visitor,
    State(state): State<SharedState>,
    body: axum::body::Bytes,
) -> Response {
    // Several `scope` fields: read the form as pairs.
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim());
    let mut scopes = Vec::new();
    for (_, v) in pairs.iter().filter(|(n, _)| n == "scope") {
        match v.parse::<Scope>() {
            Ok(s) => scopes.push(s),
            Err(e) => return error_page(pharos_app::AppError::invalid_field("scope", e), true),
        }
    }
    let expires_at = match get("expires_days").filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match d.parse::<i64>() {
            Ok(n) if (1..=3650).contains(&n) => Some(Utc::now() + Duration::days(n)),
            _ => {
                return error_page(
                    pharos_app::AppError::invalid_field(
                        "expires_days",
                        "a whole number of days from 1 to 3650",
                    ),
                    true,
                );
            }
        },
    };
    let name = get("name").unwrap_or_default();
    let created = match state
        .access
        .create_token(&caller, name, &scopes, expires_at)
        .await
    {
        Ok(t) => t,
        Err(e) => return error_page(e, true),
    };
    match tokens_body(&state, &caller, Some(&created)).await {
        // Not a redirect: the secret is in this answer only.
        Ok(body) => (
            [(axum::http::header::CACHE_CONTROL, "no-store")],
            layout::page("API tokens", Nav::Tokens, true, body),
        )
            .into_response(),
        Err(e) => error_page(e, true),
    }
}

pub async fn revoke_token(
    Visitor(caller): Visitor,
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Response {
    match state.access.revoke_token(&caller, id).await {
        Ok(()) => Redirect::to("/settings/tokens").into_response(),
        Err(e) => error_page(e, true),
    }
}
