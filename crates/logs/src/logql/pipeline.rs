//! A LogQL pipeline run on one entry: line filters, the `json` / `logfmt` / `regexp` /
//! `pattern` parsers (fields of the line become labels), label filters, `line_format`,
//! `label_format`, `drop`, `keep`, `decolorize`. `None` means the entry was filtered out.

use std::sync::LazyLock;

use pharos_model::LogEntry;
use regex::Regex;
use serde_json::Value;

use super::labels::sanitize;
use super::literals::{parse_bytes, parse_duration};
use super::{
    LabelPredicate, LabelSelection, LabelSource, Labels, LineTest, NumberUnit, PatternPart, Stage,
    TemplatePart,
};

/// The line and labels as they leave the pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Processed {
    pub line: String,
    pub labels: Labels,
    /// The sample `| unwrap` read, when there is one and it read as a number.
    pub value: Option<f64>,
}

const ERROR_LABEL: &str = "__error__";
const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// Labels a parser may not overwrite: an extracted field of the same name is added as
/// `<name>_extracted`, as Loki does for stream labels.
const ENTRY_LABELS: [&str; 6] = ["service", "level", "logger", "host", "source", "trace_id"];

/// The most labels one parser stage adds to a line (a huge JSON object stays bounded).
const MAX_EXTRACTED: usize = 256;

pub(crate) fn run(stages: &[Stage], entry: &LogEntry, labels: Labels) -> Option<Processed> {
    let mut p = Processed {
        line: entry.message.clone(),
        labels,
        value: None,
    };
    for stage in stages {
        if !apply(stage, entry, &mut p) {
            return None;
        }
    }
    Some(p)
}

/// Whether the line passes the line filters alone (what needs no parsing).
pub(crate) fn line_passes(negated: bool, tests: &[LineTest], line: &str) -> bool {
    let hit = tests.iter().any(|t| match t {
        LineTest::Contains(s) => line.contains(s.as_str()),
        LineTest::Regex(r) => r.is_match(line),
    });
    hit != negated
}

fn apply(stage: &Stage, entry: &LogEntry, p: &mut Processed) -> bool {
    match stage {
        Stage::LineFilter { negated, tests } => line_passes(*negated, tests, &p.line),
        Stage::Json(params) => {
            json(params, entry, p);
            true
        }
        Stage::Logfmt(params) => {
            logfmt(params, p);
            true
        }
        Stage::Regexp(re) => {
            if let Some(caps) = re.captures(&p.line) {
                let found: Vec<(String, String)> = re
                    .capture_names()
                    .flatten()
                    .filter_map(|n| {
                        caps.name(n)
                            .map(|m| (n.to_string(), m.as_str().to_string()))
                    })
                    .collect();
                for (k, v) in found {
                    extract(&mut p.labels, &k, v);
                }
            }
            true
        }
        Stage::Pattern(parts) => {
            if let Some(found) = match_pattern(parts, &p.line) {
                for (k, v) in found {
                    extract(&mut p.labels, &k, v);
                }
            }
            true
        }
        Stage::LabelFilter(pred) => predicate_holds(pred, &p.labels),
        Stage::LineFormat(parts) => {
            p.line = render(parts, entry, p);
            true
        }
        Stage::LabelFormat(items) => {
            // Templates read the labels as they were before this stage, as in Loki.
            let before = p.clone();
            for (dst, src) in items {
                let value = match src {
                    LabelSource::Rename(from) => p.labels.remove(from).unwrap_or_default(),
                    LabelSource::Template(parts) => render(parts, entry, &before),
                };
                p.labels.insert(dst.clone(), value);
            }
            true
        }
        Stage::Drop(sel) => {
            p.labels.retain(|k, v| !selected(sel, k, v));
            true
        }
        Stage::Keep(sel) => {
            p.labels.retain(|k, v| selected(sel, k, v));
            true
        }
        Stage::Unwrap { label, unit } => {
            let text = p.labels.remove(label).unwrap_or_default();
            p.value = number_of(text.trim(), *unit);
            if p.value.is_none() {
                set_error(
                    &mut p.labels,
                    "SampleExtractionErr",
                    format!("{label}: {text:?} is not a number"),
                );
            }
            true
        }
        Stage::Decolorize => {
            static ANSI: LazyLock<Option<Regex>> =
                LazyLock::new(|| Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").ok());
            if let Some(re) = ANSI.as_ref() {
                p.line = re.replace_all(&p.line, "").into_owned();
            }
            true
        }
    }
}

fn selected(sel: &[LabelSelection], name: &str, value: &str) -> bool {
    sel.iter().any(|s| match s {
        LabelSelection::Name(n) => n == name,
        LabelSelection::Matcher(m) => m.name == name && m.holds(value),
    })
}

fn extract(labels: &mut Labels, name: &str, value: String) {
    let name = sanitize(name);
    if ENTRY_LABELS.contains(&name.as_str()) && labels.get(&name).is_some_and(|v| *v != value) {
        labels.insert(format!("{name}_extracted"), value);
    } else {
        labels.insert(name, value);
    }
}

fn set_error(labels: &mut Labels, kind: &str, details: String) {
    labels.insert(ERROR_LABEL.into(), kind.into());
    labels.insert(ERROR_DETAILS_LABEL.into(), details);
}

/// Pharos reads a JSON line's fields when it stores the line (they are labels already,
/// and the message is what remains), so `| json` on such an entry is not an error.
fn json(params: &[(String, Vec<String>)], entry: &LogEntry, p: &mut Processed) {
    let parsed: Result<Value, _> = serde_json::from_str(p.line.trim());
    let obj = match parsed {
        Ok(Value::Object(o)) => o,
        Ok(_) | Err(_) if !entry.fields.is_empty() => return,
        Ok(_) => {
            return set_error(&mut p.labels, "JSONParserErr", "not a JSON object".into());
        }
        Err(e) => return set_error(&mut p.labels, "JSONParserErr", e.to_string()),
    };
    if params.is_empty() {
        let mut n = 0;
        for (k, v) in &obj {
            flatten_json(&mut p.labels, &sanitize(k), v, &mut n, 0);
        }
        return;
    }
    for (name, path) in params {
        let mut cur = Some(&Value::Object(obj.clone()));
        for seg in path {
            cur = cur.and_then(|v| match v {
                Value::Object(m) => m.get(seg),
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            });
        }
        let text = match cur {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        extract(&mut p.labels, name, text);
    }
}

fn flatten_json(labels: &mut Labels, name: &str, v: &Value, n: &mut usize, depth: usize) {
    if *n >= MAX_EXTRACTED || depth > 8 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                flatten_json(
                    labels,
                    &format!("{name}_{}", sanitize(k)),
                    inner,
                    n,
                    depth + 1,
                );
            }
        }
        // Loki skips arrays unless a parameter names an element.
        Value::Array(_) => {}
        Value::String(s) => {
            *n += 1;
            extract(labels, name, s.clone());
        }
        Value::Null => {
            *n += 1;
            extract(labels, name, String::new());
        }
        other => {
            *n += 1;
            extract(labels, name, other.to_string());
        }
    }
}

