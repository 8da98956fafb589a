//! The parser: a recursive descent over the text's bytes, so every error can name the
//! byte where it went wrong. Plain searches (`timeout service=bot -retry`) and LogQL's
//! (`{service="bot"} |= "timeout" != "retry"`) end in the same tree.

use regex::Regex;

use super::{FieldName, FilterValue, Node, QueryError, message_tokens};
use crate::settings::{CompareOp, LevelCondition};
use pharos_model::LogLevel;

pub(super) fn parse(text: &str) -> Result<Node, QueryError> {
    let mut p = Parser {
        s: text,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Ok(Node::All);
    }
    let node = p.or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error_here(format!("unexpected {}", p.describe_here())));
    }
    Ok(simplify(node))
}

/// How deep parentheses, `NOT` and `-` may nest: the parser and the matcher recurse once
/// per level, and a request's search must not be able to overflow a worker's stack.
pub(super) const MAX_NESTING: usize = 64;

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    /// Parentheses, `NOT`s and `-`s open around `pos`.
    depth: usize,
}

/// Longest first, so `<=` is not read as `<`.
const FIELD_OPS: [(&str, Op); 8] = [
    ("=~", Op::Regex),
    ("!~", Op::NotRegex),
    ("!=", Op::Cmp(CompareOp::Ne)),
    ("<=", Op::Cmp(CompareOp::Le)),
    (">=", Op::Cmp(CompareOp::Ge)),
    ("=", Op::Cmp(CompareOp::Eq)),
    ("<", Op::Cmp(CompareOp::Lt)),
    (">", Op::Cmp(CompareOp::Gt)),
];

