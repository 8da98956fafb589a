//! Assertions on a JSON health body, written as people read them:
//! `status == "healthy"`, `checks.database.latency_ms < 100`, `items[0].ok == true`,
//! `version exists`, `message contains "ok"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::ModelError;

#[derive(Clone, Debug, PartialEq)]
enum PathStep {
    Key(String),
    Index(usize),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Exists,
}

/// One parsed assertion; keeps its source text to show in results and errors.
#[derive(Clone, Debug)]
pub struct JsonAssertion {
    source: String,
    path: Vec<PathStep>,
    comparison: Comparison,
    expected: Value,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid assertion {source_text:?}: {reason}")]
pub struct AssertionParseError {
    source_text: String,
    reason: String,
}

impl PartialEq for JsonAssertion {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl JsonAssertion {
    /// Checks the body; `Err` carries what a person needs to see why it failed.
    pub fn check(&self, body: &Value) -> Result<(), ModelError> {
        let found = self.lookup(body);
        let Some(found) = found else {
            return Err(ModelError::AssertionPathMissing {
                assertion: self.source.clone(),
                path: self.path_text(),
            });
        };
        let ok = match self.comparison {
            Comparison::Exists => true,
            Comparison::Eq => json_equal(found, &self.expected),
            Comparison::Ne => !json_equal(found, &self.expected),
            Comparison::Lt | Comparison::Le | Comparison::Gt | Comparison::Ge => {
                match (found.as_f64(), self.expected.as_f64()) {
                    (Some(a), Some(b)) => match self.comparison {
                        Comparison::Lt => a < b,
                        Comparison::Le => a <= b,
                        Comparison::Gt => a > b,
                        _ => a >= b,
                    },
                    _ => false,
                }
            }
            Comparison::Contains => match (found, &self.expected) {
                (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
                (Value::Array(items), needle) => items.iter().any(|i| json_equal(i, needle)),
                _ => false,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(ModelError::AssertionFailed {
                assertion: self.source.clone(),
                found: found.clone(),
            })
        }
    }

    fn lookup<'a>(&self, body: &'a Value) -> Option<&'a Value> {
        let mut cur = body;
        for step in &self.path {
            cur = match step {
                PathStep::Key(k) => cur.get(k.as_str())?,
                PathStep::Index(i) => cur.get(*i)?,
            };
        }
        Some(cur)
    }