/// `key=value key2="quoted value"`; a bare `key` is `key=""`.
fn logfmt(params: &[(String, String)], p: &mut Processed) {
    let pairs = logfmt_pairs(&p.line);
    if params.is_empty() {
        for (k, v) in pairs.into_iter().take(MAX_EXTRACTED) {
            extract(&mut p.labels, &k, v);
        }
        return;
    }
    for (name, key) in params {
        if let Some((_, v)) = pairs.iter().find(|(k, _)| k == key) {
            extract(&mut p.labels, name, v.clone());
        }
    }
}

pub(crate) fn logfmt_pairs(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let ks = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = &line[ks..i];
        if key.is_empty() {
            i += 1;
            continue;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            if i < b.len() && b[i] == b'"' {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                        let c = line[i..].chars().next().unwrap_or('\\');
                        value.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            c => c,
                        });
                        i += c.len_utf8();
                        continue;
                    }
                    let ch_len = line[i..].chars().next().map_or(1, char::len_utf8);
                    value.push_str(&line[i..i + ch_len]);
                    i += ch_len;
                }
                i += 1;
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value.push_str(&line[vs..i.min(line.len())]);
            }
        }
        out.push((key.to_string(), value));
    }
    out
}

fn match_pattern(parts: &[PatternPart], line: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut pending: Option<&Option<String>> = None;
    for (i, part) in parts.iter().enumerate() {
        match part {
            PatternPart::Literal(lit) => {
                let found = if i == 0 {
                    line.starts_with(lit.as_str()).then_some(0)?
                } else {
                    pos + line[pos..].find(lit.as_str())?
                };
                if let Some(Some(name)) = pending.take() {
                    out.push((name.clone(), line[pos..found].to_string()));
                }
                pos = found + lit.len();
            }
            PatternPart::Capture(name) => pending = Some(name),
        }
    }
    if let Some(Some(name)) = pending {
        out.push((name.clone(), line[pos..].to_string()));
    }
    Some(out)
}

fn render(parts: &[TemplatePart], entry: &LogEntry, p: &Processed) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            TemplatePart::Text(t) => out.push_str(t),
            TemplatePart::Field(name) => {
                out.push_str(p.labels.get(name).map(String::as_str).unwrap_or(""))
            }
            TemplatePart::Line => out.push_str(&p.line),
            TemplatePart::Timestamp => out.push_str(
                &entry
                    .time
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ),
        }
    }
    out
}

