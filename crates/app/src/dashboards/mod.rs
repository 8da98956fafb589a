//! Dashboards: the model (rows of panels, each panel PromQL targets with a unit and
//! thresholds), reading it from Pharos's YAML format ([`yaml`]) or from a Grafana
//! dashboard JSON export ([`grafana`]), template variables and Grafana's `$__interval`
//! family ([`variables`]), and the set of dashboards a running Pharos shows
//! ([`DashboardSet`]): those listed in `pharos.yaml` plus those uploaded through the API,
//! which are kept as files in `<data dir>/dashboards/` so they survive a restart, plus
//! the built-in ones embedded in the binary ([`builtin`]).
//!
//! Dashboards only describe queries; the UI runs them through the PromQL engine.

pub mod builtin;
pub mod colour;
pub mod grafana;
pub mod variables;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Serialize;

/// One dashboard, whatever format it was written in.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Dashboard {
    /// Used in URLs: lower-case letters, digits, `-` and `_`.
    pub id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub source: Source,
    /// The range shown when none is picked (`6h`); Grafana's `time.from`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_range: Option<String>,
    pub variables: Vec<Variable>,
    pub rows: Vec<Row>,
    /// What an import could not carry over (a panel on a Loki data source, say).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum Source {
    /// Listed in the config file (the path of the dashboard file).
    Config(PathBuf),
    /// Uploaded through the API or the UI.
    #[default]
    Uploaded,
    /// Embedded in the binary ([`builtin`]); read-only, and hidden by a config or uploaded
    /// dashboard with the same id.
    Builtin,
}

impl Source {
    /// `config`, `uploaded` or `builtin`, as the API names it.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Config(_) => "config",
            Source::Uploaded => "uploaded",
            Source::Builtin => "builtin",
        }
    }
}

/// A template variable; queries use it as `$name`, `${name}` or `[[name]]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Variable {
    pub name: String,
    /// The value(s) used unless the page's URL picks others (`?var-name=value`).
    pub current: Vec<String>,
    /// Values offered in the picker (a custom variable's list, an interval's choices).
    pub options: Vec<String>,
    /// What "All" stands for in a query; by default every option joined as a regex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_value: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Row {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub panels: Vec<Panel>,
}

