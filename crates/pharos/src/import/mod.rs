//! `pharos import FORMAT FILE --out pharos.yaml`: moving in from the tools teams use
//! today. Each format is read into the sections of `pharos.yaml` it maps to, with every
//! thing that could not be carried over named; secrets become `${NAME}` references, their
//! values written beside the config in a `.env` file only its owner can read. The result
//! is checked by the same parser `pharos serve` uses before the command says it is done.

mod alertmanager;
mod healthchecks;
mod prometheus;
mod uptime_kuma;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_norway::{Mapping, Value};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// An Uptime Kuma backup (Settings → Backup → Export, JSON).
    UptimeKuma,
    /// A healthchecks.io API export: the answer of `GET /api/v3/checks/`.
    Healthchecks,
    /// An Alertmanager config (`alertmanager.yml`).
    Alertmanager,
    /// A Prometheus config (`prometheus.yml`).
    Prometheus,
}

#[derive(Args)]
pub struct ImportArgs {
    #[arg(value_enum)]
    format: Format,
    /// The file to read.
    file: PathBuf,
    /// The Pharos config to write; its secrets go to `<out>.env` (mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Replace `--out` if it exists.
    #[arg(long)]
    force: bool,
}

/// What one import makes: config sections in order, secrets by variable name, and what
/// was left behind.
#[derive(Default)]
pub struct Imported {
    pub sections: Mapping,
    secrets: Vec<(String, String)>,
    pub not_carried: Vec<String>,
    pub notes: Vec<String>,
}

impl Imported {
    /// Keeps `value` out of the config: returns the `${NAME}` reference to write instead.
    pub fn secret(&mut self, name_hint: &str, value: &str) -> String {
        let mut name: String = name_hint
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        name = name.trim_matches('_').to_string();
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            name = format!("SECRET_{name}");
        }
        let base = name.clone();
        let mut n = 2;
        while self.secrets.iter().any(|(k, v)| *k == name && v != value) {
            name = format!("{base}_{n}");
            n += 1;
        }
        if !self.secrets.iter().any(|(k, _)| *k == name) {
            self.secrets.push((name.clone(), value.to_string()));
        }
        format!("${{{name}}}")
    }

    pub fn section(&mut self, key: &str, value: Value) {
        self.sections.insert(Value::String(key.into()), value);
    }

    pub fn not_carried(&mut self, what: impl Into<String>) {
        self.not_carried.push(what.into());
    }
}

pub fn main(args: ImportArgs) -> ExitCode {
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pharos import: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &ImportArgs) -> Result<ExitCode, String> {
    if args.out.exists() && !args.force {
        return Err(format!(
            "{} exists: pass --force to replace it",
            args.out.display()
        ));
    }
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let imported =
        convert(args.format, &text).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let mut header = format!(
        "# Imported by `pharos import {}` from {}.\n",
        args.format
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default(),
        args.file.display()
    );
    for what in &imported.not_carried {
        header.push_str(&format!("# Not carried over: {what}\n"));
    }
    write_config(&args.out, args.force, &header, &imported)
}

/// Writes the config (and its `.env` of secrets), says what was left behind, and checks
/// the result with the parser `pharos serve` uses, the secrets as its environment.
pub fn write_config(
    out: &Path,
    force: bool,
    header: &str,
    imported: &Imported,
) -> Result<ExitCode, String> {
    if out.exists() && !force {
        return Err(format!(
            "{} exists: pass --force to replace it",
            out.display()
        ));
    }
    let yaml = render(header, imported)?;
    std::fs::write(out, &yaml).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let env_file = env_path(out);
    if !imported.secrets.is_empty() {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&env_file)
            .map_err(|e| format!("cannot write {}: {e}", env_file.display()))?;
        for (k, v) in &imported.secrets {
            // systemd's EnvironmentFile= and `set -a; . file` both read KEY='value'.
            writeln!(f, "{k}='{}'", v.replace('\'', "'\\''"))
                .map_err(|e| format!("cannot write {}: {e}", env_file.display()))?;
        }
    }
    println!("wrote {}", out.display());
    if !imported.secrets.is_empty() {
        println!(
            "wrote {} ({} secrets; load it into Pharos's environment, e.g. EnvironmentFile= in the systemd unit)",
            env_file.display(),
            imported.secrets.len()
        );
    }
    for note in &imported.notes {
        println!("note: {note}");
    }
    for what in &imported.not_carried {
        println!("not carried over: {what}");
    }
    let env = |name: &str| {
        imported
            .secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    match crate::config::Config::parse(&yaml, out, &env) {
        Ok(config) => {
            println!(
                "checked: {} monitors, {} projects, {} receivers, {} scrape jobs",
                config.monitors.len(),
                config.projects.len(),
                config.receivers.len(),
                config.scrape_configs.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("the written config does not check yet, fix it by hand: {e}");
            Ok(ExitCode::from(3))
        }
    }
}

pub fn convert(format: Format, text: &str) -> Result<Imported, String> {
    match format {
        Format::UptimeKuma => uptime_kuma::convert(text),
        Format::Healthchecks => healthchecks::convert(text),
        Format::Alertmanager => alertmanager::convert(text),
        Format::Prometheus => prometheus::convert(text),
    }
}

fn env_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".env");
    out.with_file_name(name)
}

fn render(header: &str, imported: &Imported) -> Result<String, String> {
    let body = if imported.sections.is_empty() {
        String::new()
    } else {
        serde_norway::to_string(&imported.sections).map_err(|e| e.to_string())?
    };
    Ok(format!("{header}{body}"))
}

/// A YAML mapping from `(key, value)` pairs, leaving out nulls.
pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        if !v.is_null() {
            m.insert(Value::String(k.into()), v);
        }
    }
    Value::Mapping(m)
}

/// Seconds as a duration Pharos reads (`90s`, `5m`, `2h`, `1d`).
pub fn duration(seconds: u64) -> Value {
    let text = match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    };
    Value::String(text)
}

#[cfg(test)]
mod tests;
