//! The tree evaluated against one entry in memory: the live tail, log rules, and the
//! re-check of candidates the index could only narrow down.

use pharos_model::LogEntry;
use serde_json::Value;

use super::{FieldName, FilterValue, Node, message_tokens};
use crate::settings::CompareOp;

pub(super) fn matches(node: &Node, entry: &LogEntry) -> bool {
    let mut tokens = None;
    eval(node, entry, &mut tokens)
}

fn eval(node: &Node, entry: &LogEntry, tokens: &mut Option<Vec<(usize, String)>>) -> bool {
    match node {
        Node::All => true,
        Node::Phrase(words) => {
            let tokens = tokens.get_or_insert_with(|| message_tokens(&entry.message));
            contains_phrase(tokens, words)
        }
        Node::MessageRegex(re) => re.is_match(&entry.message),
        Node::Level(cond) => cond.matches(entry.level),
        Node::Compare { field, op, value } => compare(entry, field, *op, value),
        Node::FieldRegex { field, regex } => {
            let mut found = false;
            for_each_value(entry, field, &mut |v| {
                if !found {
                    found = match v {
                        Value::String(s) => regex.is_match(s),
                        Value::Null => false,
                        other => regex.is_match(&other.to_string()),
                    };
                }
            });
            found
        }
        Node::And(parts) => parts.iter().all(|p| eval(p, entry, tokens)),
        Node::Or(parts) => parts.iter().any(|p| eval(p, entry, tokens)),
        Node::Not(inner) => !eval(inner, entry, tokens),
    }
}

fn contains_phrase(tokens: &[(usize, String)], words: &[String]) -> bool {
    let Some(first) = words.first() else {
        return true;
    };
    tokens.iter().enumerate().any(|(i, (pos, t))| {
        t == first
            && words[1..].iter().enumerate().all(|(k, w)| {
                tokens
                    .get(i + 1 + k)
                    .is_some_and(|(p, t)| *p == pos + 1 + k && t == w)
            })
    })
}

/// `!=` is the negation of `=`, so an entry without the field matches it; the order
/// comparisons need a number on both sides.
fn compare(entry: &LogEntry, field: &FieldName, op: CompareOp, value: &FilterValue) -> bool {
    let mut found = false;
    let want = if op == CompareOp::Ne {
        CompareOp::Eq
    } else {
        op
    };
    // Built-in fields are single strings indexed whole: equality is on the text.
    if want == CompareOp::Eq && !matches!(field, FieldName::Other(_)) {
        for_each_value(entry, field, &mut |v| {
            found |= v.as_str() == Some(value.text.as_str());
        });
        return if op == CompareOp::Ne { !found } else { found };
    }
    for_each_value(entry, field, &mut |v| {
        if !found {
            found = value_holds(v, want, value);
        }
    });
    if op == CompareOp::Ne { !found } else { found }
}

fn value_holds(v: &Value, op: CompareOp, want: &FilterValue) -> bool {
    let number = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => super::number_like(s),
        _ => None,
    };
    if op == CompareOp::Eq {
        let text_equal = match v {
            Value::String(s) => *s == want.text,
            Value::Bool(b) => want.text == if *b { "true" } else { "false" },
            _ => false,
        };
        return text_equal || matches!((number, want.number), (Some(a), Some(b)) if a == b);
    }
    match (number, want.number) {
        (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| op.holds(o)),
        _ => false,
    }
}

/// Calls `f` with each value the field has: none when missing, each element of an array.
pub(crate) fn for_each_value(entry: &LogEntry, field: &FieldName, f: &mut dyn FnMut(&Value)) {
    let string = |s: &str| Value::String(s.to_string());
    match field {
        FieldName::Service => f(&string(&entry.service)),
        FieldName::Logger => {
            if let Some(s) = &entry.logger {
                f(&string(s))
            }
        }
        FieldName::Host => {
            if let Some(s) = &entry.host {
                f(&string(s))
            }
        }
        FieldName::Source => f(&string(entry.source.as_str())),
        FieldName::TraceId => {
            if let Some(s) = &entry.trace_id {
                f(&string(s))
            }
        }
        FieldName::RequestId => {
            if let Some(s) = entry.request_id() {
                f(&string(s))
            }
        }
        FieldName::Message => f(&string(&entry.message)),
        FieldName::Level => {
            if let Some(l) = entry.level {
                f(&string(l.as_str()))
            }
        }
        FieldName::Other(path) => {
            if let Some(v) = lookup(&entry.fields, path) {
                match v {
                    Value::Array(items) => items.iter().for_each(&mut *f),
                    other => f(other),
                }
            }
        }
    }
}

/// `a.b` is the key `a.b` when there is one, else `b` inside the object `a`.
fn lookup<'a>(fields: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = fields.get(path) {
        return Some(v);
    }
    let (head, tail) = path.split_once('.')?;
    match fields.get(head)? {
        Value::Object(inner) => lookup(inner, tail),
        _ => None,
    }
}