#[derive(Clone, Copy)]
enum Op {
    Cmp(CompareOp),
    Regex,
    NotRegex,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn error_at(&self, position: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            position,
            message: message.into(),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> QueryError {
        self.error_at(self.pos, message)
    }

    fn describe_here(&self) -> String {
        match self.peek() {
            None => "end of query".to_string(),
            Some(c) => format!("`{c}`"),
        }
    }

    /// `OR`, `AND`, `NOT` in capitals, as whole words.
    fn at_keyword(&self, kw: &str) -> bool {
        let r = self.rest();
        r.starts_with(kw)
            && r[kw.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '(' || c == '"' || c == '{')
    }

    /// Parses one level deeper, refusing to go past [`MAX_NESTING`].
    fn nested(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<Node, QueryError>,
    ) -> Result<Node, QueryError> {
        if self.depth >= MAX_NESTING {
            return Err(self.error_here(format!(
                "parentheses, `NOT` and `-` nested deeper than {MAX_NESTING} levels"
            )));
        }
        self.depth += 1;
        let node = parse(self);
        self.depth -= 1;
        node
    }

    fn or(&mut self) -> Result<Node, QueryError> {
        let mut alternatives = vec![self.and()?];
        loop {
            self.skip_ws();
            if !self.at_keyword("OR") {
                break;
            }
            self.pos += 2;
            alternatives.push(self.and()?);
        }
        Ok(if alternatives.len() == 1 {
            alternatives.pop().unwrap_or_default()
        } else {
            Node::Or(alternatives)
        })
    }

    fn and(&mut self) -> Result<Node, QueryError> {
        let mut parts = Vec::new();
        loop {
            self.skip_ws();
            if self.at_end() || self.peek() == Some(')') || self.at_keyword("OR") {
                break;
            }
            if self.at_keyword("AND") {
                if parts.is_empty() {
                    return Err(self.error_here("`AND` needs a search term before it"));
                }
                self.pos += 3;
                self.skip_ws();
                if self.at_end() || self.peek() == Some(')') || self.at_keyword("OR") {
                    return Err(self.error_here("expected a search term after `AND`"));
                }
                continue;
            }
            parts.push(self.unary()?);
        }
        match parts.len() {
            0 => Err(self.error_here(format!(
                "expected a search term, found {}",
                self.describe_here()
            ))),
            1 => Ok(parts.pop().unwrap_or_default()),
            _ => Ok(Node::And(parts)),
        }
    }

    fn unary(&mut self) -> Result<Node, QueryError> {
        self.skip_ws();
        if self.at_keyword("NOT") {
            self.pos += 3;
            self.skip_ws();
            if self.at_end() {
                return Err(self.error_here("expected a search term after `NOT`"));
            }
            return self.nested(|p| Ok(Node::Not(Box::new(p.unary()?))));
        }
        let r = self.rest();
        if r.starts_with('-') && r[1..].chars().next().is_some_and(|c| !c.is_whitespace()) {
            self.pos += 1;
            return self.nested(|p| Ok(Node::Not(Box::new(p.unary()?))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, QueryError> {
        let start = self.pos;
        let r = self.rest();
        if r.starts_with('(') {
            self.pos += 1;
            self.skip_ws();
            if self.peek() == Some(')') {
                return Err(self.error_here("empty parentheses"));
            }
            let inner = self.nested(Parser::or)?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return Err(self.error_at(
                    start,
                    format!(
                        "`(` is never closed (found {} instead)",
                        self.describe_here()
                    ),
                ));
            }
            self.pos += 1;
            return Ok(inner);
        }
        if r.starts_with('{') {
            return self.selector();
        }
        // LogQL line filters.
        for (prefix, regex, negated) in [
            ("|=", false, false),
            ("|~", true, false),
            ("!=", false, true),
            ("!~", true, true),
        ] {
            if r.starts_with(prefix) {
                self.pos += 2;
                self.skip_ws();
                let node = self.line_filter(regex)?;
                return Ok(if negated {
                    Node::Not(Box::new(node))
                } else {
                    node
                });
            }
        }
        if r.starts_with('~') {
            self.pos += 1;
            self.skip_ws();
            return self.line_filter(true);
        }
        if r.starts_with('"') || r.starts_with('`') {
            let (text, at) = self.string()?;
            return self.phrase(&text, at);
        }
        if r.starts_with(')') {
            return Err(self.error_here("`)` without a matching `(`"));
        }
        let word = self.word();
        if word.is_empty() {
            return Err(self.error_here(format!("unexpected {}", self.describe_here())));
        }
        if let Some(op) = self.field_op() {
            return self.field_filter(word, start, op);
        }
        self.phrase(word, start)
    }

    /// A bare word: up to whitespace, a bracket, a quote or a comparison.
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        let mut i = self.pos;
        while i < bytes.len() {
            let rest = &self.s[i..];
            let c = rest.chars().next().unwrap_or(' ');
            if c.is_whitespace() || matches!(c, '(' | ')' | '"' | '`' | '{' | '}' | ',') {
                break;
            }
            if FIELD_OPS.iter().any(|(p, _)| rest.starts_with(p))
                || rest.starts_with("|=")
                || rest.starts_with("|~")
            {
                break;
            }
            i += c.len_utf8();
        }
        self.pos = i;
        &self.s[start..i]
    }

    fn field_op(&mut self) -> Option<Op> {
        let r = self.rest();
        let (p, op) = FIELD_OPS.iter().find(|(p, _)| r.starts_with(p))?;
        self.pos += p.len();
        Some(*op)
    }

    /// The value after a comparison: a quoted string or a bare run of characters.
    fn value(&mut self, op_text: &str) -> Result<(String, usize), QueryError> {
        self.skip_ws();
        let at = self.pos;
        if matches!(self.peek(), Some('"') | Some('`')) {
            return self.string();
        }
        let r = self.rest();
        let end = r
            .find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | '}' | '{'))
            .unwrap_or(r.len());
        if end == 0 {
            return Err(self.error_here(format!(
                "expected a value after `{op_text}`, found {}",
                self.describe_here()
            )));
        }
        self.pos += end;
        Ok((r[..end].to_string(), at))
    }

    fn field_filter(&mut self, name: &str, name_at: usize, op: Op) -> Result<Node, QueryError> {
        let op_text = &self.s[name_at + name.len()..self.pos];
        let op_text = op_text.to_string();
        let (value, value_at) = self.value(&op_text)?;
        self.filter_node(name, name_at, op, value, value_at)
    }

    fn filter_node(
        &self,
        name: &str,
        name_at: usize,
        op: Op,
        value: String,
        value_at: usize,
    ) -> Result<Node, QueryError> {
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | '/' | ':'))
        {
            return Err(self.error_at(name_at, format!("{name:?} is not a field name")));
        }
        let field = FieldName::from_name(name);
        match op {
            Op::Regex | Op::NotRegex => {
                let regex = self.regex(&value, value_at)?;
                let node = match field {
                    FieldName::Message => Node::MessageRegex(regex),
                    field => Node::FieldRegex { field, regex },
                };
                Ok(match op {
                    Op::NotRegex => Node::Not(Box::new(node)),
                    _ => node,
                })
            }
            Op::Cmp(op) => match field {
                FieldName::Level => {
                    let level = LogLevel::parse(&value).ok_or_else(|| {
                        self.error_at(
                            value_at,
                            format!(
                                "unknown level {value:?} (write TRACE, DEBUG, INFO, NOTICE, WARNING, ERROR or CRITICAL)"
                            ),
                        )
                    })?;
                    Ok(Node::Level(LevelCondition { op, level }))
                }
                FieldName::Message => match op {
                    CompareOp::Eq => self.phrase(&value, value_at),
                    CompareOp::Ne => Ok(Node::Not(Box::new(self.phrase(&value, value_at)?))),
                    _ => Err(self.error_at(
                        name_at,
                        format!(
                            "the message compares only with `=`, `!=`, `=~` and `!~`, not `{}`",
                            op.as_str()
                        ),
                    )),
                },
                field => {
                    let value = FilterValue::new(value);
                    if !matches!(op, CompareOp::Eq | CompareOp::Ne) && value.number.is_none() {
                        return Err(self.error_at(
                            value_at,
                            format!(
                                "`{}` compares numbers and {:?} is not one",
                                op.as_str(),
                                value.text
                            ),
                        ));
                    }
                    Ok(Node::Compare { field, op, value })
                }
            },
        }
    }

    /// `{service="bot", level=~"ERROR|CRITICAL"}`.
    fn selector(&mut self) -> Result<Node, QueryError> {
        let open = self.pos;
        self.pos += 1;
        let mut parts = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                break;
            }
            if self.at_end() {
                return Err(self.error_at(open, "`{` is never closed"));
            }
            let name_at = self.pos;
            let name = self.word();
            if name.is_empty() {
                return Err(self.error_here(format!(
                    "expected a field name, found {}",
                    self.describe_here()
                )));
            }
            self.skip_ws();
            let op_at = self.pos;
            let Some(op) = self.field_op() else {
                return Err(self.error_here(format!(
                    "expected `=`, `!=`, `=~` or `!~` after {name:?}, found {}",
                    self.describe_here()
                )));
            };
            let op_text = self.s[op_at..self.pos].to_string();
            let (value, value_at) = self.value(&op_text)?;
            parts.push(self.filter_node(name, name_at, op, value, value_at)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => {
                    return Err(self.error_here(format!(
                        "expected `,` or `}}` in the selector, found {}",
                        self.describe_here()
                    )));
                }
            }
        }
        Ok(match parts.len() {
            0 => Node::All,
            1 => parts.pop().unwrap_or_default(),
            _ => Node::And(parts),
        })
    }

    fn line_filter(&mut self, regex: bool) -> Result<Node, QueryError> {
        if !matches!(self.peek(), Some('"') | Some('`')) {
            return Err(self.error_here(format!(
                "expected a quoted string, found {}",
                self.describe_here()
            )));
        }
        let (text, at) = self.string()?;
        if regex {
            Ok(Node::MessageRegex(self.regex(&text, at)?))
        } else {
            self.phrase(&text, at)
        }
    }

    fn phrase(&self, text: &str, at: usize) -> Result<Node, QueryError> {
        let tokens: Vec<String> = message_tokens(text).into_iter().map(|(_, t)| t).collect();
        if tokens.is_empty() {
            return Err(self.error_at(
                at,
                format!("{text:?} has no letters or digits to search for (use ~\"…\" for a regex)"),
            ));
        }
        Ok(Node::Phrase(tokens))
    }

    fn regex(&self, pattern: &str, at: usize) -> Result<Regex, QueryError> {
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                let last = msg.lines().last().unwrap_or("").trim();
                let last = last.strip_prefix("error: ").unwrap_or(last);
                self.error_at(at, format!("invalid regex {pattern:?}: {last}"))
            })
    }

    /// `"…"` with `\"`, `\\`, `\n`, `\t` (other backslashes are kept, so `"\d+"` stays a
    /// regex), or `` `…` `` taken as written.
    fn string(&mut self) -> Result<(String, usize), QueryError> {
        let at = self.pos;
        let quote = self.peek().unwrap_or('"');
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok((out, at));
            }
            if c == '\\' && quote == '"' {
                match chars.next() {
                    Some((_, '"')) => out.push('"'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                }
                continue;
            }
            out.push(c);
        }
        Err(self.error_at(at, format!("`{quote}` is never closed")))
    }
}

