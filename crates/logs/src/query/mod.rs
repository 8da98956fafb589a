//! The log search language: its syntax tree, the parser (`parse.rs`, plain words and
//! field filters plus LogQL's `{…} |= …` forms, both ending in one tree), the in-memory
//! matcher the live tail and log rules use (`matches.rs`), and the translation into a
//! tantivy query for the stored partitions (`index.rs`). One tree and one matcher keep
//! the tail and the search from disagreeing: whatever the index cannot answer exactly is
//! re-checked with [`LogQuery::matches`] on the stored entry.

mod index;
mod matches;
mod parse;
mod tokens;

use std::fmt;

use pharos_model::{LogEntry, LogLevel};
use regex::Regex;

use crate::settings::{CompareOp, LevelCondition};

pub(crate) use index::IndexQuery;
pub(crate) use matches::for_each_value;
pub(crate) use tokens::message_tokens;

/// A parsed search. `LogQuery::default()` (and `parse("")`) match every entry.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    text: String,
    root: Node,
}

/// Where and why a search did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {position}: {message}")]
pub struct QueryError {
    /// Byte offset into the query text.
    pub position: usize,
    pub message: String,
}

impl LogQuery {
    pub fn parse(text: &str) -> Result<LogQuery, QueryError> {
        Ok(LogQuery {
            text: text.to_string(),
            root: parse::parse(text)?,
        })
    }

    /// A tree built inside the store (LogQL's narrowing search).
    pub(crate) fn from_node(root: Node) -> LogQuery {
        LogQuery {
            text: String::new(),
            root,
        }
    }

    /// Every entry.
    pub fn all() -> LogQuery {
        LogQuery::default()
    }

    /// The text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_all(&self) -> bool {
        matches!(self.root, Node::All)
    }

    /// The same answer the store gives, for one entry in memory.
    pub fn matches(&self, entry: &LogEntry) -> bool {
        matches::matches(&self.root, entry)
    }

    pub(crate) fn root(&self) -> &Node {
        &self.root
    }
}

impl fmt::Display for LogQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The fields every entry has a place for; anything else is looked up in `fields`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FieldName {
    Service,
    Logger,
    Host,
    Source,
    TraceId,
    RequestId,
    Message,
    Level,
    /// A key of `LogEntry::fields`, dotted for nested objects (`http.status`).
    Other(String),
}

impl FieldName {
    pub(crate) fn from_name(name: &str) -> FieldName {
        match name {
            "service" => FieldName::Service,
            "logger" => FieldName::Logger,
            "host" => FieldName::Host,
            "source" => FieldName::Source,
            "trace_id" => FieldName::TraceId,
            "request_id" => FieldName::RequestId,
            "message" | "msg" => FieldName::Message,
            "level" => FieldName::Level,
            other => FieldName::Other(other.to_string()),
        }
    }
}

/// A value written after a comparison: kept as typed, with its number when it reads as one.
#[derive(Debug, Clone)]
pub(crate) struct FilterValue {
    pub text: String,
    pub number: Option<f64>,
}

impl FilterValue {
    pub(crate) fn new(text: String) -> FilterValue {
        let number = number_like(&text);
        FilterValue { text, number }
    }
}

/// Strings that read as numbers compare as numbers (`user_id=123` finds `"123"` and `123`);
/// `nan`, `inf` and hex stay strings.
pub(crate) fn number_like(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        || !t.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[derive(Debug, Clone, Default)]
pub(crate) enum Node {
    #[default]
    All,
    /// Message tokens in a row (one token: a word). Case-insensitive, whole words.
    Phrase(Vec<String>),
    /// A regex searched anywhere in the message.
    MessageRegex(Regex),
    Level(LevelCondition),
    Compare {
        field: FieldName,
        op: CompareOp,
        value: FilterValue,
    },
    /// A regex searched anywhere in the field's text (`=~`); an entry without the field
    /// does not match.
    FieldRegex {
        field: FieldName,
        regex: Regex,
    },
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

pub(crate) fn level_field_value(level: Option<LogLevel>) -> u64 {
    level.map(|l| l.rank() as u64 + 1).unwrap_or(0)
}
