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
        // Never one of Pharos's own variables (PHAROS_URL, PHAROS_TOKEN, ...).
        if name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || name.starts_with("PHAROS")
        {
            name = format!("IMPORTED_{name}");
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
        header.push_str(&format!("# Not carried over: {}\n", comment_text(what)));
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
    let env_file = env_path(out);
    if !imported.secrets.is_empty() {
        if env_file.exists() && !force {
            return Err(format!(
                "{} exists: pass --force to replace it",
                env_file.display()
            ));
        }
        // Made 0600 under a new name and renamed over, so an older file's mode never
        // carries over to the secrets.
        let tmp = env_file.with_extension("env.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        for (k, v) in &imported.secrets {
            writeln!(f, "{k}={}", env_value(v))
                .map_err(|e| format!("cannot write {}: {e}", env_file.display()))?;
        }
        drop(f);
        std::fs::rename(&tmp, &env_file)
            .map_err(|e| format!("cannot write {}: {e}", env_file.display()))?;
    }
    std::fs::write(out, &yaml).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
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

/// A value in double quotes with `\\ " $` and the backquote escaped: systemd's
/// `EnvironmentFile=` and a shell's `set -a; . file` read it alike (docker's `--env-file`
/// takes it literally: use compose's `env_file:`).
fn env_value(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
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
        let sections = escape_references(Value::Mapping(imported.sections.clone()), imported);
        serde_norway::to_string(&sections).map_err(|e| e.to_string())?
    };
    Ok(format!("{header}{body}"))
}

/// `${` in a value read from elsewhere would be taken for an environment variable when
/// Pharos loads the config (a monitor URL `…?x=${SECRET}` would send that secret): every
/// `${` but the references [`Imported::secret`] wrote is written `$${`, which the loader
/// reads as a literal `${`.
fn escape_references(value: Value, imported: &Imported) -> Value {
    match value {
        Value::String(s) => {
            let ours = s
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .is_some_and(|name| imported.secrets.iter().any(|(k, _)| k == name));
            Value::String(if ours { s } else { s.replace("${", "$${") })
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .map(|v| escape_references(v, imported))
                .collect(),
        ),
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| (k, escape_references(v, imported)))
                .collect(),
        ),
        other => other,
    }
}

/// A line of a `#` comment: names from the imported file may hold line breaks, which
/// would end the comment and start YAML of their own.
pub fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// `full` with every credential [`MonitorSpec::redacted`] (or a stored scrape job) hides
/// replaced by a `${NAME}` reference, its value kept for the `.env` file: a string the
/// redacted side marks `<redacted>` at the same place, or a `token` it leaves out.
pub fn hide_credentials(out: &mut Imported, prefix: &str, full: Value, redacted: &Value) -> Value {
    match (full, redacted) {
        (Value::Mapping(m), Value::Mapping(r)) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| {
                    let name = k.as_str().unwrap_or_default().to_string();
                    let hint = format!("{prefix}_{name}");
                    let v = match (r.get(&k), v) {
                        (Some(rv), v) if !rv.is_null() => hide_credentials(out, &hint, v, rv),
                        // A heartbeat's token is left out of the redacted spec altogether.
                        (_, Value::String(s)) if name == "token" => {
                            Value::String(out.secret(&hint, &s))
                        }
                        (_, v) => v,
                    };
                    (k, v)
                })
                .collect(),
        ),
        (Value::Sequence(s), Value::Sequence(r)) => Value::Sequence(
            s.into_iter()
                .enumerate()
                .map(|(i, v)| match r.get(i) {
                    Some(rv) => hide_credentials(out, &format!("{prefix}_{i}"), v, rv),
                    None => v,
                })
                .collect(),
        ),
        (Value::String(s), Value::String(r))
            if s != *r && r.contains(pharos_model::monitor::REDACTED) =>
        {
            Value::String(out.secret(prefix, &s))
        }
        (Value::String(s), Value::String(r)) if s != *r && r == "<secret>" => {
            Value::String(out.secret(prefix, &s))
        }
        (v, _) => v,
    }
}

/// A monitor as written, its credentials moved out by [`hide_credentials`] against the
/// spec Pharos reads from it; one that does not read is left for the config check to name.
pub fn hide_monitor_credentials(out: &mut Imported, monitor: Value) -> Value {
    let Ok(spec) = serde_norway::from_value::<pharos_model::MonitorSpec>(monitor.clone()) else {
        return monitor;
    };
    let Ok(redacted) = serde_norway::to_value(spec.redacted()) else {
        return monitor;
    };
    hide_credentials(out, &format!("monitor_{}", spec.id), monitor, &redacted)
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