/// Flattens nested `And`/`Or` and folds away `All`, so the index sees the fewest clauses.
fn simplify(node: Node) -> Node {
    match node {
        Node::And(parts) => {
            let mut flat = Vec::new();
            for p in parts.into_iter().map(simplify) {
                match p {
                    Node::All => {}
                    Node::And(inner) => flat.extend(inner),
                    other => flat.push(other),
                }
            }
            match flat.len() {
                0 => Node::All,
                1 => flat.pop().unwrap_or_default(),
                _ => Node::And(flat),
            }
        }
        Node::Or(parts) => {
            let mut flat = Vec::new();
            for p in parts.into_iter().map(simplify) {
                match p {
                    Node::All => return Node::All,
                    Node::Or(inner) => flat.extend(inner),
                    other => flat.push(other),
                }
            }
            match flat.len() {
                1 => flat.pop().unwrap_or_default(),
                _ => Node::Or(flat),
            }
        }
        Node::Not(inner) => match simplify(*inner) {
            Node::Not(inner) => *inner,
            other => Node::Not(Box::new(other)),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::LogQuery;

    fn err(q: &str) -> QueryError {
        LogQuery::parse(q).expect_err(q)
    }

    /// A search of 100,000 `(` (or `NOT`, or `-`) overflowed the stack of the server's
    /// worker thread and aborted the whole process (found by `hostile_http.rs`).
    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        for q in [
            format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{}a", "NOT ".repeat(100_000)),
            format!("{}a", "-".repeat(100_000)),
        ] {
            let e = err(&q);
            assert!(e.message.contains("nested deeper than"), "{e}");
        }
        let ok = format!("{}a{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        LogQuery::parse(&ok).unwrap();
    }

    #[test]
    fn every_form_parses() {
        for q in [
            "",
            "timeout",
            "timeout database",
            "\"connection reset\"",
            "service=bot",
            "service=\"my bot\"",
            "level>=WARNING",
            "level>=warn",
            "level=30",
            "user_id=123",
            "duration_ms>1000",
            "duration_ms<=2.5",
            "service!=bot",
            "error_type=~\"Decimal.*\"",
            "~\"Decimal.*JSON\"",
            "-retry",
            "NOT retry",
            "timeout OR refused",
            "(timeout OR refused) service=bot",
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
            "request_id=req-1",
            "{service=\"bot\", level=\"ERROR\"} |= \"timeout\" != \"retry\" |~ \"Decimal.*JSON\"",
            "{service=~\"bot|api\"} !~ `\\d+ms`",
            "http.status>=500",
            "timeout AND service=bot",
            "Error! something",
        ] {
            LogQuery::parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        }
    }

    #[test]
    fn logql_and_plain_forms_build_the_same_tree() {
        let a = LogQuery::parse("{service=\"bot\", level=\"ERROR\"} |= \"timeout\" != \"retry\"")
            .unwrap();
        let b = LogQuery::parse("service=bot level=ERROR timeout -retry").unwrap();
        assert_eq!(format!("{:?}", a.root()), format!("{:?}", b.root()));
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = err("service=bot (timeout");
        assert_eq!(e.position, 12, "{e}");
        assert!(e.message.contains("never closed"), "{e}");
        let e = err("level>=LOUD");
        assert_eq!(e.position, 7);
        assert!(e.message.contains("unknown level"), "{e}");
        let e = err("duration_ms>fast");
        assert_eq!(e.position, 12);
        assert!(e.message.contains("compares numbers"), "{e}");
        let e = err("~\"(unclosed\"");
        assert_eq!(e.position, 1);
        assert!(e.message.contains("invalid regex"), "{e}");
        let e = err("timeout OR");
        assert_eq!(e.position, 10);
        let e = err("\"open phrase");
        assert_eq!(e.position, 0);
        assert!(e.message.contains("never closed"));
        let e = err("a )");
        assert_eq!(e.position, 2);
        let e = err("service=");
        assert_eq!(e.position, 8);
        assert!(e.message.contains("expected a value"), "{e}");
        let e = err("{service=\"bot\" level=\"x\"}");
        assert_eq!(e.position, 15);
        let e = err("\"...\"");
        assert!(e.message.contains("no letters or digits"), "{e}");
        assert_eq!(e.to_string(), format!("at byte 0: {}", e.message));
    }
}