/// Grafana's grid is 24 columns wide; so is ours.
pub const GRID_COLUMNS: u8 = 24;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Panel {
    pub title: String,
    pub kind: PanelKind,
    pub targets: Vec<Target>,
    /// A Grafana unit id: `s`, `ms`, `bytes`, `percent`, `percentunit`, `reqps`, `short`…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// Ascending; a value at or above a threshold takes its colour.
    pub thresholds: Vec<Threshold>,
    /// Columns of the 24-column grid.
    pub width: u8,
    /// Column the panel starts at, when the source placed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<u8>,
    /// Grid units of 30 px, as Grafana's `gridPos.h`.
    pub height: u8,
    /// How a stat panel reduces a series to one number.
    pub reduce: Reduce,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Default for Panel {
    fn default() -> Self {
        Panel {
            title: String::new(),
            kind: PanelKind::TimeSeries,
            targets: Vec::new(),
            unit: None,
            decimals: None,
            thresholds: Vec::new(),
            width: 12,
            x: None,
            height: 8,
            reduce: Reduce::Last,
            description: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "detail")]
pub enum PanelKind {
    TimeSeries,
    Stat,
    Table,
    /// Grafana's text panel: its content, shown as plain text.
    Text(String),
    /// A panel type Pharos does not draw, shown as a placeholder naming the type.
    Unsupported(String),
}

impl PanelKind {
    pub fn name(&self) -> &str {
        match self {
            PanelKind::TimeSeries => "timeseries",
            PanelKind::Stat => "stat",
            PanelKind::Table => "table",
            PanelKind::Text(_) => "text",
            PanelKind::Unsupported(t) => t,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Target {
    pub expr: String,
    /// Grafana's legend format: `{{label}}` is replaced by the series' label value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legend: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Threshold {
    pub value: f64,
    pub color: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduce {
    /// The last non-NaN value (Grafana's `lastNotNull`, its default).
    #[default]
    Last,
    First,
    Mean,
    Max,
    Min,
    Sum,
}

impl Reduce {
    pub fn parse(s: &str) -> Option<Reduce> {
        Some(match s {
            "last" | "lastNotNull" | "current" => Reduce::Last,
            "first" | "firstNotNull" => Reduce::First,
            "mean" | "avg" => Reduce::Mean,
            "max" => Reduce::Max,
            "min" => Reduce::Min,
            "sum" | "total" => Reduce::Sum,
            _ => return None,
        })
    }

    pub fn apply(self, values: impl Iterator<Item = f64>) -> Option<f64> {
        let vals: Vec<f64> = values.filter(|v| !v.is_nan()).collect();
        if vals.is_empty() {
            return None;
        }
        Some(match self {
            Reduce::Last => vals[vals.len() - 1],
            Reduce::First => vals[0],
            Reduce::Mean => vals.iter().sum::<f64>() / vals.len() as f64,
            Reduce::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Reduce::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
            Reduce::Sum => vals.iter().sum(),
        })
    }
}

/// Where a dashboard file is wrong: file, line and column when known, field, message.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl DashboardError {
    pub fn new(message: impl Into<String>) -> Self {
        DashboardError {
            file: None,
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn in_file(mut self, path: &Path) -> Self {
        self.file = Some(path.to_path_buf());
        self
    }
}

impl fmt::Display for DashboardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let (Some(l), Some(c)) = (self.line, self.column) {
                write!(f, ":{l}:{c}")?;
            } else if let Some(l) = self.line {
                write!(f, ":{l}")?;
            }
            f.write_str(": ")?;
        } else if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for DashboardError {}

/// Refuses a dashboard whose threshold colours are not colours ([`colour::is_colour`]),
/// naming the panel and the colour.
fn check_colours(d: &Dashboard) -> Result<(), DashboardError> {
    for (r, row) in d.rows.iter().enumerate() {
        for (p, panel) in row.panels.iter().enumerate() {
            for (t, threshold) in panel.thresholds.iter().enumerate() {
                if !colour::is_colour(&threshold.color) {
                    return Err(DashboardError {
                        field: Some(format!("rows[{r}].panels[{p}].thresholds[{t}].color")),
                        ..DashboardError::new(format!(
                            "panel {:?}: {:?} is not a colour; use #rgb, #rrggbb, #rrggbbaa, rgb(), rgba(), a CSS colour name or a Grafana one such as dark-red",
                            panel.title, threshold.color
                        ))
                    });
                }
            }
        }
    }
    Ok(())
}

/// The two formats a dashboard arrives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Grafana,
}

impl Format {
    /// Grafana exports are JSON objects with `panels` (or the API's `{"dashboard": …}`
    /// wrapper, or the old `rows`); everything else is read as Pharos YAML.
    pub fn detect(text: &str) -> Format {
        let t = text.trim_start();
        if t.starts_with('{')
            && let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(t)
            && (m.contains_key("panels") || m.contains_key("dashboard") || m.contains_key("rows"))
        {
            return Format::Grafana;
        }
        Format::Yaml
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Grafana => "json",
        }
    }
}

/// Parses a dashboard in either format; `fallback_id` (a file stem) names it when the
/// dashboard itself carries no id, uid or title.
pub fn parse(text: &str, fallback_id: &str, source: Source) -> Result<Dashboard, DashboardError> {
    let mut d = match Format::detect(text) {
        Format::Grafana => grafana::import(text)?,
        Format::Yaml => yaml::parse(text)?,
    };
    if d.id.is_empty() {
        d.id = slug(if d.title.is_empty() {
            fallback_id
        } else {
            &d.title
        });
    }
    if d.id.is_empty() {
        d.id = slug(fallback_id);
    }
    if d.id.is_empty() {
        return Err(DashboardError::new(
            "the dashboard needs an id or a title made of letters or digits",
        ));
    }
    if d.title.is_empty() {
        d.title = d.id.clone();
    }
    d.source = source;
    Ok(d)
}

/// `"Order Monitoring (EU)"` → `order-monitoring-eu`: safe in a URL and as a file name.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    out.chars().take(64).collect::<String>()
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Reads one dashboard file.
pub fn load_file(path: &Path) -> Result<Dashboard, DashboardError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        DashboardError::new(format!("cannot read dashboard file: {e}")).in_file(path)
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&text, &stem, Source::Config(path.to_path_buf())).map_err(|e| e.in_file(path))
}

/// Checks a `dashboards:` entry of the config: a path, with a glob allowed in its last
/// segment, ending in `.json`, `.yml` or `.yaml`.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    pharos_scrape::discovery::check_file_pattern(pattern).map_err(|e| e.to_string())
}

/// Reads every dashboard the config's `dashboards:` patterns name (relative to `base`,
/// the config file's directory). A path without a glob must exist; two dashboards with
/// the same id are refused.
pub fn load_patterns(patterns: &[String], base: &Path) -> Result<Vec<Dashboard>, DashboardError> {
    let mut out: Vec<Dashboard> = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let files = pharos_scrape::discovery::expand_pattern(pattern, base);
        if files.is_empty() && !pattern.contains(['*', '?', '[']) {
            return Err(DashboardError {
                field: Some(format!("dashboards[{i}]")),
                ..DashboardError::new(format!(
                    "no dashboard file at {}",
                    base.join(pattern).display()
                ))
            });
        }
        for file in files {
            let d = load_file(&file)?;
            if let Some(other) = out.iter().find(|o| o.id == d.id) {
                let other_file = match &other.source {
                    Source::Config(p) => p.display().to_string(),
                    Source::Uploaded => "an upload".into(),
                    Source::Builtin => "a built-in dashboard".into(),
                };
                return Err(DashboardError::new(format!(
                    "dashboard id {:?} is also used by {other_file}; give one of them another `id:`",
                    d.id
                ))
                .in_file(&file));
            }
            out.push(d);
        }
    }
    Ok(out)
}

