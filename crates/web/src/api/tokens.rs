//! `/api/v1/tokens`: API tokens with scopes, for log shippers, Prometheus and Grafana
//! (admins only). A token's secret is in the answer to its creation and nowhere else.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use pharos_app::access::NewToken;
use pharos_model::access::Scope;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiJson};
use crate::SharedState;
use crate::access::Visitor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    name: String,
    scopes: Vec<Scope>,
    /// RFC 3339; absent for a token that does not expire.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

pub async fn list(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "tokens": state.access.tokens(&caller).await? }),
    ))
}

pub async fn create(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    ApiJson(t): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let token = state
        .access
        .create_token(&caller, &t.name, &t.scopes, t.expires_at)
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

pub async fn revoke(
    State(state): State<SharedState>,
    Visitor(caller): Visitor,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.access.revoke_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
