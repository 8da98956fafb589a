//! The `logs.rules` list of `pharos.yaml` as written ([`LogRuleSpec`]) and as the engine
//! uses it ([`LogRule`]: durations resolved, defaults applied, one compiled `RegexSet`).
//!
//! ```yaml
//! logs:
//!   rules:
//!     - name: forbidden_log_patterns     # any match fires at once
//!       kind: forbidden
//!       severity: critical
//!       patterns:
//!         - "Decimal.*is not JSON serializable"
//!         - pattern: "Queue full"
//!           severity: warning            # this pattern's alerts only
//!       resolve_after: 10m               # default 10m
//!     - name: rate_limited_log_patterns  # more than `max` matches within `per` fires
//!       kind: rate_limited
//!       patterns: ["Duplicate update_id"]
//!       max: 1
//!       per: 30s
//!     - name: error_burst                # more than `max` lines at `level`+ within `per`
//!       kind: threshold
//!       level: ERROR                     # default ERROR for this kind
//!       max: 10
//!       per: 10m
//!     - name: slow_requests              # counted as a series, never alerts
//!       kind: count
//!       patterns: ["Slow request detected"]
//! ```
//!
//! Every kind takes the line filters `service` (exact), `level` (this level or above) and
//! `logger` (that logger or one below it: `app.db` takes `app.db.pool`). Alert rules take
//! `labels` and `annotations` added to their alerts.
//!
//! Patterns are searched for anywhere in the message (Python's `re.search`), including a
//! traceback appended to it, case-sensitively unless written `(?i)`. They are the `regex`
//! crate's syntax, which reads Python's for everything but look-around and
//! backreferences; those are refused when the config is loaded, not at match time.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use pharos_model::{HumanDuration, LogLevel};
use regex::{Regex, RegexSet};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Upper bound on `max`: the engine keeps up to `max + 1` match times per alert key to
/// decide exactly; a larger limit belongs in a PromQL rule over
/// `pharos_log_rule_matches_total`.
pub const MAX_LIMIT: u32 = 100_000;
/// Longest `per` / `resolve_after`.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_RESOLVE_AFTER: Duration = Duration::from_secs(600);
/// The window a count rule's status reports when it sets no `per`.
const DEFAULT_COUNT_WINDOW: Duration = Duration::from_secs(300);
/// Labels the engine sets itself.
const RESERVED_LABELS: &[&str] = &["alertname", "severity", "service", "pattern"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogRuleKind {
    /// Fires on the first matching line; resolves after `resolve_after` without one.
    Forbidden,
    /// Fires while more than `max` lines matched one pattern within `per`.
    RateLimited,
    /// Fires while more than `max` lines at `level` or above arrived within `per`.
    Threshold,
    /// Only counts matches, as `pharos_log_rule_matches_total`.
    Count,
}

impl LogRuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogRuleKind::Forbidden => "forbidden",
            LogRuleKind::RateLimited => "rate_limited",
            LogRuleKind::Threshold => "threshold",
            LogRuleKind::Count => "count",
        }
    }

    pub fn alerts(self) -> bool {
        self != LogRuleKind::Count
    }
}

/// One rule as written under `logs.rules`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRuleSpec {
    /// The alerts' `alertname`; unique among log rules.
    pub name: String,
    pub kind: LogRuleKind,
    /// Regexes searched for in each message (forbidden, rate_limited, count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<PatternSpec>,
    /// The alerts' `severity` label. Defaults: forbidden and threshold `critical`,
    /// rate_limited `warning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Only lines of this service count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Only lines at this level or above count (`WARNING`, `error`, `40`); lines without
    /// a level then never count. Threshold rules default to `ERROR`.
    #[serde(
        default,
        deserialize_with = "level_from_any_spelling",
        serialize_with = "level_as_python",
        skip_serializing_if = "Option::is_none"
    )]
    pub level: Option<LogLevel>,
    /// Only lines of this logger or one below it in Python's dotted hierarchy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    /// rate_limited and threshold: fires while more than this many lines are in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// rate_limited and threshold: the sliding window. count: the window its status shows
    /// (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<HumanDuration>,
    /// forbidden: how long without a match before its alert resolves (default 10m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_after: Option<HumanDuration>,
    /// Extra labels on this rule's alerts (`team`); cannot replace the engine's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on this rule's alerts (`runbook_url`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A pattern: a bare regex, or `{pattern, severity}` to give it its own severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternSpec {
    pub pattern: String,
    pub severity: Option<String>,
}

