//! Scrape jobs made through the API, kept in `pharos.db` with their credentials sealed by
//! a key in the data directory: handing them back to the scrape manager at start.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use pharos_scrape::config::ScrapeConfig;
use pharos_scrape::manager::ScrapeManager;
use pharos_scrape::secrets::{self, SecretKey};
use pharos_store::Store;
use serde_json::Value;

use crate::AppError;

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
        let key = SecretKey::load_or_create(&dir).map_err(AppError::Internal)?;
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
