//! Scrape jobs made through the API, in the JSON shape of a `scrape_configs` entry, beside
//! the jobs of the config file. Config jobs are listed and read here but change only in
//! the file (a write is a conflict, as for config monitors); a name is unique across both.
//!
//! API jobs are kept in `pharos.db` with their credentials split out and sealed by a key in
//! the data directory (`pharos_scrape::secrets`); views show `<secret>` in their place,
//! and a `<secret>` sent back keeps the stored credential. They are handed back to the
//! scrape manager at start by [`restore_scrape_jobs`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pharos_scrape::config::{ScrapeConfig, check_discovery};
use pharos_scrape::manager::{ApiJobError, ScrapeManager};
use pharos_scrape::secrets::{self, SecretKey};
use pharos_store::{ScrapeJobRecord, Store};
use serde::Serialize;
use serde_json::Value;

pub use pharos_scrape::manager::JobSource;

use crate::document::{leading_field, merge_patch, parse_json};
use crate::{App, AppError, Caller, blocking};

#[derive(Debug, Serialize)]
pub struct TargetView {
    #[serde(rename = "scrapeUrl")]
    pub scrape_url: String,
    pub health: String,
    #[serde(rename = "lastError")]
    pub last_error: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct ScrapeJobView {
    pub job_name: String,
    pub source: JobSource,
    /// As it runs: the job's own values or those of `global`.
    pub scrape_interval: String,
    pub scrape_timeout: String,
    pub metrics_path: String,
    pub scheme: String,
    /// True for JSON targets (a `json:` list).
    pub json: bool,
    /// Why the job is not scraped, when it is not (discovery errors, a job that the
    /// current `global` section makes invalid).
    pub errors: Vec<String>,
    pub targets: Vec<TargetView>,
    /// API jobs: the definition as sent, credentials shown as `<secret>`. Config jobs are
    /// read in the config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

fn key(scrape: &ScrapeManager) -> Result<&SecretKey, AppError> {
    scrape
        .secrets
        .get()
        .ok_or_else(|| AppError::Internal("the secrets key is not loaded".into()))
}

fn view(
    scrape: &ScrapeManager,
    source: JobSource,
    config: &ScrapeConfig,
    record: Option<&ScrapeJobRecord>,
) -> ScrapeJobView {
    let global = scrape.global();
    let mut errors = Vec::new();
    let (interval, timeout) = match config.resolve(&global) {
        Ok(j) => (j.interval, j.timeout),
        Err(e) => {
            errors.push(e.to_string());
            (std::time::Duration::ZERO, std::time::Duration::ZERO)
        }
    };
    if let Some((_, notes)) = scrape
        .job_notes
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&config.job_name)
    {
        for n in notes {
            if !errors.contains(n) {
                errors.push(n.clone());
            }
        }
    }
    let targets = scrape
        .targets()
        .iter()
        .filter(|t| t.target.job == config.job_name)
        .map(|t| {
            let h = t.health.read().unwrap_or_else(|p| p.into_inner()).clone();
            TargetView {
                scrape_url: t.target.url.clone(),
                health: h.health,
                last_error: h.last_error,
                labels: t
                    .target
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect(),
            }
        })
        .collect();
    let duration =
        |d: std::time::Duration| pharos_model::HumanDuration::from_secs(d.as_secs()).to_string();
    ScrapeJobView {
        job_name: config.job_name.clone(),
        source,
        scrape_interval: duration(interval),
        scrape_timeout: duration(timeout),
        metrics_path: config.metrics_path.clone(),
        scheme: config.scheme.clone(),
        json: config.json.is_some(),
        errors,
        targets,
        spec: record.map(|r| r.spec.clone()),
        created_at: record.map(|r| r.created_at),
        updated_at: record.map(|r| r.updated_at),
    }
}

/// A job's checks failing, with the field at fault named when the message starts with it
/// (`static_configs[0]: target ...`, `json[1]: path ...`).
fn invalid(message: String) -> AppError {
    let field = leading_field(&message, "_.[]").or_else(|| {
        message
            .starts_with("scrape timeout greater than scrape interval")
            .then(|| "scrape_timeout".to_string())
    });
    AppError::Invalid { field, message }
}

fn from_job_error(e: ApiJobError) -> AppError {
    match e {
        ApiJobError::Conflict(m) => AppError::Conflict(m),
        ApiJobError::Invalid(e) => invalid(e.to_string()),
    }
}

/// A JSON body as a job document: an object, with `job_name` filled in from the URL on
/// PUT and never changed.
fn job_document(body: &[u8], name: Option<&str>) -> Result<Value, AppError> {
    let mut doc: Value = parse_json(body)?;
    let Some(map) = doc.as_object_mut() else {
        return Err(AppError::invalid(
            "send a JSON object: a scrape_configs entry (job_name, static_configs, ...)",
        ));
    };
    if let Some(name) = name {
        match map.get("job_name") {
            None => {
                map.insert("job_name".into(), Value::String(name.to_string()));
            }
            Some(Value::String(n)) if n == name => {}
            Some(_) => {
                return Err(AppError::invalid_field(
                    "job_name",
                    "a job's name cannot change; create a new job with POST instead",
                ));
            }
        }
    }
    Ok(doc)
}

/// The checks every API job passes: a name, supported discovery, the config's own
/// field types (errors naming the field), then Prometheus's load checks.
fn parse_job(scrape: &ScrapeManager, doc: &Value) -> Result<ScrapeConfig, AppError> {
    let Some(map) = doc.as_object() else {
        return Err(AppError::invalid("send a JSON object"));
    };
    match map.get("job_name") {
        Some(Value::String(n)) if !n.trim().is_empty() => {
            if n.contains('/') || n.chars().any(char::is_control) {
                return Err(AppError::invalid_field(
                    "job_name",
                    "must not contain / or control characters (it is part of the job's URL)",
                ));
            }
        }
        _ => {
            return Err(AppError::invalid_field(
                "job_name",
                "required, a non-empty string",
            ));
        }
    }
    check_discovery(|k| map.contains_key(k)).map_err(|e| invalid(e.to_string()))?;
    refuse_local_files(doc, "")?;
    let bytes = serde_json::to_vec(doc).map_err(|e| AppError::Internal(e.to_string()))?;
    let config: ScrapeConfig = parse_json(&bytes)?;
    scrape.check_api_job(&config).map_err(from_job_error)?;
    Ok(config)
}

/// API jobs may not name files on the Pharos host (`bearer_token_file`, `password_file`,
/// `tls_config.key_file`, file discovery, `http_headers`' `files`, ...): whoever holds the
/// API token could otherwise have any file Pharos can read sent to a target they control.
/// Nor a unix socket (`docker_sd_configs` with `host: unix://...`): the Docker daemon's
/// socket is the host's root. Only the config file, written by whoever runs Pharos, may.
fn refuse_local_files(doc: &Value, path: &str) -> Result<(), AppError> {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match doc {
        Value::Object(map) => {
            for (key, value) in map {
                if key.ends_with("_file") || key == "file_sd_configs" || key == "files" {
                    return Err(AppError::invalid_field(
                        at(key),
                        "scrape jobs made through the API cannot read files on the Pharos host; put the value itself in the job, or define the job in the config file",
                    ));
                }
                if key == "host"
                    && value
                        .as_str()
                        .is_some_and(|h| h.trim_start().starts_with("unix:"))
                {
                    return Err(AppError::invalid_field(
                        at(key),
                        "scrape jobs made through the API cannot use a unix socket of the Pharos host; define the job in the config file",
                    ));
                }
                refuse_local_files(value, &at(key))?;
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                refuse_local_files(value, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Seals a (complete) job document's credentials; returns the redacted document and the
/// sealed blob (empty when the job has no credentials).
fn seal(key: &SecretKey, name: &str, doc: &Value) -> Result<(Value, Vec<u8>), AppError> {
    let mut redacted = doc.clone();
    let secrets = secrets::split_secrets(&mut redacted);
    let sealed = if secrets.is_empty() {
        Vec::new()
    } else {
        key.seal(name, &secrets)
            .map_err(|e| AppError::Internal(e.to_string()))?
    };
    Ok((redacted, sealed))
}

impl App {
    fn scrape_manager(&self) -> Result<Arc<ScrapeManager>, AppError> {
        self.metrics_store
            .as_ref()
            .map(|m| m.scrape.clone())
            .ok_or_else(|| AppError::Disabled("the metrics store is off".into()))
    }

    /// Config jobs in file order, then API jobs by name.
    pub async fn scrape_jobs(&self) -> Result<Vec<ScrapeJobView>, AppError> {
        let scrape = self.scrape_manager()?;
        let records: BTreeMap<String, ScrapeJobRecord> = self
            .with_store(|s| s.scrape_jobs())
            .await?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        Ok(scrape
            .jobs()
            .iter()
            .map(|(source, c)| view(&scrape, *source, c, records.get(&c.job_name)))
            .collect())
    }

    pub async fn scrape_job(&self, name: &str) -> Result<ScrapeJobView, AppError> {
        let scrape = self.scrape_manager()?;
        let Some((source, config)) = scrape.jobs().into_iter().find(|(_, c)| c.job_name == name)
        else {
            return Err(AppError::NotFound(format!("scrape job {name:?}")));
        };
        let record = match source {
            JobSource::Api => {
                let n = name.to_string();
                self.with_store(move |s| s.scrape_job(&n)).await?
            }
            JobSource::Config => None,
        };
        Ok(view(&scrape, source, &config, record.as_ref()))
    }

    /// A new job from a `scrape_configs` entry in JSON.
    pub async fn create_scrape_job(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<ScrapeJobView, AppError> {
        caller.require_admin("change scrape jobs")?;
        let scrape = self.scrape_manager()?;
        let mut doc = job_document(body, None)?;
        // On create there is nothing stored for a `<secret>` to stand for.
        secrets::restore_secrets(&mut doc, &BTreeMap::new()).map_err(|e| invalid(e.to_string()))?;
        let config = parse_job(&scrape, &doc)?;
        let name = config.job_name.clone();
        if let Some((source, _)) = scrape.jobs().iter().find(|(_, c)| c.job_name == name) {
            return Err(AppError::Conflict(match source {
                JobSource::Config => format!(
                    "scrape job {name:?} is defined in the config file; choose another job_name"
                ),
                JobSource::Api => format!(
                    "a scrape job named {name:?} already exists; change it with PUT or PATCH /api/v1/scrape_jobs/{name}"
                ),
            }));
        }
        let (redacted, sealed) = seal(key(&scrape)?, &name, &doc)?;
        let n = name.clone();
        self.with_store(move |s| s.create_scrape_job(&n, &redacted, &sealed, Utc::now()))
            .await?;
        let s2 = scrape.clone();
        if let Err(e) = blocking(move || s2.put_api_job(config, true)).await? {
            // A reload added a config job of that name meanwhile: the file wins.
            let n = name.clone();
            self.with_store(move |s| s.delete_scrape_job(&n)).await?;
            return Err(from_job_error(e));
        }
        tracing::info!(operation = "scrape_job_create", job = %name, caller = %caller, "scrape job created");
        self.scrape_job(&name).await
    }

    /// The stored record of an API job; a config job is a conflict, an unknown one not
    /// found.
    async fn api_scrape_job(
        &self,
        scrape: &ScrapeManager,
        name: &str,
    ) -> Result<ScrapeJobRecord, AppError> {
        if scrape
            .jobs()
            .iter()
            .any(|(s, c)| *s == JobSource::Config && c.job_name == name)
        {
            return Err(AppError::Conflict(format!(
                "scrape job {name:?} is defined in the config file; change it there and reload"
            )));
        }
        let n = name.to_string();
        self.with_store(move |s| s.scrape_job(&n))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("scrape job {name:?}")))
    }

    /// Replaces an API job with `doc` (where `<secret>` keeps the stored credential).
    async fn replace_scrape_job(
        &self,
        scrape: Arc<ScrapeManager>,
        record: &ScrapeJobRecord,
        mut doc: Value,
        caller: &Caller,
    ) -> Result<ScrapeJobView, AppError> {
        let name = record.name.clone();
        let key = key(&scrape)?;
        let old = if record.sealed_secrets.is_empty() {
            BTreeMap::new()
        } else {
            // A key that no longer opens them leaves nothing to keep; new values still work.
            key.open(&name, &record.sealed_secrets).unwrap_or_default()
        };
        secrets::restore_secrets(&mut doc, &old).map_err(|e| invalid(e.to_string()))?;
        let config = parse_job(&scrape, &doc)?;
        let (redacted, sealed) = seal(key, &name, &doc)?;
        let n = name.clone();
        self.with_store(move |s| s.update_scrape_job(&n, &redacted, &sealed, Utc::now()))
            .await?;
        let s2 = scrape.clone();
        blocking(move || s2.put_api_job(config, false))
            .await?
            .map_err(from_job_error)?;
        tracing::info!(operation = "scrape_job_update", job = %name, caller = %caller, "scrape job changed");
        self.scrape_job(&name).await
    }

    /// The whole job anew (`PUT`).
    pub async fn replace_scrape_job_with(
        &self,
        caller: &Caller,
        name: &str,
        body: &[u8],
    ) -> Result<ScrapeJobView, AppError> {
        caller.require_admin("change scrape jobs")?;
        let scrape = self.scrape_manager()?;
        let record = self.api_scrape_job(&scrape, name).await?;
        let doc = job_document(body, Some(name))?;
        self.replace_scrape_job(scrape, &record, doc, caller).await
    }

    /// A JSON merge patch (RFC 7396) over the stored job.
    pub async fn patch_scrape_job(
        &self,
        caller: &Caller,
        name: &str,
        body: &[u8],
    ) -> Result<ScrapeJobView, AppError> {
        caller.require_admin("change scrape jobs")?;
        let scrape = self.scrape_manager()?;
        let record = self.api_scrape_job(&scrape, name).await?;
        let patch: Value = parse_json(body)?;
        if !patch.is_object() {
            return Err(AppError::invalid(
                "send a JSON object with the fields to change (JSON merge patch)",
            ));
        }
        let mut doc = record.spec.clone();
        merge_patch(&mut doc, &patch);
        let bytes = serde_json::to_vec(&doc).map_err(|e| AppError::Internal(e.to_string()))?;
        let doc = job_document(&bytes, Some(name))?;
        self.replace_scrape_job(scrape, &record, doc, caller).await
    }

    /// Stops an API job; its series get staleness markers.
    pub async fn delete_scrape_job(&self, caller: &Caller, name: &str) -> Result<(), AppError> {
        caller.require_admin("change scrape jobs")?;
        let scrape = self.scrape_manager()?;
        self.api_scrape_job(&scrape, name).await?;
        let n = name.to_string();
        self.with_store(move |s| s.delete_scrape_job(&n)).await?;
        let n = name.to_string();
        blocking(move || scrape.remove_api_job(&n)).await?;
        tracing::info!(operation = "scrape_job_delete", job = %name, caller = %caller, "scrape job deleted");
        Ok(())
    }
}

/// At start, before the config is applied: loads (or makes) the secrets key and hands the
/// stored API jobs to the scrape manager. A job whose credentials cannot be opened runs
/// without them, with a warning naming it; one that no longer parses is skipped likewise.
pub async fn restore_scrape_jobs(
    store: Arc<Store>,
    scrape: Arc<ScrapeManager>,
    data_dir: &Path,
) -> Result<usize, AppError> {
    let dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let key = SecretKey::load_or_create(&dir).map_err(|e| AppError::Internal(e.to_string()))?;
        let rows = store.scrape_jobs()?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in rows {
            let mut doc = r.spec.clone();
            let opened = if r.sealed_secrets.is_empty() {
                Ok(BTreeMap::new())
            } else {
                key.open(&r.name, &r.sealed_secrets)
            };
            let secrets = opened.unwrap_or_else(|e| {
                tracing::warn!(operation = "scrape_job_restore", job = %r.name, error = %e, "scrape job restored without its credentials");
                BTreeMap::new()
            });
            if secrets::restore_secrets(&mut doc, &secrets).is_err() {
                drop_placeholders(&mut doc);
            }
            match serde_json::from_value::<ScrapeConfig>(doc) {
                Ok(c) => jobs.push(c),
                Err(e) => {
                    tracing::warn!(operation = "scrape_job_restore", job = %r.name, error = %e, "stored scrape job no longer reads; not scraped (PUT it again)");
                }
            }
        }
        let n = jobs.len();
        let _ = scrape.secrets.set(key);
        scrape.restore_api_jobs(jobs);
        Ok(n)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
}

/// Removes every field still holding the `<secret>` placeholder.
fn drop_placeholders(doc: &mut Value) {
    match doc {
        Value::Object(m) => {
            m.retain(|_, v| v.as_str() != Some(secrets::REDACTED));
            m.values_mut().for_each(drop_placeholders);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_placeholders),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_messages_name_their_field() {
        let field = |e: AppError| match e {
            AppError::Invalid { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(invalid(
                "static_configs[0]: target \"http://x\": a target is host:port".into()
            )),
            Some("static_configs[0]".into())
        );
        assert_eq!(
            field(invalid(
                "scrape timeout greater than scrape interval for scrape config with job name \"a\""
                    .into()
            )),
            Some("scrape_timeout".into())
        );
        assert_eq!(
            field(invalid("at most one of basic_auth, bearer_token".into())),
            None
        );
    }

    #[test]
    fn api_jobs_cannot_name_files_on_the_host() {
        let field = |doc: Value| match refuse_local_files(&doc, "") {
            Err(AppError::Invalid { field, message }) => {
                assert!(
                    message.contains("cannot read files") || message.contains("unix socket"),
                    "{message}"
                );
                field
            }
            other => panic!("{other:?}"),
        };
        let job = |extra: Value| {
            let mut doc =
                serde_json::json!({"job_name": "x", "static_configs": [{"targets": ["a:1"]}]});
            doc.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            doc
        };
        assert_eq!(
            field(job(serde_json::json!({"bearer_token_file": "/etc/shadow"}))),
            Some("bearer_token_file".into())
        );
        assert_eq!(
            field(job(
                serde_json::json!({"basic_auth": {"username": "u", "password_file": "/x"}})
            )),
            Some("basic_auth.password_file".into())
        );
        assert_eq!(
            field(job(serde_json::json!({"tls_config": {"ca_file": "/x"}}))),
            Some("tls_config.ca_file".into())
        );
        assert_eq!(
            field(job(
                serde_json::json!({"authorization": {"credentials_file": "/x"}})
            )),
            Some("authorization.credentials_file".into())
        );
        assert_eq!(
            field(job(
                serde_json::json!({"file_sd_configs": [{"files": ["/x/*.json"]}]})
            )),
            Some("file_sd_configs".into())
        );
        assert!(refuse_local_files(&job(serde_json::json!({"bearer_token": "t"})), "").is_ok());
        assert_eq!(
            field(job(
                serde_json::json!({"http_headers": {"X-Key": {"files": ["/etc/shadow"]}}})
            )),
            Some("http_headers.X-Key.files".into())
        );
        assert_eq!(
            field(job(
                serde_json::json!({"docker_sd_configs": [{"host": "unix:///var/run/docker.sock"}]})
            )),
            Some("docker_sd_configs[0].host".into())
        );
        assert!(
            refuse_local_files(
                &job(serde_json::json!({"docker_sd_configs": [{"host": "tcp://docker:2375"}]})),
                ""
            )
            .is_ok()
        );
    }
}
