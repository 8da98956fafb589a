//! Named templates: Alertmanager's default ones (`__subject`, `slack.default.title`,
//! `email.default.html`, …) and the config's `templates:` files, whose
//! `{{ define "slack.myorg.text" }}…{{ end }}` blocks any receiver template may call with
//! `{{ template "slack.myorg.text" . }}`.
//!
//! `default.tmpl` and `email.tmpl` are Alertmanager's own files
//! (`prometheus/alertmanager`, `template/`, commit 68fb2d5, Apache License 2.0), kept
//! unchanged so that a name from Alertmanager's documentation renders as it does there.
//! The files are read when the config is loaded (and on every reload); a file that does
//! not parse, or a template called but defined nowhere, refuses the config.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use pharos_model::yaml::FileError;
use pharos_template::NamedTemplates;

use crate::ReceiverConfig;

const DEFAULT_TMPL: &str = include_str!("default.tmpl");
const EMAIL_TMPL: &str = include_str!("email.tmpl");

static ALERTMANAGER_DEFAULTS: LazyLock<Arc<NamedTemplates>> = LazyLock::new(|| {
    let mut named = NamedTemplates::default();
    for (name, src) in [("default.tmpl", DEFAULT_TMPL), ("email.tmpl", EMAIL_TMPL)] {
        // Both files are part of the binary and a test parses them; should one ever fail,
        // its names are missing (a config calling them is refused) rather than a panic.
        if let Err(e) = named.add_file(name, src) {
            tracing::error!(error = %e, "Alertmanager's default templates do not parse");
        }
    }
    Arc::new(named)
});

/// Alertmanager's default templates, what every receiver template can call when the
/// config has no `templates:`.
pub fn alertmanager_defaults() -> Arc<NamedTemplates> {
    ALERTMANAGER_DEFAULTS.clone()
}

/// Why `templates:` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TemplateFilesError {
    /// An entry of the list itself: a bad glob, a file that is not there.
    #[error("templates[{index}]: {message}")]
    Pattern { index: usize, message: String },
    /// A file that does not parse: the file, line and column.
    #[error(transparent)]
    File(FileError),
    /// A receiver field (`receivers[1].slack_configs[0].text`) or a template file calls a
    /// template that is defined nowhere.
    #[error("{field}: {message}")]
    Undefined { field: String, message: String },
}

/// Checks a `templates:` entry's syntax without reading anything: a path, with a glob
/// allowed in its last segment.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("a template file pattern is empty".into());
    }
    let (dir, _) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if dir.contains(['*', '?', '[']) {
        return Err(format!(
            "{pattern:?}: a glob is allowed in the file name only, not in the directories"
        ));
    }
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("invalid template file pattern {pattern:?}: {e}"))
}

/// The files a pattern names (relative to `base`), sorted; a pattern without glob
/// characters must name a file that exists.
fn expand(pattern: &str, base: &Path) -> Result<Vec<PathBuf>, String> {
    check_pattern(pattern)?;
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    if !pattern.contains(['*', '?', '[']) {
        if !full.is_file() {
            return Err(format!("template file {} does not exist", full.display()));
        }
        return Ok(vec![full]);
    }
    let mut paths: Vec<PathBuf> = glob::glob(&full.to_string_lossy())
        .map_err(|e| format!("invalid template file pattern {pattern:?}: {e}"))?
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Alertmanager's defaults and then every file the patterns name (relative to `base`),
/// in list order; a later definition of a name replaces an earlier one, so a file may
/// redefine a default.
pub fn load_template_files(
    patterns: &[String],
    base: &Path,
) -> Result<NamedTemplates, TemplateFilesError> {
    let mut named = NamedTemplates::clone(&ALERTMANAGER_DEFAULTS);
    for (index, pattern) in patterns.iter().enumerate() {
        for path in expand(pattern, base)
            .map_err(|message| TemplateFilesError::Pattern { index, message })?
        {
            let text = std::fs::read_to_string(&path).map_err(|e| TemplateFilesError::Pattern {
                index,
                message: format!("cannot read template file {}: {e}", path.display()),
            })?;
            named
                .add_file(&path.display().to_string(), &text)
                .map_err(|e| {
                    TemplateFilesError::File(FileError {
                        file: path.clone(),
                        line: Some(e.line),
                        column: Some(e.column),
                        field: None,
                        message: e.message,
                    })
                })?;
        }
    }
    if let Some((caller, callee)) = named.undefined_calls().into_iter().next() {
        return Err(TemplateFilesError::Undefined {
            field: "templates".into(),
            message: format!("template {caller:?} calls template {callee:?}, which is not defined"),
        });
    }
    Ok(named)
}

/// Reads `templates:` (see [`load_template_files`]) and gives the result to every
/// template of `receivers`, checking that each template it calls is defined.
pub fn apply_template_files(
    patterns: &[String],
    base: &Path,
    receivers: &mut [ReceiverConfig],
) -> Result<(), TemplateFilesError> {
    let named = Arc::new(load_template_files(patterns, base)?);
    for (i, r) in receivers.iter_mut().enumerate() {
        for (field, t) in r.message_templates_mut() {
            if let Some(missing) = t.undefined_templates(&named).into_iter().next() {
                return Err(TemplateFilesError::Undefined {
                    field: format!("receivers[{i}].{field}"),
                    message: format!(
                        "template {missing:?} is not defined (neither in `templates:` files nor among Alertmanager's defaults)"
                    ),
                });
            }
            t.use_named_templates(named.clone());
        }
    }
    Ok(())
}
