//! The one mapping between a stored [`LogEntry`] and Loki's stream labels, the mirror of
//! how the Loki push decoder (`ingest/src/logs/loki.rs`) reads labels in: the label that
//! named the service (`service_name`, `service`, `application`, `app`, `job`,
//! `container`) is the entry's service, `level` / `severity` / `detected_level` its level,
//! `host` / `hostname` / `instance` its host, `logger` its logger, and every other label
//! or field is kept under its own name. So a line pushed as `{job="x", level="error"}`
//! is found by `{job="x"}`, `{service="x"}` and `{level="error"}`, and shows as
//! `{service="x", level="error"}`.

use pharos_model::{LogEntry, LogLevel};
use serde_json::Value;

use super::{Labels, MatchOp, Matcher};
use crate::query::{FieldName, FilterValue, LogQuery, Node};
use crate::settings::{CompareOp, LevelCondition};

pub const SERVICE_LABEL: &str = "service";
pub const LEVEL_LABEL: &str = "level";

/// Names a selector may use for the service, level and host (what the push decoder
/// reads them from).
const SERVICE_ALIASES: [&str; 6] = [
    "service_name",
    "service",
    "application",
    "app",
    "job",
    "container",
];
const LEVEL_ALIASES: [&str; 3] = ["level", "severity", "detected_level"];
const HOST_ALIASES: [&str; 3] = ["host", "hostname", "instance"];

/// Fields of one entry shown as labels at most; a line with more keeps the first ones
/// (fields are sorted by name), so one wide JSON line cannot make a huge label set.
const MAX_FIELD_LABELS: usize = 64;
/// Field values longer than this are not labels (a stack trace is not a stream name).
const MAX_LABEL_VALUE_BYTES: usize = 1024;

/// Loki's lower-case level names (`warning`, not `WARNING`), which Grafana colours by.
pub(crate) fn level_label(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Notice => "notice",
        LogLevel::Warning => "warning",
        LogLevel::Error => "error",
        LogLevel::Critical => "critical",
    }
}

/// The labels of an entry: `service`, `level`, `logger`, `host`, `source`, `trace_id`,
/// then its fields (nested objects flattened with `_`, names made valid Loki label names).
pub fn entry_labels(entry: &LogEntry) -> Labels {
    let mut out = Labels::new();
    out.insert(SERVICE_LABEL.into(), entry.service.clone());
    if let Some(l) = entry.level {
        out.insert(LEVEL_LABEL.into(), level_label(l).into());
    }
    if let Some(l) = &entry.logger {
        out.insert("logger".into(), l.clone());
    }
    if let Some(h) = &entry.host {
        out.insert("host".into(), h.clone());
    }
    out.insert("source".into(), entry.source.as_str().into());
    if let Some(t) = &entry.trace_id {
        out.insert("trace_id".into(), t.clone());
    }
    let mut added = 0;
    for (k, v) in &entry.fields {
        flatten(&mut out, &sanitize(k), v, &mut added, 0);
    }
    out
}

fn flatten(out: &mut Labels, name: &str, v: &Value, added: &mut usize, depth: usize) {
    if *added >= MAX_FIELD_LABELS || depth > 4 {
        return;
    }
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(m) => {
            for (k, inner) in m {
                flatten(
                    out,
                    &format!("{name}_{}", sanitize(k)),
                    inner,
                    added,
                    depth + 1,
                );
            }
            return;
        }
        Value::Null | Value::Array(_) => return,
    };
    if text.len() > MAX_LABEL_VALUE_BYTES {
        return;
    }
    // The entry's own parts win over a field of the same name.
    if !out.contains_key(name) {
        out.insert(name.to_string(), text);
        *added += 1;
    }
}

/// A Loki label name: `[A-Za-z_][A-Za-z0-9_]*`, other characters as `_`.
pub(crate) fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

enum Canonical {
    Service,
    Level,
    Host,
}

fn canonical(name: &str) -> Option<Canonical> {
    if SERVICE_ALIASES.contains(&name) {
        Some(Canonical::Service)
    } else if LEVEL_ALIASES.contains(&name) {
        Some(Canonical::Level)
    } else if HOST_ALIASES.contains(&name) {
        Some(Canonical::Host)
    } else {
        None
    }
}

