//! Rule files as Prometheus writes them (`groups:` → `rules:` of `alert:` / `record:`),
//! read into checked [`RuleGroupSpec`]s: every expression parsed, every label and
//! annotation template parsed, and the checks `promtool check rules` makes (one of
//! `record`/`alert`, no `for`/`annotations` on a recording rule, valid metric and label
//! names, group names unique in a file). Every error names the file, the line and column
//! of the field, and its path (`groups[0].rules[2].expr`).

mod locate;
mod raw;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pharos_template::Template;
use promql_parser::parser::Expr;

use crate::EvaluateError;
use locate::{Seg, field_path, locate, parse_field_path};
use raw::RawFile;

/// One group of rules, evaluated together on one interval.
#[derive(Clone, Debug)]
pub struct RuleGroupSpec {
    /// The file the group came from, as found by the `rule_files` pattern.
    pub file: String,
    pub name: String,
    /// `None`: the global `evaluation_interval`.
    pub interval: Option<Duration>,
    /// Most alerts (alerting rule) or series (recording rule) one rule may produce; 0 = no limit.
    pub limit: usize,
    /// How far back from the evaluation time queries look (Prometheus's `query_offset`).
    pub query_offset: Duration,
    pub rules: Vec<RuleSpec>,
}

#[derive(Clone, Debug)]
pub struct RuleSpec {
    /// The alert name or the recorded metric name.
    pub name: String,
    /// The expression as written.
    pub expr_text: String,
    pub expr: Arc<Expr>,
    /// Labels as written (alert label values may be templates).
    pub labels: BTreeMap<String, String>,
    pub kind: RuleKind,
}

#[derive(Clone, Debug)]
pub enum RuleKind {
    Alerting {
        hold: Duration,
        keep_firing_for: Duration,
        label_templates: Vec<(String, Template)>,
        annotations: BTreeMap<String, String>,
        annotation_templates: Vec<(String, Template)>,
    },
    Recording,
}

impl RuleSpec {
    pub fn is_alerting(&self) -> bool {
        matches!(self.kind, RuleKind::Alerting { .. })
    }
}

/// A rule file error with where it is: `rules/api.yaml:12:9: groups[0].rules[1].expr: …`.
pub type RuleFileError = pharos_model::yaml::FileError;

/// Why the `rule_files:` list could not be loaded.
#[derive(Debug)]
pub enum RuleFilesError {
    /// An entry of the list itself: a bad glob, a file that is not there.
    Pattern { index: usize, message: String },
    /// Something inside a rule file.
    File(RuleFileError),
}

/// Reads every file the patterns name (relative to `base`; globs allowed), in the order
/// of the list and, within a glob, sorted by path. A pattern without glob characters
/// must name a file that exists.
pub fn load_rule_files(
    patterns: &[String],
    base: &Path,
) -> Result<Vec<RuleGroupSpec>, RuleFilesError> {
    let mut groups = Vec::new();
    let mut seen = HashSet::new();
    for (index, pattern) in patterns.iter().enumerate() {
        for path in expand_pattern(pattern, base)
            .map_err(|message| RuleFilesError::Pattern { index, message })?
        {
            if !seen.insert(path.clone()) {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| RuleFilesError::Pattern {
                index,
                message: format!("cannot read rule file {}: {e}", path.display()),
            })?;
            let mut parsed = parse_rule_file(&text, &path)
                .map_err(|mut errs| RuleFilesError::File(errs.remove(0)))?;
            groups.append(&mut parsed);
        }
    }
    Ok(groups)
}

/// Checks a pattern's syntax without reading anything.
pub fn check_pattern(pattern: &str) -> Result<(), EvaluateError> {
    if pattern.trim().is_empty() {
        return Err(EvaluateError::EmptyRuleFilePattern);
    }
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|source| EvaluateError::RuleFilePattern {
            pattern: pattern.to_string(),
            source,
        })
}