    fn path_text(&self) -> String {
        let mut out = String::new();
        for step in &self.path {
            match step {
                PathStep::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                PathStep::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// Numbers compare by value so that `latency_ms == 15` matches `15.0`.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn parse_path(text: &str) -> Result<Vec<PathStep>, String> {
    let mut steps = Vec::new();
    let mut rest = text.trim();
    if rest.starts_with('$') {
        rest = rest[1..].trim_start_matches('.');
    }
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or("unclosed [")?;
            let inner = &after[..end];
            if let Ok(i) = inner.parse::<usize>() {
                steps.push(PathStep::Index(i));
            } else {
                let key = inner.trim_matches(|c| c == '"' || c == '\'');
                steps.push(PathStep::Key(key.to_string()));
            }
            rest = after[end + 1..].trim_start_matches('.');
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() {
                return Err("empty path segment".into());
            }
            steps.push(PathStep::Key(key.to_string()));
            rest = rest[end..].strip_prefix('.').unwrap_or(&rest[end..]);
        }
    }
    Ok(steps)
}

impl FromStr for JsonAssertion {
    type Err = AssertionParseError;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| AssertionParseError {
            source_text: source.to_string(),
            reason: reason.to_string(),
        };
        let text = source.trim();
        if let Some(path) = text.strip_suffix(" exists") {
            let path = parse_path(path).map_err(|e| err(&e))?;
            if path.is_empty() {
                return Err(err("missing field path"));
            }
            return Ok(Self {
                source: text.into(),
                path,
                comparison: Comparison::Exists,
                expected: Value::Null,
            });
        }
        // Longest operators first so `<=` is not read as `<`.
        const OPERATORS: [(&str, Comparison); 7] = [
            ("==", Comparison::Eq),
            ("!=", Comparison::Ne),
            ("<=", Comparison::Le),
            (">=", Comparison::Ge),
            (" contains ", Comparison::Contains),
            ("<", Comparison::Lt),
            (">", Comparison::Gt),
        ];
        let (pos, op, comparison) = OPERATORS
            .iter()
            .filter_map(|(op, c)| text.find(op).map(|p| (p, *op, *c)))
            .min_by_key(|(p, op, _)| (*p, usize::MAX - op.len()))
            .ok_or_else(|| err("expected one of == != < <= > >= contains exists"))?;
        let path = parse_path(&text[..pos]).map_err(|e| err(&e))?;
        if path.is_empty() {
            return Err(err("missing field path before the operator"));
        }
        let literal = text[pos + op.len()..].trim();
        let expected = if literal.len() >= 2 && literal.starts_with('\'') && literal.ends_with('\'')
        {
            Value::String(literal[1..literal.len() - 1].to_string())
        } else {
            serde_json::from_str(literal).map_err(|_| {
                err("the value must be a JSON literal: \"text\", 100, true, false or null")
            })?
        };
        if matches!(
            comparison,
            Comparison::Lt | Comparison::Le | Comparison::Gt | Comparison::Ge
        ) && !expected.is_number()
        {
            return Err(err("<, <=, > and >= compare with a number"));
        }
        Ok(Self {
            source: text.into(),
            path,
            comparison,
            expected,
        })
    }
}

impl fmt::Display for JsonAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for JsonAssertion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JsonAssertion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Every number in a JSON body with its dotted path, for recording as series
/// (seed 004 alerts on `queue_size` from its `/health` body).
pub fn numbers_in(body: &Value) -> Vec<(String, f64)> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<(String, f64)>) {
        match v {
            Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    out.push((prefix.to_string(), f));
                }
            }
            Value::Object(map) => {
                for (k, child) in map {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(child, &p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn a(s: &str) -> JsonAssertion {
        s.parse().unwrap()
    }

    #[test]
    fn seed_002_readiness_assertions() {
        let body = json!({"status": "healthy", "checks": {"database": {"status": "healthy", "latency_ms": 15}}});
        assert!(a(r#"status == "healthy""#).check(&body).is_ok());
        assert!(
            a(r#"checks.database.status == "healthy""#)
                .check(&body)
                .is_ok()
        );
        assert!(a("checks.database.latency_ms < 100").check(&body).is_ok());
        assert!(a("checks.database.latency_ms <= 15").check(&body).is_ok());
        assert!(a("checks.database.latency_ms > 15").check(&body).is_err());
        assert!(a("status != 'degraded'").check(&body).is_ok());
        let err = a("checks.redis.status exists")
            .check(&body)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "checks.redis.status exists: checks.redis.status is missing"
        );
    }

    #[test]
    fn failures_say_what_was_found() {
        let body = json!({"status": "degraded"});
        let err = a(r#"status == "healthy""#).check(&body).unwrap_err();
        assert_eq!(err.to_string(), r#"status == "healthy": found "degraded""#);
    }

    #[test]
    fn arrays_and_contains() {
        let body = json!({"items": [{"ok": true}], "message": "all ok", "tags": ["a", "b"]});
        assert!(a("items[0].ok == true").check(&body).is_ok());
        assert!(a(r#"message contains "ok""#).check(&body).is_ok());
        assert!(a(r#"tags contains "b""#).check(&body).is_ok());
    }

    #[test]
    fn rejects_malformed() {
        assert!("status".parse::<JsonAssertion>().is_err());
        assert!("== 1".parse::<JsonAssertion>().is_err());
        assert!("x < \"abc\"".parse::<JsonAssertion>().is_err());
        assert!("x == healthy".parse::<JsonAssertion>().is_err());
    }

    #[test]
    fn finds_numbers() {
        let nums =
            numbers_in(&json!({"queue_size": 12, "checks": {"db": {"latency_ms": 3.5}}, "s": "x"}));
        assert!(nums.contains(&("queue_size".to_string(), 12.0)));
        assert!(nums.contains(&("checks.db.latency_ms".to_string(), 3.5)));
    }
}
