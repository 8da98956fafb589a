//! `/api/v1/projects`: error-tracking projects, their keys and DSNs, release health and
//! what SDKs report having dropped.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use pharos_model::HumanDuration;
use pharos_model::project::{ErrorAlertSettings, ProjectSettings, validate_name};
use pharos_store::errors::{Project, ProjectSource};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, ApiJson, parse_json};
use crate::SharedState;
use crate::sentry::refresh_directory;

#[derive(Serialize)]
pub struct KeyView {
    pub public_key: String,
    pub label: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
    pub revoked_at: Option<chrono::DateTime<Utc>>,
    /// What to set `SENTRY_DSN` to.
    pub dsn: String,
}

#[derive(Serialize)]
pub struct ProjectView {
    pub id: i64,
    pub name: String,
    pub platform: Option<String>,
    pub source: ProjectSource,
    /// The DSN of the first active key.
    pub dsn: Option<String>,
    pub keys: Vec<KeyView>,
    #[serde(flatten)]
    pub settings: ProjectSettings,
    pub created_at: chrono::DateTime<Utc>,
}

/// `http://<key>@<host:port>[/prefix]/<project>` from Pharos's external URL.
pub fn dsn(external_url: &str, key: &str, project: i64) -> String {
    match url::Url::parse(external_url) {
        Ok(mut u) => {
            let _ = u.set_username(key);
            let prefix = u.path().trim_end_matches('/').to_string();
            u.set_path(&format!("{prefix}/{project}"));
            u.set_query(None);
            u.to_string()
        }
        Err(_) => format!("http://{key}@127.0.0.1:9800/{project}"),
    }
}

pub fn view(state: &SharedState, p: Project) -> ProjectView {
    let external = state.settings().external_url().to_string();
    let keys: Vec<KeyView> = p
        .keys
        .into_iter()
        .map(|k| KeyView {
            dsn: dsn(&external, &k.public_key, p.id),
            public_key: k.public_key,
            label: k.label,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        })
        .collect();
    ProjectView {
        id: p.id,
        name: p.name,
        platform: p.platform,
        source: p.source,
        dsn: keys
            .iter()
            .find(|k| k.revoked_at.is_none())
            .map(|k| k.dsn.clone()),
        keys,
        settings: p.settings,
        created_at: p.created_at,
    }
}

pub async fn list(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let projects = state.with_store(|s| s.errors().projects()).await?;
    let views: Vec<ProjectView> = projects.into_iter().map(|p| view(&state, p)).collect();
    Ok(Json(json!({ "projects": views })))
}

pub async fn get_one(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<ProjectView>, ApiError> {
    let p = state.with_store(move |s| s.errors().project(id)).await?;
    Ok(Json(view(&state, p)))
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default = "ProjectSettings::default_retention")]
    pub retention: HumanDuration,
    #[serde(default = "ProjectSettings::default_rate_limit")]
    pub rate_limit: u32,
    #[serde(default)]
    pub alerts: ErrorAlertSettings,
}

impl NewProject {
    pub fn named(name: String, platform: Option<String>) -> NewProject {
        let d = ProjectSettings::default();
        NewProject {
            name,
            platform,
            retention: d.retention,
            rate_limit: d.rate_limit,
            alerts: d.alerts,
        }
    }

    fn settings(&self) -> ProjectSettings {
        ProjectSettings {
            retention: self.retention,
            rate_limit: self.rate_limit,
            alerts: self.alerts.clone(),
        }
    }
}

