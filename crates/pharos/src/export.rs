//! `pharos export --data-dir DIR --out FILE`: everything made through the API or the UI
//! (monitors, error-tracking projects, scrape jobs) written as `pharos.yaml` sections, so a
//! team can move to config as code. Credentials become `${NAME}` references, their values
//! in `<FILE>.env` (mode 0600), as `pharos import` writes them. It reads the data directory
//! beside a running Pharos, as `pharos user` does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_norway::{Mapping, Value};

use crate::import::{Imported, hide_credentials, write_config};

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long, env = "PHAROS_DATA_DIR", default_value = "./pharos-data")]
    data_dir: PathBuf,
    /// The config to write; credentials go to `<out>.env` (mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Replace `--out` if it exists.
    #[arg(long)]
    force: bool,
}

pub fn main(args: ExportArgs) -> ExitCode {
    match export(&args) {
        Ok(exported) => {
            let header = format!(
                "# Exported by `pharos export` from {}: what was made through the API or the UI.\n# Put it in pharos.yaml, restart, and delete the API copies (a config item with the same id replaces nothing: ids must be unique).\n",
                args.data_dir.display()
            );
            match write_config(&args.out, args.force, &header, &exported) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("pharos export: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("pharos export: {e}");
            ExitCode::FAILURE
        }
    }
}

fn export(args: &ExportArgs) -> Result<Imported, String> {
    if !args.data_dir.join("pharos.db").exists() {
        return Err(format!(
            "{} holds no Pharos data (no pharos.db)",
            args.data_dir.display()
        ));
    }
    let store = pharos_store::Store::open_alongside(&args.data_dir).map_err(|e| e.to_string())?;
    pharos_app::monitors::seal_monitor_secrets(&store, &args.data_dir)
        .map_err(|e| e.to_string())?;
    let mut out = Imported::default();

    let mut monitors = Vec::new();
    for record in store.all_monitors().map_err(|e| e.to_string())? {
        if !matches!(record.source, pharos_store::MonitorSource::Api) {
            continue;
        }
        let spec = &record.spec;
        let full = serde_norway::to_value(spec).map_err(|e| e.to_string())?;
        let redacted = serde_norway::to_value(spec.redacted()).map_err(|e| e.to_string())?;
        // Whatever `redacted` hides is a credential: keep it out of the file.
        monitors.push(hide_credentials(
            &mut out,
            &format!("monitor_{}", spec.id),
            full,
            &redacted,
        ));
    }
    if !monitors.is_empty() {
        out.section("monitors", Value::Sequence(monitors));
    }

    let mut projects = Vec::new();
    for p in store.errors().projects().map_err(|e| e.to_string())? {
        if !matches!(p.source, pharos_store::errors::ProjectSource::Api) {
            continue;
        }
        let mut m = Mapping::new();
        m.insert("id".into(), Value::from(p.id));
        m.insert("name".into(), Value::String(p.name.clone()));
        if let Some(platform) = &p.platform {
            m.insert("platform".into(), Value::String(platform.clone()));
        }
        let keys: Vec<Value> = p
            .keys
            .iter()
            .map(|k| match k.revoked_at {
                None => Value::String(k.public_key.clone()),
                Some(_) => crate::import::map([
                    ("key", Value::String(k.public_key.clone())),
                    ("revoked", Value::Bool(true)),
                ]),
            })
            .collect();
        m.insert("keys".into(), Value::Sequence(keys));
        if let Value::Mapping(settings) =
            serde_norway::to_value(&p.settings).map_err(|e| e.to_string())?
        {
            m.extend(settings);
        }
        projects.push(Value::Mapping(m));
    }
    if !projects.is_empty() {
        out.section("projects", Value::Sequence(projects));
    }

    let jobs = store.scrape_jobs().map_err(|e| e.to_string())?;
    if !jobs.is_empty() {
        let key = pharos_scrape::secrets::SecretKey::load_or_create(&args.data_dir)
            .map_err(|e| e.to_string())?;
        let mut configs = Vec::new();
        for job in jobs {
            let doc = job.spec.clone();
            let secrets = if job.sealed_secrets.is_empty() {
                Default::default()
            } else {
                key.open(&job.name, &job.sealed_secrets)
                    .map_err(|e| format!("scrape job {}: {e}", job.name))?
            };
            // The stored document holds placeholders where the credentials go.
            let full = {
                let mut d = doc.clone();
                pharos_scrape::secrets::restore_secrets(&mut d, &secrets)
                    .map_err(|e| e.to_string())?;
                serde_norway::to_value(&d).map_err(|e| e.to_string())?
            };
            let redacted = serde_norway::to_value(&doc).map_err(|e| e.to_string())?;
            configs.push(hide_credentials(
                &mut out,
                &format!("scrape_{}", job.name),
                full,
                &redacted,
            ));
        }
        out.section("scrape_configs", Value::Sequence(configs));
    }
    if out.sections.is_empty() {
        out.notes.push(
            "nothing was made through the API or the UI: the config already holds everything"
                .into(),
        );
    }
    Ok(out)
}
