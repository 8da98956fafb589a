//! Rule files as Prometheus writes them (`groups:` → `rules:` of `alert:` / `record:`),
//! read into checked [`RuleGroupSpec`]s: every expression parsed, every label and
//! annotation template parsed, and the checks `promtool check rules` makes (one of
//! `record`/`alert`, no `for`/`annotations` on a recording rule, valid metric and label
//! names, group names unique in a file). Every error names the file, the line and column
//! of the field, and its path (`groups[0].rules[2].expr`).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pharos_model::HumanDuration;
use pharos_template::Template;
use promql_parser::parser::Expr;
use serde::{Deserialize, Deserializer};

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

// ---------------------------------------------------------------------------------------
// What the user typed

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<HumanDuration>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    query_offset: Option<HumanDuration>,
    /// Prometheus 3: labels added to every rule of the group.
    #[serde(default, deserialize_with = "string_map")]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    #[serde(default, deserialize_with = "scalar_string")]
    expr: Option<String>,
    #[serde(default, rename = "for")]
    hold: Option<HumanDuration>,
    #[serde(default)]
    keep_firing_for: Option<HumanDuration>,
    #[serde(default, deserialize_with = "string_map")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    annotations: BTreeMap<String, String>,
}

/// YAML scalars of any type read as their text, as Go's YAML library does for a string
/// field (`severity: 1`, `expr: 1`).
#[derive(Clone)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| s.0))
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, Scalar>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

// ---------------------------------------------------------------------------------------
// Loading

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
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("a rule file pattern must not be empty".into());
    }
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("invalid rule file pattern {pattern:?}: {e}"))
}