/// The mapping form of a pattern.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternFields {
    pattern: String,
    #[serde(default)]
    severity: Option<String>,
}

impl PatternSpec {
    pub fn new(pattern: impl Into<String>) -> PatternSpec {
        PatternSpec {
            pattern: pattern.into(),
            severity: None,
        }
    }
}

impl Serialize for PatternSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.severity {
            None => s.serialize_str(&self.pattern),
            Some(sev) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("pattern", &self.pattern)?;
                m.serialize_entry("severity", sev)?;
                m.end()
            }
        }
    }
}

// By hand rather than `#[serde(untagged)]`, so a typo inside the mapping form is reported
// by name instead of as "did not match any variant".
impl<'de> Deserialize<'de> for PatternSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PatternSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a regex, or a mapping with `pattern` and `severity`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PatternSpec, E> {
                Ok(PatternSpec::new(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PatternSpec, A::Error> {
                let f = PatternFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PatternSpec {
                    pattern: f.pattern,
                    severity: f.severity,
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn level_from_any_spelling<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LogLevel>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u32),
        Text(String),
    }
    let level = match Raw::deserialize(d)? {
        Raw::Number(n) => LogLevel::from_python_number(n),
        Raw::Text(t) => LogLevel::parse(&t),
    };
    level.map(Some).ok_or_else(|| {
        de::Error::custom("unknown level (write DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    })
}

fn level_as_python<S: Serializer>(level: &Option<LogLevel>, s: S) -> Result<S::Ok, S::Error> {
    match level {
        Some(l) => s.serialize_str(l.as_str()),
        None => s.serialize_none(),
    }
}

/// A rule that cannot be used, naming it and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("logs.rules[{index}] ({rule}): {field}: {message}")]
pub struct LogRuleError {
    pub index: usize,
    pub rule: String,
    pub field: String,
    pub message: String,
}

/// One pattern of a compiled rule.
#[derive(Clone, Debug)]
pub struct RulePattern {
    /// As written; the `pattern` label of its alerts and series.
    pub text: String,
    pub severity: String,
}

/// A checked rule, ready for the engine.
#[derive(Clone, Debug)]
pub struct LogRule {
    /// As written: a reload keeps the state of a rule whose spec is unchanged.
    pub spec: LogRuleSpec,
    pub kind: LogRuleKind,
    /// Empty for threshold rules, which count every line that passes the filter.
    pub patterns: Vec<RulePattern>,
    pub(crate) set: Option<RegexSet>,
    /// Threshold rules' severity (pattern rules carry theirs per pattern).
    pub severity: String,
    pub min_level: Option<LogLevel>,
    /// rate_limited, threshold: the limit; `u32::MAX` for the others.
    pub max: u32,
    /// The sliding window: `per`, or `resolve_after` for forbidden rules.
    pub window: Duration,
}

impl LogRule {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Alert keys per service: one per pattern, or one for a threshold rule.
    pub(crate) fn slots(&self) -> usize {
        self.patterns.len().max(1)
    }

    /// Whether the line's service, level and logger let it count. Borrows only.
    pub(crate) fn accepts(&self, e: &pharos_model::LogEntry) -> bool {
        if let Some(s) = &self.spec.service
            && *s != e.service
        {
            return false;
        }
        if let Some(min) = self.min_level
            && e.level.is_none_or(|l| l < min)
        {
            return false;
        }
        if let Some(want) = &self.spec.logger {
            let Some(l) = e.logger.as_deref() else {
                return false;
            };
            let below = l.len() > want.len()
                && l.starts_with(want.as_str())
                && l.as_bytes()[want.len()] == b'.';
            if l != want && !below {
                return false;
            }
        }
        true
    }
}

impl LogRuleSpec {
    /// Checks what serde cannot and compiles the patterns. `index` is the rule's position
    /// in `logs.rules`, for the message.
    pub fn validate(&self, index: usize) -> Result<LogRule, LogRuleError> {
        let err = |field: &str, message: String| LogRuleError {
            index,
            rule: self.name.clone(),
            field: field.to_string(),
            message,
        };
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err(err("name", "must be 1 to 200 characters".into()));
        }
        let kind = self.kind;
        let unused = |field: &str| {
            err(
                field,
                format!("not used by kind {} (remove it)", kind.as_str()),
            )
        };
        let window = |field: &str, d: Option<HumanDuration>, default: Option<Duration>| {
            let d = d
                .map(HumanDuration::as_duration)
                .or(default)
                .ok_or_else(|| err(field, format!("required by kind {}", kind.as_str())))?;
            if d < Duration::from_secs(1) || d > MAX_WINDOW {
                return Err(err(
                    field,
                    format!("must be between 1s and 24h, not {}", HumanDuration(d)),
                ));
            }
            Ok(d)
        };
        let (max, window) = match kind {
            LogRuleKind::Forbidden => {
                if self.max.is_some() {
                    return Err(unused("max"));
                }
                if self.per.is_some() {
                    return Err(err(
                        "per",
                        "not used by kind forbidden: any match fires (use resolve_after for how long it stays firing)".into(),
                    ));
                }
                (
                    u32::MAX,
                    window(
                        "resolve_after",
                        self.resolve_after,
                        Some(DEFAULT_RESOLVE_AFTER),
                    )?,
                )
            }
            LogRuleKind::RateLimited | LogRuleKind::Threshold => {
                if self.resolve_after.is_some() {
                    return Err(err(
                        "resolve_after",
                        format!(
                            "not used by kind {}: it resolves once the window holds max or fewer lines",
                            kind.as_str()
                        ),
                    ));
                }
                let max = self
                    .max
                    .ok_or_else(|| err("max", format!("required by kind {}", kind.as_str())))?;
                if max > MAX_LIMIT {
                    return Err(err(
                        "max",
                        format!(
                            "at most {MAX_LIMIT}; for more, write a PromQL rule over pharos_log_rule_matches_total"
                        ),
                    ));
                }
                (max, window("per", self.per, None)?)
            }
            LogRuleKind::Count => {
                for (field, set) in [
                    ("max", self.max.is_some()),
                    ("resolve_after", self.resolve_after.is_some()),
                    ("severity", self.severity.is_some()),
                    ("labels", !self.labels.is_empty()),
                    ("annotations", !self.annotations.is_empty()),
                ] {
                    if set {
                        return Err(err(
                            field,
                            "not used by kind count, which raises no alerts".into(),
                        ));
                    }
                }
                (
                    u32::MAX,
                    window("per", self.per, Some(DEFAULT_COUNT_WINDOW))?,
                )
            }
        };

        let default_severity = match kind {
            LogRuleKind::RateLimited => "warning",
            _ => "critical",
        };
        let severity = match &self.severity {
            Some(s) => {
                check_severity(s).map_err(|m| err("severity", m))?;
                s.clone()
            }
            None => default_severity.to_string(),
        };

        let mut patterns = Vec::with_capacity(self.patterns.len());
        if kind == LogRuleKind::Threshold {
            if !self.patterns.is_empty() {
                return Err(err(
                    "patterns",
                    "a threshold rule counts every line that passes service/level/logger; to count pattern matches use kind rate_limited".into(),
                ));
            }
        } else if self.patterns.is_empty() {
            return Err(err(
                "patterns",
                format!("kind {} needs at least one pattern", kind.as_str()),
            ));
        }
        let mut seen = HashSet::new();
        for (i, p) in self.patterns.iter().enumerate() {
            let field = format!("patterns[{i}]");
            if p.pattern.is_empty() {
                return Err(err(&field, "empty pattern matches every line".into()));
            }
            if !seen.insert(p.pattern.as_str()) {
                return Err(err(&field, format!("{:?} is listed twice", p.pattern)));
            }
            if let Err(e) = Regex::new(&p.pattern) {
                return Err(err(&field, regex_message(&p.pattern, &e)));
            }
            let severity = match &p.severity {
                Some(_) if kind == LogRuleKind::Count => {
                    return Err(err(
                        &format!("{field}.severity"),
                        "not used by kind count, which raises no alerts".into(),
                    ));
                }
                Some(s) => {
                    check_severity(s).map_err(|m| err(&format!("{field}.severity"), m))?;
                    s.clone()
                }
                None => severity.clone(),
            };
            patterns.push(RulePattern {
                text: p.pattern.clone(),
                severity,
            });
        }
        let set = if patterns.is_empty() {
            None
        } else {
            Some(
                RegexSet::new(patterns.iter().map(|p| p.text.as_str()))
                    .map_err(|e| err("patterns", format!("cannot compile together: {e}")))?,
            )
        };

        if let Some(s) = &self.service
            && s.is_empty()
        {
            return Err(err(
                "service",
                "empty (leave it out to take every service)".into(),
            ));
        }
        if let Some(l) = &self.logger
            && (l.is_empty() || l.ends_with('.'))
        {
            return Err(err("logger", "a logger name like app or app.db".into()));
        }
        let min_level = match kind {
            LogRuleKind::Threshold => Some(self.level.unwrap_or(LogLevel::Error)),
            _ => self.level,
        };
        for k in self.labels.keys() {
            if RESERVED_LABELS.contains(&k.as_str()) {
                return Err(err(
                    &format!("labels.{k}"),
                    "set by the rule itself (severity has its own field)".into(),
                ));
            }
            if !valid_label_name(k) {
                return Err(err(
                    &format!("labels.{k}"),
                    "label names are letters, digits and _, not starting with a digit".into(),
                ));
            }
        }
        Ok(LogRule {
            spec: self.clone(),
            kind,
            patterns,
            set,
            severity,
            min_level,
            max,
            window,
        })
    }
}

/// Validates the whole `logs.rules` list: each rule, and names unique among them.
pub fn validate_rules(specs: &[LogRuleSpec]) -> Result<Vec<LogRule>, LogRuleError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        if !names.insert(s.name.as_str()) {
            return Err(LogRuleError {
                index: i,
                rule: s.name.clone(),
                field: "name".into(),
                message: "another log rule has this name (it is the alertname)".into(),
            });
        }
        out.push(s.validate(i)?);
    }
    Ok(out)
}

fn check_severity(s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.len() > 64 {
        return Err("must be 1 to 64 characters (critical, warning, info, P0…)".into());
    }
    Ok(())
}

fn valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn regex_message(pattern: &str, e: &regex::Error) -> String {
    let python_only = ["(?=", "(?!", "(?<=", "(?<!", "(?P="]
        .iter()
        .any(|s| pattern.contains(s))
        || pattern
            .as_bytes()
            .windows(2)
            .any(|w| w[0] == b'\\' && w[1].is_ascii_digit() && w[1] != b'0');
    let first_line = e
        .to_string()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    if python_only {
        format!(
            "invalid regex {pattern:?}: look-around and backreferences are not supported ({first_line})"
        )
    } else {
        format!("invalid regex {pattern:?}: {first_line}")
    }
}