fn expand_pattern(pattern: &str, base: &Path) -> Result<Vec<PathBuf>, String> {
    check_pattern(pattern).map_err(|e| e.to_string())?;
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let has_glob = pattern.contains(['*', '?', '[']);
    if !has_glob {
        if !full.is_file() {
            return Err(format!("rule file {} does not exist", full.display()));
        }
        return Ok(vec![full]);
    }
    let text = full.to_string_lossy().to_string();
    let mut paths: Vec<PathBuf> = glob::glob(&text)
        .map_err(|e| format!("invalid rule file pattern {pattern:?}: {e}"))?
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Parses one rule file; every problem found, in file order (the first is the one a
/// config load reports; `pharos check rules` prints them all).
pub fn parse_rule_file(text: &str, path: &Path) -> Result<Vec<RuleGroupSpec>, Vec<RuleFileError>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: RawFile = pharos_model::yaml::from_yaml(text).map_err(|e| {
        let message = e.message;
        let field = e.field.unwrap_or_default();
        let (mut line, mut column) = (e.line, e.column);
        // The reader places some errors at the start of the enclosing mapping; the field's
        // own line is more use.
        let mut segs = parse_field_path(&field);
        let unknown = message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split_once('`'))
            .map(|(k, _)| k.to_string());
        if let Some(k) = &unknown {
            segs.push(Seg::Key(k));
        }
        if !segs.is_empty()
            && let Some((l, c)) = locate(text, &segs)
        {
            (line, column) = (Some(l), Some(c));
        }
        vec![RuleFileError {
            file: path.to_path_buf(),
            line,
            column,
            field: (!field.is_empty()).then_some(field),
            message,
        }]
    })?;
    let mut errors = Vec::new();
    let mut err = |segs: &[Seg<'_>], message: String| {
        let (line, column) = locate(text, segs).map_or((None, None), |(l, c)| (Some(l), Some(c)));
        errors.push(RuleFileError {
            file: path.to_path_buf(),
            line,
            column,
            field: Some(field_path(segs)),
            message,
        });
    };
    let file = path.display().to_string();
    let mut names = HashSet::new();
    let mut groups = Vec::new();
    for (gi, g) in raw.groups.into_iter().enumerate() {
        let gpath = [Seg::Key("groups"), Seg::Index(gi)];
        if g.name.trim().is_empty() {
            err(&gpath, "Groupname must not be empty".into());
        } else if !names.insert(g.name.clone()) {
            err(
                &[gpath[0], gpath[1], Seg::Key("name")],
                format!("groupname: {:?} is repeated in the same file", g.name),
            );
        }
        for k in g.labels.keys() {
            if !valid_label_name(k) || k == "__name__" {
                err(
                    &[gpath[0], gpath[1], Seg::Key("labels")],
                    format!("invalid label name: {k}"),
                );
            }
        }
        let mut rules = Vec::new();
        for (ri, r) in g.rules.into_iter().enumerate() {
            let at = |key: &'static str| {
                [
                    gpath[0],
                    gpath[1],
                    Seg::Key("rules"),
                    Seg::Index(ri),
                    Seg::Key(key),
                ]
            };
            let rule_at = [gpath[0], gpath[1], Seg::Key("rules"), Seg::Index(ri)];
            let name = r.record.clone().or(r.alert.clone()).unwrap_or_default();
            // promtool's words, so messages can be searched for.
            let who = format!("group {:?}, rule {}, {:?}", g.name, ri + 1, name);
            let (record, alert) = (
                r.record.as_deref().filter(|s| !s.is_empty()),
                r.alert.as_deref().filter(|s| !s.is_empty()),
            );
            match (record, alert) {
                (Some(_), Some(_)) => err(
                    &rule_at,
                    format!("{who}: only one of 'record' and 'alert' must be set"),
                ),
                (None, None) => err(
                    &rule_at,
                    format!("{who}: one of 'record' or 'alert' must be set"),
                ),
                _ => {}
            }
            let expr_text = r.expr.clone().unwrap_or_default();
            let expr = if expr_text.trim().is_empty() {
                err(
                    &at("expr"),
                    format!("{who}: field 'expr' must be set in rule"),
                );
                None
            } else {
                match pharos_promql::parse_expression(&expr_text) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        err(
                            &at("expr"),
                            format!("{who}: could not parse expression: {e}"),
                        );
                        None
                    }
                }
            };
            if let Some(rec) = record {
                if r.hold.is_some() {
                    err(
                        &at("for"),
                        format!("{who}: invalid field 'for' in recording rule"),
                    );
                }
                if r.keep_firing_for.is_some() {
                    err(
                        &at("keep_firing_for"),
                        format!("{who}: invalid field 'keep_firing_for' in recording rule"),
                    );
                }
                if !r.annotations.is_empty() {
                    err(
                        &at("annotations"),
                        format!("{who}: invalid field 'annotations' in recording rule"),
                    );
                }
                if !valid_metric_name(rec) {
                    err(
                        &at("record"),
                        format!("{who}: invalid recording rule name: {rec}"),
                    );
                }
            }
            for k in r.labels.keys() {
                if !valid_label_name(k) || k == "__name__" {
                    err(&at("labels"), format!("{who}: invalid label name: {k}"));
                }
            }
            let mut kind = RuleKind::Recording;
            if alert.is_some() {
                for k in r.annotations.keys() {
                    if !valid_label_name(k) {
                        err(
                            &at("annotations"),
                            format!("{who}: invalid annotation name: {k}"),
                        );
                    }
                }
                let tname = format!("__alert_{name}");
                let mut label_templates = Vec::new();
                for (k, v) in &r.labels {
                    match Template::parse(&tname, v) {
                        Ok(t) if !t.is_plain() => label_templates.push((k.clone(), t)),
                        Ok(_) => {}
                        Err(e) => err(&at("labels"), format!("{who}: label {k:?}: {e}")),
                    }
                }
                let mut annotation_templates = Vec::new();
                for (k, v) in &r.annotations {
                    match Template::parse(&tname, v) {
                        Ok(t) => annotation_templates.push((k.clone(), t)),
                        Err(e) => err(&at("annotations"), format!("{who}: annotation {k:?}: {e}")),
                    }
                }
                kind = RuleKind::Alerting {
                    hold: r.hold.map(|d| d.as_duration()).unwrap_or_default(),
                    keep_firing_for: r
                        .keep_firing_for
                        .map(|d| d.as_duration())
                        .unwrap_or_default(),
                    label_templates,
                    annotations: r.annotations.clone(),
                    annotation_templates,
                };
            }
            let mut labels = g.labels.clone();
            labels.extend(r.labels);
            if let Some(expr) = expr {
                rules.push(RuleSpec {
                    name,
                    expr_text,
                    expr: Arc::new(expr),
                    labels,
                    kind,
                });
            }
        }
        groups.push(RuleGroupSpec {
            file: file.clone(),
            name: g.name,
            interval: g.interval.map(|d| d.as_duration()).filter(|d| !d.is_zero()),
            limit: g.limit.unwrap_or(0),
            query_offset: g.query_offset.map(|d| d.as_duration()).unwrap_or_default(),
            rules,
        });
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        errors.sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
        Err(errors)
    }
}

/// Rules of one group with the same name and labels: promtool's `duplicate-rules` lint.
pub fn duplicate_rules(groups: &[RuleGroupSpec]) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for g in groups {
        let mut seen: Vec<(&str, &BTreeMap<String, String>)> = Vec::new();
        for r in &g.rules {
            let key = (r.name.as_str(), &r.labels);
            if seen.contains(&key) {
                if !out
                    .iter()
                    .any(|(n, l): &(String, BTreeMap<String, String>)| {
                        n == &r.name && l == &r.labels
                    })
                {
                    out.push((r.name.clone(), r.labels.clone()));
                }
            } else {
                seen.push(key);
            }
        }
    }
    out
}

/// Prometheus's legacy label name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Metric names also allow `:` (recording rules use it: `job:http_requests:rate5m`).
pub fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