pub(crate) fn predicate_holds(pred: &LabelPredicate, labels: &Labels) -> bool {
    match pred {
        LabelPredicate::And(a, b) => predicate_holds(a, labels) && predicate_holds(b, labels),
        LabelPredicate::Or(a, b) => predicate_holds(a, labels) || predicate_holds(b, labels),
        LabelPredicate::String(m) => m.holds(labels.get(&m.name).map(String::as_str).unwrap_or("")),
        LabelPredicate::Number {
            name,
            op,
            value,
            unit,
        } => {
            let Some(text) = labels.get(name) else {
                return false;
            };
            number_of(text.trim(), *unit).is_some_and(|g| op.holds(g, *value))
        }
    }
}

/// A label's text as a number: plain, a Go duration in seconds, or a size in bytes.
fn number_of(text: &str, unit: NumberUnit) -> Option<f64> {
    let plain = text.parse::<f64>().ok().filter(|n| !n.is_nan());
    match unit {
        NumberUnit::Plain => plain,
        NumberUnit::Duration => plain.or_else(|| parse_duration(text).map(|ns| ns as f64 / 1e9)),
        NumberUnit::Bytes => plain.or_else(|| parse_bytes(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Expr, parse::parse};
    use super::*;
    use chrono::Utc;
    use pharos_model::LogSource;

    fn run_query(q: &str, line: &str) -> Option<Processed> {
        let Expr::Log(l) = parse(q).unwrap() else {
            panic!()
        };
        let e = LogEntry::new("api", LogSource::Http, Utc::now(), line);
        let labels = super::super::entry_labels(&e);
        run(&l.stages, &e, labels)
    }

    #[test]
    fn line_filters_are_case_sensitive_substrings() {
        assert!(run_query(r#"{a="b"} |= "time""#, "a Timeout time").is_some());
        assert!(run_query(r#"{a="b"} |= "Time""#, "a timeout").is_none());
        assert!(run_query(r#"{a="b"} != "x" or "y""#, "only y here").is_none());
        assert!(run_query(r#"{a="b"} |~ "err(or)?\\s+\\d+""#, "error 42").is_some());
    }

    #[test]
    fn json_fields_become_labels_and_filter() {
        let line = r#"{"status": 503, "method": "GET", "http": {"path": "/x"}, "took": "1.5s"}"#;
        let p = run_query(r#"{a="b"} | json | status >= 500 and method="GET""#, line).unwrap();
        assert_eq!(p.labels["http_path"], "/x");
        assert!(run_query(r#"{a="b"} | json | status < 500"#, line).is_none());
        assert!(run_query(r#"{a="b"} | json | took > 1s"#, line).is_some());
        let p = run_query(
            r#"{a="b"} | json p="http.path", method | line_format "{{.method}} {{ .p }}""#,
            line,
        )
        .unwrap();
        assert_eq!(p.line, "GET /x");
        let p = run_query(r#"{a="b"} | json"#, "not json").unwrap();
        assert_eq!(p.labels["__error__"], "JSONParserErr");
        let p = run_query(
            r#"{a="b"} | json | drop __error__, __error_details__"#,
            "no",
        )
        .unwrap();
        assert!(!p.labels.contains_key("__error__"));
    }

    #[test]
    fn logfmt_regexp_pattern_extract() {
        let p = run_query(
            r#"{a="b"} | logfmt | level="warn" or status=404"#,
            r#"level=warn msg="disk full" status=507"#,
        )
        .unwrap();
        assert_eq!(p.labels["msg"], "disk full");
        assert_eq!(
            p.labels["level"], "warn",
            "the entry has no level of its own"
        );
        let p = run_query(r#"{a="b"} | logfmt"#, "msg=\"caf\\\u{e9} \u{fc}\" k=v").unwrap();
        assert_eq!(
            p.labels["msg"], "caf\u{e9} \u{fc}",
            "an escape before a multi-byte character"
        );
        let p = run_query(
            r#"{a="b"} | regexp "took (?P<ms>\\d+)ms" | ms > 100"#,
            "GET / took 250ms",
        )
        .unwrap();
        assert_eq!(p.labels["ms"], "250");
        let p = run_query(
            r#"{a="b"} | pattern "<ip> - - <_> \"<method> <path> <_>\" <status>""#,
            r#"1.2.3.4 - - [x] "GET /a HTTP/1.1" 200"#,
        )
        .unwrap();
        assert_eq!(p.labels["method"], "GET");
        assert_eq!(p.labels["status"], "200");
        let p = run_query(
            r#"{a="b"} | label_format svc=service, both="{{.service}}!" | keep svc, both"#,
            "x",
        )
        .unwrap();
        assert_eq!(p.labels.len(), 2);
        assert_eq!(
            p.labels["both"], "api!",
            "templates read the labels before the stage"
        );
    }
}