pub async fn create(
    State(state): State<SharedState>,
    ApiJson(p): ApiJson<NewProject>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let view = create_project(&state, p).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Shared by the API and the UI's form.
pub async fn create_project(state: &SharedState, p: NewProject) -> Result<ProjectView, ApiError> {
    validate_name(&p.name).map_err(|e| field_error("name", e))?;
    let id = state
        .with_store(move |s| {
            s.errors().create_project(
                p.name.trim(),
                p.platform.as_deref(),
                &p.settings(),
                Utc::now(),
            )
        })
        .await?;
    refresh_directory(state).await?;
    tracing::info!(
        operation = "project_create",
        project = id,
        "project created through the API"
    );
    let p = state.with_store(move |s| s.errors().project(id)).await?;
    Ok(view(state, p))
}

fn field_error(field: &str, message: impl std::fmt::Display) -> ApiError {
    let mut e = ApiError::bad_request(format!("{field}: {message}"));
    e.field = Some(field.into());
    e
}

/// JSON merge patch over `{name, platform, retention, rate_limit, alerts}`.
pub async fn patch(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<ProjectView>, ApiError> {
    let current = state.with_store(move |s| s.errors().project(id)).await?;
    if current.source == ProjectSource::Config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("project {id} is defined in the config file; change it there and reload"),
        ));
    }
    let patch: Value = parse_json(&body)?;
    let mut doc = serde_json::to_value(NewProject {
        name: current.name,
        platform: current.platform,
        retention: current.settings.retention,
        rate_limit: current.settings.rate_limit,
        alerts: current.settings.alerts,
    })
    .map_err(|e| ApiError::internal(e.to_string()))?;
    super::merge_patch(&mut doc, &patch);
    let next: NewProject = parse_json(doc.to_string().as_bytes())?;
    validate_name(&next.name).map_err(|e| field_error("name", e))?;
    state
        .with_store(move |s| {
            s.errors().update_project(
                id,
                next.name.trim(),
                next.platform.as_deref(),
                &next.settings(),
            )
        })
        .await?;
    refresh_directory(&state).await?;
    let p = state.with_store(move |s| s.errors().project(id)).await?;
    Ok(Json(view(&state, p)))
}

/// RFC 7396: objects merge, `null` deletes, anything else replaces.
pub async fn remove(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .with_store(move |s| s.errors().delete_project(id))
        .await?;
    refresh_directory(&state).await?;
    tracing::info!(
        operation = "project_delete",
        project = id,
        "project deleted"
    );
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[serde(default)]
    pub label: Option<String>,
}

pub async fn add_key(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let req: NewKey = if body.is_empty() {
        NewKey::default()
    } else {
        parse_json(&body)?
    };
    let key = state
        .with_store(move |s| s.errors().add_key(id, req.label.as_deref(), Utc::now()))
        .await?;
    refresh_directory(&state).await?;
    let p = state.with_store(move |s| s.errors().project(id)).await?;
    let v = view(&state, p)
        .keys
        .into_iter()
        .find(|k| k.public_key == key)
        .ok_or_else(|| ApiError::internal("key vanished"))?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Revokes a key: SDKs still using it get 401.
pub async fn revoke_key(
    State(state): State<SharedState>,
    Path((id, key)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .with_store(move |s| s.errors().revoke_key(id, &key, Utc::now()))
        .await?;
    refresh_directory(&state).await?;
    tracing::info!(
        operation = "key_revoke",
        project = id,
        "project key revoked"
    );
    Ok(StatusCode::NO_CONTENT)
}

pub async fn releases(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let since = Utc::now() - Duration::days(90);
    let releases = state
        .with_store(move |s| s.errors().release_health(id, since))
        .await?;
    Ok(Json(json!({ "releases": releases })))
}

pub async fn client_reports(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let reports = state
        .with_store(move |s| s.errors().client_reports(id))
        .await?;
    Ok(Json(json!({ "discarded": reports })))
}

pub async fn logs(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let logs = state
        .with_store(move |s| s.errors().sentry_logs(id, 200))
        .await?;
    Ok(Json(json!({ "logs": logs })))
}

#[cfg(test)]
mod tests {
    use super::dsn;

    #[test]
    fn dsn_from_the_external_url() {
        assert_eq!(
            dsn("http://127.0.0.1:9800", "abc", 42),
            "http://abc@127.0.0.1:9800/42"
        );
        assert_eq!(
            dsn("https://pharos.example.com/mon/", "abc", 7),
            "https://abc@pharos.example.com/mon/7"
        );
    }
}