/// Whether a selector matcher holds for an entry with these labels. A label the entry
/// has under the matcher's name is used as it is; otherwise a service, level or host
/// alias reads the entry's service, level or host; a level matches Loki's names and
/// Pharos's (`error`, `ERROR`, `err`).
pub(crate) fn selector_holds(m: &Matcher, labels: &Labels, entry: &LogEntry) -> bool {
    if let Some(v) = labels.get(&m.name) {
        if m.name == LEVEL_LABEL {
            return level_holds(m, entry.level);
        }
        return m.holds(v);
    }
    match canonical(&m.name) {
        Some(Canonical::Service) => m.holds(&entry.service),
        Some(Canonical::Level) => level_holds(m, entry.level),
        Some(Canonical::Host) => m.holds(entry.host.as_deref().unwrap_or("")),
        None => m.holds(""),
    }
}

fn level_holds(m: &Matcher, level: Option<LogLevel>) -> bool {
    let Some(level) = level else {
        return m.holds("");
    };
    let equal = |want: &str| {
        LogLevel::parse(want) == Some(level) || want.eq_ignore_ascii_case(level_label(level))
    };
    match m.op {
        MatchOp::Eq => equal(&m.value),
        MatchOp::Ne => !equal(&m.value),
        MatchOp::Re | MatchOp::Nre => {
            let hit = m
                .regex
                .as_ref()
                .is_some_and(|r| r.is_match(level_label(level)) || r.is_match(level.as_str()));
            hit == (m.op == MatchOp::Re)
        }
    }
}

/// A search the index answers with a superset of the selector's entries: each equality
/// matcher on the service, level, host or logger. Other matchers are left to the exact
/// check on each candidate.
pub(crate) fn narrowing(selector: &[Matcher], line_filters: Vec<Node>) -> LogQuery {
    let mut parts: Vec<Node> = selector.iter().filter_map(narrow_one).collect();
    parts.extend(line_filters);
    LogQuery::from_node(match parts.len() {
        0 => Node::All,
        1 => parts.pop().unwrap_or_default(),
        _ => Node::And(parts),
    })
}

fn narrow_one(m: &Matcher) -> Option<Node> {
    if m.op != MatchOp::Eq || m.value.is_empty() {
        return None;
    }
    let compare = |field: FieldName| Node::Compare {
        field,
        op: CompareOp::Eq,
        value: FilterValue::new(m.value.clone()),
    };
    // The alias name may also be a field of its own (pushed next to the label that named
    // the service), so both are candidates.
    let or_field = |node: Node| Node::Or(vec![node, compare(FieldName::Other(m.name.clone()))]);
    match (m.name.as_str(), canonical(&m.name)) {
        ("service", _) => Some(compare(FieldName::Service)),
        // A JSON line's own `host` / `logger` field shows under that name when the entry
        // has none set.
        ("host", _) => Some(or_field(compare(FieldName::Host))),
        ("logger", _) => Some(or_field(compare(FieldName::Logger))),
        ("level", _) => LogLevel::parse(&m.value).map(|level| {
            Node::Level(LevelCondition {
                op: CompareOp::Eq,
                level,
            })
        }),
        (_, Some(Canonical::Service)) => Some(or_field(compare(FieldName::Service))),
        (_, Some(Canonical::Host)) => Some(or_field(compare(FieldName::Host))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use pharos_model::LogSource;

    fn matcher(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher {
            name: name.into(),
            op,
            value: value.into(),
            regex: matches!(op, MatchOp::Re | MatchOp::Nre)
                .then(|| regex::Regex::new(&format!("^(?:{value})$")).unwrap()),
        }
    }

    #[test]
    fn labels_mirror_the_push_decoder() {
        let mut e = LogEntry::new("billing", LogSource::Loki, Utc::now(), "boom");
        e.level = Some(LogLevel::Error);
        e.fields.insert("env".into(), Value::String("prod".into()));
        e.fields
            .insert("http.status".into(), serde_json::json!(500));
        e.fields.insert("app".into(), Value::String("other".into()));
        let l = entry_labels(&e);
        assert_eq!(l["service"], "billing");
        assert_eq!(l["level"], "error");
        assert_eq!(l["env"], "prod");
        assert_eq!(l["http_status"], "500");
        let holds = |m: Matcher| selector_holds(&m, &l, &e);
        assert!(holds(matcher("service", MatchOp::Eq, "billing")));
        assert!(holds(matcher("job", MatchOp::Eq, "billing")));
        assert!(
            holds(matcher("app", MatchOp::Eq, "other")),
            "a field of that name wins"
        );
        assert!(holds(matcher("level", MatchOp::Eq, "ERROR")));
        assert!(holds(matcher("level", MatchOp::Re, "error|warning")));
        assert!(!holds(matcher("level", MatchOp::Re, "warn")));
        assert!(holds(matcher("severity", MatchOp::Ne, "info")));
        assert!(holds(matcher("missing", MatchOp::Eq, "")));
        assert!(!holds(matcher("missing", MatchOp::Ne, "")));
    }
}