/// The dashboards a running Pharos shows: the config's (replaced on every reload), the
/// uploaded ones (files in `dir`, read once at start and written on upload) and the
/// built-in ones (unless the config turns them off).
pub struct DashboardSet {
    dir: PathBuf,
    config: RwLock<Vec<Arc<Dashboard>>>,
    /// Parsed once at open; listed while `builtin_shown` (`builtin_dashboards:`).
    builtin: Vec<Arc<Dashboard>>,
    builtin_shown: std::sync::atomic::AtomicBool,
    uploaded: RwLock<BTreeMap<String, Arc<Dashboard>>>,
    /// Uploaded files that no longer parse (written by an older Pharos, edited by hand).
    problems: RwLock<Vec<String>>,
}

impl DashboardSet {
    /// Reads the uploaded dashboards in `dir` (created on the first upload). A file that
    /// does not parse is reported, not fatal: one bad dashboard must not stop Pharos.
    pub fn open(dir: PathBuf) -> DashboardSet {
        let mut uploaded = BTreeMap::new();
        let mut problems = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                if !["json", "yaml"].contains(&ext) {
                    continue;
                }
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let parsed = std::fs::read_to_string(&path)
                    .map_err(|e| DashboardError::new(e.to_string()))
                    .and_then(|t| parse(&t, &stem, Source::Uploaded));
                match parsed {
                    // The file name is the id it was uploaded under.
                    Ok(mut d) => {
                        d.id = stem.clone();
                        uploaded.insert(stem, Arc::new(d));
                    }
                    Err(e) => {
                        let e = e.in_file(&path);
                        tracing::warn!(operation = "dashboards_load", error = %e, "uploaded dashboard not loaded");
                        problems.push(e.to_string());
                    }
                }
            }
        }
        DashboardSet {
            dir,
            config: RwLock::new(Vec::new()),
            builtin: builtin::all().into_iter().map(Arc::new).collect(),
            builtin_shown: std::sync::atomic::AtomicBool::new(true),
            uploaded: RwLock::new(uploaded),
            problems: RwLock::new(problems),
        }
    }

    /// Replaces the config's dashboards (on start and on every reload).
    pub fn set_config(&self, dashboards: Vec<Dashboard>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) =
            dashboards.into_iter().map(Arc::new).collect();
    }

    /// Shows or hides the built-in dashboards (`builtin_dashboards:` in the config; shown
    /// by default).
    pub fn show_builtin(&self, shown: bool) {
        self.builtin_shown
            .store(shown, std::sync::atomic::Ordering::Relaxed);
    }

    /// Config dashboards first (in config order), then uploads by id, then the built-in
    /// ones. An upload whose id a config dashboard took later is hidden behind it; a
    /// built-in dashboard is hidden behind a config or uploaded one with its id, which is
    /// how a team replaces one.
    pub fn list(&self) -> Vec<Arc<Dashboard>> {
        let config = self
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let uploaded = self.uploaded.read().unwrap_or_else(|p| p.into_inner());
        let mut out = config.clone();
        out.extend(
            uploaded
                .values()
                .filter(|u| !config.iter().any(|c| c.id == u.id))
                .cloned(),
        );
        if self
            .builtin_shown
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let builtin: Vec<_> = self
                .builtin
                .iter()
                .filter(|b| !out.iter().any(|d| d.id == b.id))
                .cloned()
                .collect();
            out.extend(builtin);
        }
        out
    }

    pub fn get(&self, id: &str) -> Option<Arc<Dashboard>> {
        self.list().into_iter().find(|d| d.id == id)
    }

    pub fn problems(&self) -> Vec<String> {
        self.problems
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Parses and stores an uploaded dashboard (Grafana JSON or Pharos YAML). The same id
    /// uploaded again replaces the earlier upload; a config dashboard's id is refused.
    pub fn upload(&self, text: &str) -> Result<Arc<Dashboard>, UploadError> {
        let d = parse(text, "dashboard", Source::Uploaded).map_err(UploadError::Invalid)?;
        if !valid_id(&d.id) {
            return Err(UploadError::Invalid(DashboardError {
                field: Some("id".into()),
                ..DashboardError::new(format!(
                    "invalid id {:?}: use lower-case letters, digits, '-' and '_'",
                    d.id
                ))
            }));
        }
        let taken = self
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|c| c.id == d.id);
        if taken {
            return Err(UploadError::Conflict(format!(
                "the config file defines a dashboard with id {:?}; give the upload another id (uid in Grafana)",
                d.id
            )));
        }
        std::fs::create_dir_all(&self.dir).map_err(UploadError::Io)?;
        let format = Format::detect(text);
        // Written under a temporary name and renamed, so a crash never leaves half a file.
        let path = self.dir.join(format!("{}.{}", d.id, format.extension()));
        let tmp = self.dir.join(format!(".{}.tmp", d.id));
        std::fs::write(&tmp, text).map_err(UploadError::Io)?;
        std::fs::rename(&tmp, &path).map_err(UploadError::Io)?;
        // The same id in the other format would be read back as a duplicate.
        let other = match format {
            Format::Yaml => Format::Grafana,
            Format::Grafana => Format::Yaml,
        };
        let _ = std::fs::remove_file(self.dir.join(format!("{}.{}", d.id, other.extension())));
        let d = Arc::new(d);
        self.uploaded
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(d.id.clone(), d.clone());
        Ok(d)
    }

    /// Deletes an uploaded dashboard; `Ok(false)` when there is none with that id.
    pub fn remove(&self, id: &str) -> Result<bool, UploadError> {
        if !valid_id(id) {
            return Ok(false);
        }
        let removed = self
            .uploaded
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .is_some();
        for ext in ["json", "yaml"] {
            match std::fs::remove_file(self.dir.join(format!("{id}.{ext}"))) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(UploadError::Io(e)),
            }
        }
        Ok(removed)
    }
}