fn expand_pattern(pattern: &str, base: &Path) -> Result<Vec<PathBuf>, String> {
    check_pattern(pattern)?;
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
                match promql_parser::parser::parse(&expr_text) {
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

// ---------------------------------------------------------------------------------------
// Finding a field in the text

#[derive(Clone, Copy, Debug)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// `groups[0].rules[2].expr` back into its parts.
fn parse_field_path(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    if path == "." || path.is_empty() {
        return out;
    }
    for part in path.split('.') {
        let mut pieces = part.split('[');
        if let Some(k) = pieces.next()
            && !k.is_empty()
        {
            out.push(Seg::Key(k));
        }
        for idx in pieces {
            match idx.trim_end_matches(']').parse() {
                Ok(i) => out.push(Seg::Index(i)),
                Err(_) => return out,
            }
        }
    }
    out
}

fn field_path(segs: &[Seg<'_>]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The 1-based line and column of the deepest part of `segs` found in block-style YAML
/// (a field written in flow style, `{a: b}`, is placed at its enclosing key).
fn locate(text: &str, segs: &[Seg<'_>]) -> Option<(usize, usize)> {
    // Content lines only: (line number, indent, text after the indent).
    let lines: Vec<(usize, usize, &str)> = text
        .lines()
        .enumerate()
        .filter_map(|(no, l)| {
            let body = l.trim_start();
            (!body.is_empty() && !body.starts_with('#')).then(|| (no, l.len() - body.len(), body))
        })
        .collect();
    // The mapping being searched: lines[lo..hi], keys at `indent`; when `item` is set,
    // the first line is `- key: …` and its key sits after the dash.
    let (mut lo, mut hi, mut indent, mut item) = (0usize, lines.len(), 0usize, false);
    if let Some(first) = lines.first() {
        indent = first.1;
    }
    let mut found = None;
    let mut i = 0;
    while i < segs.len() {
        let Seg::Key(key) = segs[i] else { return found };
        let view = |k: usize| -> (usize, &str) {
            let (_, ind, body) = lines[k];
            if item && k == lo {
                let rest = body.trim_start_matches('-');
                let rest_trim = rest.trim_start();
                (ind + (body.len() - rest_trim.len()), rest_trim)
            } else {
                (ind, body)
            }
        };
        let hit = (lo..hi).find(|&k| {
            let (ind, body) = view(k);
            ind == indent
                && (body
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with(':'))
                    || body
                        .strip_prefix(&format!("\"{key}\""))
                        .is_some_and(|r| r.trim_start().starts_with(':')))
        })?;
        found = Some((lines[hit].0 + 1, view(hit).0 + 1));
        // The key's block: following lines indented deeper, or a sequence at its indent.
        let start = hit + 1;
        let mut end = start;
        while end < hi {
            let (_, ind, body) = lines[end];
            if ind < indent || (ind == indent && !body.starts_with("- ") && body != "-") {
                break;
            }
            end += 1;
        }
        if start >= end {
            return found;
        }
        i += 1;
        match segs.get(i) {
            Some(Seg::Index(n)) => {
                let dash = lines[start].1;
                let items: Vec<usize> = (start..end)
                    .filter(|&k| lines[k].1 == dash && lines[k].2.starts_with('-'))
                    .collect();
                let &j = items.get(*n)?;
                let item_end = items.get(n + 1).copied().unwrap_or(end);
                let body = lines[j].2;
                let rest = body.trim_start_matches('-').trim_start();
                found = Some((lines[j].0 + 1, dash + 1));
                lo = j;
                hi = item_end;
                indent = dash + (body.len() - rest.len());
                item = true;
                i += 1;
            }
            Some(Seg::Key(_)) => {
                lo = start;
                hi = end;
                indent = lines[start].1;
                item = false;
            }
            None => return found,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<RuleGroupSpec>, Vec<RuleFileError>> {
        parse_rule_file(text, Path::new("rules.yaml"))
    }

    fn first_error(text: &str) -> RuleFileError {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(mut e) => e.remove(0),
        }
    }

    const GOOD: &str = "\
groups:
  - name: api
    interval: 30s
    limit: 10
    query_offset: 1m
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
        labels:
          team: shop
      - alert: HighErrorRate
        expr: job:http_requests:rate5m > 0.05
        for: 2m
        keep_firing_for: 5m
        labels:
          severity: critical
          instance: '{{ $labels.instance }}'
        annotations:
          summary: 'Error rate is {{ $value | humanizePercentage }}'
  - name: other
    rules:
      - alert: Up
        expr: 1
";

    #[test]
    fn parses_groups_and_rules() {
        let g = parse(GOOD).unwrap_or_else(|e| panic!("{}", e[0]));
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].interval, Some(Duration::from_secs(30)));
        assert_eq!(
            (g[0].limit, g[0].query_offset),
            (10, Duration::from_secs(60))
        );
        assert_eq!(g[1].interval, None);
        assert_eq!(g[0].rules[0].name, "job:http_requests:rate5m");
        assert!(!g[0].rules[0].is_alerting());
        let RuleKind::Alerting {
            hold,
            keep_firing_for,
            label_templates,
            annotation_templates,
            ..
        } = &g[0].rules[1].kind
        else {
            panic!("alerting")
        };
        assert_eq!(
            (*hold, *keep_firing_for),
            (Duration::from_secs(120), Duration::from_secs(300))
        );
        assert_eq!(label_templates.len(), 1, "only the templated label");
        assert_eq!(annotation_templates.len(), 1);
        assert_eq!(g[1].rules[0].expr_text, "1");
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let e = first_error(
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: sum(up\n",
        );
        assert_eq!((e.line, e.column), (Some(5), Some(9)), "{e}");
        assert_eq!(e.field.as_deref(), Some("groups[0].rules[0].expr"));
        assert!(
            e.message
                .contains("group \"a\", rule 1, \"X\": could not parse expression"),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("rules.yaml:5:9: groups[0].rules[0].expr: "),
            "{e}"
        );

        let e = first_error(
            "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n      - record: y\n        expr: up\n        for: 5m\n",
        );
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(8), Some("groups[0].rules[1].for")),
            "{e}"
        );
        assert!(
            e.message.ends_with("invalid field 'for' in recording rule"),
            "{e}"
        );

        let e = first_error(
            "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up\n    annotations:\n      summary: '{{ $value | nope }}'\n",
        );
        assert_eq!(e.line, Some(6), "{e}");
        assert!(
            e.message.contains(
                "annotation \"summary\": template: __alert_X:1:13: function \"nope\" not defined"
            ),
            "{e}"
        );

        let e = first_error("groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n");
        assert_eq!((e.line, e.column), (Some(4), Some(5)), "{e}");
        assert!(
            e.message.contains("\"a\" is repeated in the same file"),
            "{e}"
        );

        let e = first_error(
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up\n        labels: {bad-name: x}\n",
        );
        assert!(e.message.ends_with("invalid label name: bad-name"), "{e}");
        assert_eq!(e.line, Some(6));

        let e = first_error(
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        record: y\n        expr: up\n",
        );
        assert!(
            e.message.contains("only one of 'record' and 'alert'"),
            "{e}"
        );
        let e = first_error("groups:\n  - name: a\n    rules:\n      - expr: up\n");
        assert!(
            e.message.contains("one of 'record' or 'alert' must be set"),
            "{e}"
        );
        let e = first_error("groups:\n  - name: a\n    rules:\n      - alert: X\n");
        assert!(e.message.contains("field 'expr' must be set"), "{e}");
        let e = first_error(
            "groups:\n  - name: a\n    rules:\n      - record: 'bad name'\n        expr: up\n",
        );
        assert!(
            e.message.contains("invalid recording rule name: bad name"),
            "{e}"
        );
        let e = first_error(
            "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: up\n        annotations: {a: b}\n",
        );
        assert!(e.message.contains("invalid field 'annotations'"), "{e}");
        let e = first_error("groups:\n  - name: ''\n    rules: []\n");
        assert!(e.message.contains("Groupname must not be empty"), "{e}");

        // Type errors come from the YAML reader with its position.
        let e = first_error("groups:\n  - name: a\n    interval: soon\n    rules: []\n");
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(3), Some("groups[0].interval")),
            "{e}"
        );
        let e = first_error(
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up\n        fo: 1m\n",
        );
        assert!(e.message.contains("unknown field `fo`"), "{e}");
    }

    #[test]
    fn every_error_of_a_file_is_reported() {
        let errs = parse("groups:\n  - name: a\n    rules:\n      - record: x\n        expr: sum(\n        for: 1m\n      - alert: B\n        expr: up\n        labels: {'a-b': c}\n").unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
    }

    #[test]
    fn duplicates_are_found() {
        let g = parse("groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up\n        labels: {s: p}\n      - alert: X\n        expr: up == 0\n        labels: {s: p}\n      - alert: X\n        expr: up\n        labels: {s: q}\n").unwrap();
        let d = duplicate_rules(&g);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "X");
    }

    #[test]
    fn patterns_expand_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!("pharos-rule-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(
            dir.join("rules/b.yaml"),
            "groups:\n  - name: b\n    rules: []\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("rules/a.yaml"),
            "groups:\n  - name: a\n    rules: []\n",
        )
        .unwrap();
        let g = load_rule_files(&["rules/*.yaml".into()], &dir).unwrap_or_else(|_| panic!("loads"));
        let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(matches!(
            load_rule_files(&["rules/missing.yaml".into()], &dir),
            Err(RuleFilesError::Pattern { index: 0, .. })
        ));
        assert!(
            load_rule_files(&["nothing/*.yaml".into()], &dir)
                .unwrap_or_else(|_| panic!("empty glob"))
                .is_empty()
        );
        std::fs::write(
            dir.join("rules/c.yaml"),
            "groups:\n  - name: c\n    rules:\n      - alert: X\n        expr: 'up +'\n",
        )
        .unwrap();
        match load_rule_files(&["rules/*.yaml".into()], &dir) {
            Err(RuleFilesError::File(e)) => {
                assert!(e.file.ends_with("rules/c.yaml") && e.line == Some(5), "{e}");
            }
            _ => panic!("c.yaml is bad"),
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
