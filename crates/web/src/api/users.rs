//! `/api/v1/users`: people who sign in with a name and password, and their roles
//! (admins only); `/api/v1/whoami`: who the caller is.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pharos_app::Caller;
use pharos_model::access::{Permission, Role, User};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson};
use crate::SharedState;
use crate::access::Visitor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    role: Role,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    password: Option<String>,
}

pub async fn list(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "users": state.access.users(&caller).await? })))
}

pub async fn create(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    ApiJson(u): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = state
        .access
        .add_user(&caller, &u.name, u.role, &u.password)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Changes a role or resets a password; the user's sessions end either way.
pub async fn update(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    Path(name): Path<String>,
    ApiJson(c): ApiJson<UserChange>,
) -> Result<Json<User>, ApiError> {
    let user = state
        .access
        .update_user(&caller, &name, c.role, c.password.as_deref())
        .await?;
    Ok(Json(user))
}

pub async fn remove(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.access.delete_user(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the credential in this request belongs to and what it may do.
pub async fn whoami(Visitor(caller): Visitor) -> Json<Value> {
    let (kind, name, role, scopes) = match &caller {
        Caller::Admin => ("admin_token", "admin".to_string(), Some("admin"), vec![]),
        Caller::User { name, role } => ("user", name.clone(), Some(role.as_str()), vec![]),
        Caller::Token { name, scopes, .. } => (
            "token",
            name.clone(),
            None,
            scopes.iter().map(|s| s.as_str()).collect(),
        ),
        other => ("anonymous", other.to_string(), None, vec![]),
    };
    let permissions: Vec<&str> = Permission::ALL
        .into_iter()
        .filter(|p| caller.allows(*p))
        .map(|p| p.as_str())
        .collect();
    Json(json!({
        "kind": kind, "name": name, "role": role, "scopes": scopes, "permissions": permissions
    }))
}