#[derive(Debug)]
pub enum UploadError {
    Invalid(DashboardError),
    Conflict(String),
    Io(std::io::Error),
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::Invalid(e) => write!(f, "{e}"),
            UploadError::Conflict(m) => f.write_str(m),
            UploadError::Io(e) => write!(f, "cannot store the dashboard: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_ids() {
        assert_eq!(slug("Order Monitoring (EU)"), "order-monitoring-eu");
        assert_eq!(slug("  --"), "");
        assert!(valid_id("orders-dashboard"));
        assert!(!valid_id("../etc"));
        assert!(!valid_id(""));
    }

    #[test]
    fn reduce_skips_nan() {
        let v = [1.0, f64::NAN, 3.0];
        assert_eq!(Reduce::Last.apply(v.iter().copied()), Some(3.0));
        assert_eq!(Reduce::Mean.apply(v.iter().copied()), Some(2.0));
        assert_eq!(Reduce::Max.apply([f64::NAN].into_iter()), None);
    }

    #[test]
    fn uploads_survive_reopen_and_config_ids_win() {
        let dir = std::env::temp_dir().join(format!(
            "pharos-dash-test-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let set = DashboardSet::open(dir.clone());
        let d = set
            .upload("title: Orders\nrows:\n  - panels:\n      - title: Rate\n        expr: up\n")
            .unwrap();
        assert_eq!(d.id, "orders");
        let reopened = DashboardSet::open(dir.clone());
        assert_eq!(reopened.get("orders").unwrap().title, "Orders");
        reopened.set_config(vec![Dashboard {
            id: "orders".into(),
            title: "From config".into(),
            ..Dashboard::default()
        }]);
        assert_eq!(reopened.get("orders").unwrap().title, "From config");
        assert!(matches!(
            reopened.upload("title: Orders\n"),
            Err(UploadError::Conflict(_))
        ));
        assert!(reopened.remove("orders").unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn builtin_dashboards_are_listed_last_hidden_by_the_same_id_and_switched_off() {
        let dir = std::env::temp_dir().join(format!(
            "pharos-dash-builtin-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let set = DashboardSet::open(dir.clone());
        let host = set.get("pharos-host").expect("built in on a fresh install");
        assert_eq!(host.source, Source::Builtin);
        assert_eq!(set.list().len(), builtin::FILES.len());
        let mine = set
            .upload("id: pharos-host\ntitle: My host\nrows:\n  - panels:\n      - title: Load\n        expr: node_load1\n")
            .unwrap();
        assert_eq!(mine.source, Source::Uploaded);
        assert_eq!(set.get("pharos-host").unwrap().title, "My host");
        assert_eq!(set.list().len(), builtin::FILES.len());
        assert!(set.remove("pharos-host").unwrap());
        assert_eq!(set.get("pharos-host").unwrap().source, Source::Builtin);
        set.show_builtin(false);
        assert!(set.list().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
