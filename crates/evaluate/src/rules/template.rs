//! The subset of Go's `text/template` that Prometheus rule files use in labels and
//! annotations: text and `{{ }}` actions (with `{{-`/`-}}` trimming and `/* */`
//! comments), pipelines with `|`, fields (`.Labels.job`, `$labels.job`, `.Value`),
//! variables (`$x := …`, `$x = …`), literals, parenthesised pipelines, `if`/`else if`/
//! `else`/`end`, `range` (with `$i, $e :=`, `else`, `break`, `continue`) and `with`.
//!
//! A template is parsed once, when its rule file is loaded (unknown functions and
//! undefined variables are errors then, as in Go), and expanded at every evaluation with
//! the alert's labels and value. The functions live in [`super::template_funcs`].
//! Errors carry `line:column` within the template text.

use std::collections::BTreeMap;
use std::fmt;

use super::template_funcs::{self, Funcs};

/// A value while a template runs: Go's dynamic types reduced to what rule templates meet.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `map[string]string`: label sets.
    Map(BTreeMap<String, String>),
    /// A struct with named fields: the template's data and the samples `query` returns.
    Struct(BTreeMap<&'static str, Value>),
    /// A slice: a query result.
    List(Vec<Value>),
}

impl Value {
    /// Go's truth: the zero value of a type, nil and empty collections are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
            Value::List(l) => !l.is_empty(),
        }
    }

    /// Go's type name for messages (`%T`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(_) => "map[string]string",
            Value::Struct(_) => "struct",
            Value::List(_) => "[]*sample",
        }
    }

    /// A sample as `query` returns it: `.Labels` and `.Value`.
    pub fn sample(labels: BTreeMap<String, String>, value: f64) -> Value {
        let mut m = BTreeMap::new();
        m.insert("Labels", Value::Map(labels));
        m.insert("Value", Value::Float(value));
        Value::Struct(m)
    }
}

/// How Go's `fmt.Print` shows a value (`%v`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&template_funcs::go_float(*x, 'g', None)),
            Value::Str(s) => f.write_str(s),
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
            Value::Struct(m) => {
                f.write_str("{")?;
                for (i, v) in m.values().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("}")
            }
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A parse or execution error at a place in the template text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("template: {name}:{line}:{column}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The data a rule template sees: `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`,
/// also bound to `$labels`, `$externalLabels`, `$externalURL` and `$value`.
#[derive(Clone, Debug, Default)]
pub struct TemplateData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

/// Runs the PromQL of `query "…"` at the rule's evaluation time; each sample is its
/// labels and value. Scalars come back as one sample without labels.
/// Each sample's labels and value.
pub type QuerySamples = Vec<(BTreeMap<String, String>, f64)>;

pub type QueryFn<'a> = &'a dyn Fn(&str) -> Result<QuerySamples, String>;

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    src: String,
    nodes: Vec<Node>,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        pipe: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
}

#[derive(Clone, Debug)]
struct Pipeline {
    pos: usize,
    /// Variables declared (`:=`) or assigned (`=`) with this pipeline's value.
    vars: Vec<String>,
    assign: bool,
    cmds: Vec<Command>,
}

#[derive(Clone, Debug)]
struct Command {
    pos: usize,
    args: Vec<Operand>,
}

#[derive(Clone, Debug)]
enum Operand {
    /// `.` followed by fields: `.`, `.Labels.job`.
    Dot(Vec<String>),
    /// `$x.a.b`; `$` alone is the data.
    Var(String, Vec<String>),
    Func(String, usize),
    Lit(Value),
    Sub(Box<Pipeline>, Vec<String>),
}

// ---------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Text(String),
    Open,
    Close,
    Ident(String),
    /// `.name`
    Field(String),
    Dot,
    /// `$name`, `$` alone is the empty name.
    Var(String),
    Str(String),
    Num(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

struct Lexer<'a> {
    src: &'a str,
    name: &'a str,
}

impl Lexer<'_> {
    fn err(&self, at: usize, message: impl Into<String>) -> TemplateError {
        error_at(self.name, self.src, at, message.into())
    }

    fn lex(&self) -> Result<Vec<Token>, TemplateError> {
        let src = self.src;
        let mut out: Vec<Token> = Vec::new();
        let mut i = 0;
        let mut trim_next_text = false;
        while i < src.len() {
            let open = src[i..].find("{{").map(|o| i + o);
            let text_end = open.unwrap_or(src.len());
            let mut text = &src[i..text_end];
            if trim_next_text {
                text = text.trim_start_matches(is_go_space);
            }
            let Some(open) = open else {
                if !text.is_empty() {
                    out.push(Token {
                        tok: Tok::Text(text.to_string()),
                        start: i,
                        end: text_end,
                    });
                }
                break;
            };
            let trim_left = src[open + 2..].starts_with("- ")
                || src[open + 2..].starts_with("-\t")
                || src[open + 2..].starts_with("-\n")
                || src[open + 2..].starts_with("-\r");
            if trim_left {
                text = text.trim_end_matches(is_go_space);
            }
            if !text.is_empty() {
                out.push(Token {
                    tok: Tok::Text(text.to_string()),
                    start: i,
                    end: text_end,
                });
            }
            let mut j = open + 2 + if trim_left { 2 } else { 0 };
            // A comment fills the whole action.
            let body = src[j..].trim_start_matches(is_go_space);
            if body.starts_with("/*") {
                let cstart = src.len() - body.len();
                let Some(cend) = src[cstart + 2..].find("*/").map(|x| cstart + 2 + x + 2) else {
                    return Err(self.err(open, "unclosed comment"));
                };
                let rest = &src[cend..];
                let (close, trim_right) = if let Some(r) = rest.strip_prefix(" -}}") {
                    (src.len() - r.len(), true)
                } else if let Some(r) = rest.strip_prefix("}}") {
                    (src.len() - r.len(), false)
                } else {
                    return Err(self.err(cend, "comment ends before closing delimiter"));
                };
                trim_next_text = trim_right;
                i = close;
                continue;
            }
            out.push(Token {
                tok: Tok::Open,
                start: open,
                end: j,
            });
            loop {
                let rest = &src[j..];
                if rest.is_empty() {
                    return Err(self.err(open, "unclosed action"));
                }
                let c = rest.chars().next().unwrap_or(' ');
                if rest.starts_with(" -}}")
                    || rest.starts_with("\t-}}")
                    || rest.starts_with("\n-}}")
                    || rest.starts_with("\r-}}")
                {
                    out.push(Token {
                        tok: Tok::Close,
                        start: j,
                        end: j + 4,
                    });
                    j += 4;
                    trim_next_text = true;
                    break;
                }
                if rest.starts_with("}}") {
                    out.push(Token {
                        tok: Tok::Close,
                        start: j,
                        end: j + 2,
                    });
                    j += 2;
                    trim_next_text = false;
                    break;
                }
                if is_go_space(c) {
                    j += c.len_utf8();
                    continue;
                }
                let (tok, len) = self.action_token(rest, j)?;
                out.push(Token {
                    tok,
                    start: j,
                    end: j + len,
                });
                j += len;
            }
            i = j;
        }
        Ok(out)
    }

    /// One token inside an action starting at `rest` (byte offset `at` in the source).
    fn action_token(&self, rest: &str, at: usize) -> Result<(Tok, usize), TemplateError> {
        let bytes = rest.as_bytes();
        let c = rest.chars().next().unwrap_or(' ');
        let ident_len = |s: &str| {
            s.char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map(|(i, _)| i)
                .unwrap_or(s.len())
        };
        Ok(match c {
            '|' => (Tok::Pipe, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '=' => (Tok::Assign, 1),
            ':' if rest.starts_with(":=") => (Tok::Declare, 2),
            '$' => {
                let n = ident_len(&rest[1..]);
                (Tok::Var(rest[1..1 + n].to_string()), 1 + n)
            }
            '.' if bytes.get(1).is_some_and(|b| b.is_ascii_digit()) => self.number(rest, at)?,
            '.' => {
                let n = ident_len(&rest[1..]);
                if n == 0 {
                    (Tok::Dot, 1)
                } else {
                    (Tok::Field(rest[1..1 + n].to_string()), 1 + n)
                }
            }
            '"' => {
                let mut s = String::new();
                let mut chars = rest[1..].char_indices();
                loop {
                    let Some((k, c)) = chars.next() else {
                        return Err(self.err(at, "unterminated quoted string"));
                    };
                    match c {
                        '"' => break (Tok::Str(s), k + 2),
                        '\n' => return Err(self.err(at, "unterminated quoted string")),
                        '\\' => {
                            let Some((_, e)) = chars.next() else {
                                return Err(self.err(at, "unterminated quoted string"));
                            };
                            match e {
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                '\\' => s.push('\\'),
                                '"' => s.push('"'),
                                '\'' => s.push('\''),
                                'a' => s.push('\x07'),
                                'b' => s.push('\x08'),
                                'f' => s.push('\x0c'),
                                'v' => s.push('\x0b'),
                                'x' | 'u' | 'U' => {
                                    let n = match e {
                                        'x' => 2,
                                        'u' => 4,
                                        _ => 8,
                                    };
                                    let mut v = 0u32;
                                    for _ in 0..n {
                                        let d = chars.next().and_then(|(_, d)| d.to_digit(16));
                                        let Some(d) = d else {
                                            return Err(self.err(at, "invalid escape in string"));
                                        };
                                        v = v * 16 + d;
                                    }
                                    s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                                }
                                _ => return Err(self.err(at, "invalid escape in string")),
                            }
                        }
                        c => s.push(c),
                    }
                }
            }
            '`' => match rest[1..].find('`') {
                Some(k) => (Tok::Str(rest[1..1 + k].to_string()), k + 2),
                None => return Err(self.err(at, "unterminated raw quoted string")),
            },
            '0'..='9' => self.number(rest, at)?,
            '+' | '-'
                if bytes
                    .get(1)
                    .is_some_and(|b| b.is_ascii_digit() || *b == b'.') =>
            {
                self.number(rest, at)?
            }
            c if c.is_alphabetic() || c == '_' => {
                let n = ident_len(rest);
                (Tok::Ident(rest[..n].to_string()), n)
            }
            c => {
                return Err(self.err(at, format!("unexpected {c:?} in command")));
            }
        })
    }

    fn number(&self, rest: &str, at: usize) -> Result<(Tok, usize), TemplateError> {
        let n = rest
            .char_indices()
            .skip(1)
            .find(|(i, c)| {
                let prev = rest.as_bytes()[i - 1];
                !(c.is_ascii_alphanumeric()
                    || *c == '.'
                    || *c == '_'
                    || ((*c == '+' || *c == '-') && (prev == b'e' || prev == b'E')))
            })
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let text = &rest[..n];
        if parse_number(text).is_none() {
            return Err(self.err(at, format!("bad number syntax: {text:?}")));
        }
        Ok((Tok::Num(text.to_string()), n))
    }
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Go's number constants as template arguments: integers stay `int`, the rest `float64`.
fn parse_number(text: &str) -> Option<Value> {
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let int = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        i64::from_str_radix(b, 2).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Value::Int(if neg { -i } else { i }));
    }
    let f: f64 = digits.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    Some(Value::Float(if neg { -f } else { f }))
}

fn error_at(name: &str, src: &str, at: usize, message: String) -> TemplateError {
    let at = at.min(src.len());
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TemplateError {
        name: name.to_string(),
        line,
        column,
        message,
    }
}

// ---------------------------------------------------------------------------------------
// Parser

/// What ended a list of nodes.
#[derive(Debug, PartialEq)]
enum Stop {
    Eof,
    End,
    Else(usize),
}

struct Parser<'a> {
    toks: Vec<Token>,
    i: usize,
    name: &'a str,
    src: &'a str,
    /// Variables in scope, for Go's "undefined variable" check at parse time.
    vars: Vec<String>,
    range_depth: usize,
}

/// The variables every Prometheus rule template has.
const PREDEFINED: &[&str] = &["", "labels", "externalLabels", "externalURL", "value"];

impl<'a> Parser<'a> {
    fn err(&self, at: usize, message: impl Into<String>) -> TemplateError {
        error_at(self.name, self.src, at, message.into())
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_at(&self, k: usize) -> Option<&Token> {
        self.toks.get(self.i + k)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.src.len(), |t| t.start)
    }

    fn expect_close(&mut self, what: &str) -> Result<(), TemplateError> {
        match self.next() {
            Some(Token {
                tok: Tok::Close, ..
            }) => Ok(()),
            Some(t) => Err(self.err(
                t.start,
                format!("unexpected {} in {what}", describe(&t.tok)),
            )),
            None => Err(self.err(self.src.len(), format!("unclosed action in {what}"))),
        }
    }

    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let Some(t) = self.next() else {
                return Ok((nodes, Stop::Eof));
            };
            match t.tok {
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Open => {
                    let kw = match self.peek() {
                        Some(Token {
                            tok: Tok::Ident(k), ..
                        }) => Some(k.clone()),
                        _ => None,
                    };
                    let at = self.here();
                    match kw.as_deref() {
                        Some("end") => {
                            self.i += 1;
                            self.expect_close("end")?;
                            return Ok((nodes, Stop::End));
                        }
                        Some("else") => {
                            self.i += 1;
                            return Ok((nodes, Stop::Else(at)));
                        }
                        Some("if") => {
                            self.i += 1;
                            nodes.push(self.branch("if", at)?);
                        }
                        Some("with") => {
                            self.i += 1;
                            nodes.push(self.branch("with", at)?);
                        }
                        Some("range") => {
                            self.i += 1;
                            nodes.push(self.branch("range", at)?);
                        }
                        Some("break") | Some("continue") => {
                            self.i += 1;
                            if self.range_depth == 0 {
                                return Err(self.err(
                                    at,
                                    format!("{} outside {{{{range}}}}", kw.unwrap_or_default()),
                                ));
                            }
                            self.expect_close("break")?;
                            nodes.push(if kw.as_deref() == Some("break") {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        Some(k @ ("define" | "template" | "block")) => {
                            return Err(self.err(
                                at,
                                format!("{{{{{k}}}}} is not supported in rule templates"),
                            ));
                        }
                        _ => {
                            let p = self.pipeline("command", true)?;
                            self.expect_close("command")?;
                            nodes.push(Node::Action(p));
                        }
                    }
                }
                other => {
                    return Err(self.err(t.start, format!("unexpected {}", describe(&other))));
                }
            }
        }
    }

    /// `if`, `with` or `range` after its keyword, up to and including its `end`.
    fn branch(&mut self, kind: &str, at: usize) -> Result<Node, TemplateError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(kind, kind == "range")?;
        self.expect_close(kind)?;
        if kind == "range" {
            self.range_depth += 1;
        }
        let (then, end) = self.list()?;
        if kind == "range" {
            self.range_depth -= 1;
        }
        self.vars.truncate(mark);
        let otherwise = match end {
            Stop::Eof => {
                return Err(self.err(
                    at,
                    format!("unexpected EOF: {{{{{kind}}}}} has no {{{{end}}}}"),
                ));
            }
            Stop::End => Vec::new(),
            Stop::Else(else_at) => {
                // `{{else if …}}` / `{{else with …}}` chain into one more branch that
                // shares this one's `{{end}}`.
                let chained = match self.peek() {
                    Some(Token {
                        tok: Tok::Ident(k), ..
                    }) if (k == "if" || k == "with") && kind != "range" => Some(k.clone()),
                    _ => None,
                };
                match chained {
                    Some(k) => {
                        self.i += 1;
                        vec![self.branch(&k, else_at)?]
                    }
                    None => {
                        self.expect_close("else")?;
                        let (otherwise, end) = self.list()?;
                        self.vars.truncate(mark);
                        if end != Stop::End {
                            return Err(self.err(
                                else_at,
                                format!(
                                    "expected {{{{end}}}} after {{{{else}}}} of {{{{{kind}}}}}"
                                ),
                            ));
                        }
                        otherwise
                    }
                }
            }
        };
        Ok(match kind {
            "if" => Node::If {
                pipe,
                then,
                otherwise,
            },
            "with" => Node::With {
                pipe,
                then,
                otherwise,
            },
            _ => Node::Range {
                pipe,
                body: then,
                otherwise,
            },
        })
    }

    fn pipeline(&mut self, context: &str, allow_two_vars: bool) -> Result<Pipeline, TemplateError> {
        let pos = self.here();
        let mut vars = Vec::new();
        let mut assign = false;
        // `$x :=`, `$x =`, `$i, $e :=`
        if let Some(Token {
            tok: Tok::Var(v), ..
        }) = self.peek().cloned()
        {
            match self.peek_at(1).map(|t| &t.tok) {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    assign = matches!(self.peek_at(1).map(|t| &t.tok), Some(Tok::Assign));
                    self.i += 2;
                    vars.push(v);
                }
                Some(Tok::Comma) if allow_two_vars => {
                    if let (
                        Some(Token {
                            tok: Tok::Var(v2), ..
                        }),
                        Some(Token {
                            tok: Tok::Declare, ..
                        }),
                    ) = (self.peek_at(2).cloned(), self.peek_at(3))
                    {
                        self.i += 4;
                        vars.push(v);
                        vars.push(v2);
                    }
                }
                _ => {}
            }
        }
        if assign {
            for v in &vars {
                if !self.vars.contains(v) {
                    return Err(self.err(pos, format!("undefined variable \"${v}\"")));
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let cmd = self.command()?;
            if cmd.args.is_empty() {
                return Err(self.err(cmd.pos, format!("missing value for {context}")));
            }
            cmds.push(cmd);
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Pipe) => {
                    self.i += 1;
                }
                _ => break,
            }
        }
        if !assign {
            self.vars.extend(vars.iter().cloned());
        }
        Ok(Pipeline {
            pos,
            vars,
            assign,
            cmds,
        })
    }

    fn command(&mut self) -> Result<Command, TemplateError> {
        let pos = self.here();
        let mut args = Vec::new();
        while let Some(t) = self.peek().cloned() {
            let operand = match t.tok {
                Tok::Close | Tok::Pipe | Tok::RParen => break,
                Tok::Dot => {
                    self.i += 1;
                    Operand::Dot(Vec::new())
                }
                Tok::Field(f) => {
                    self.i += 1;
                    Operand::Dot(vec![f])
                }
                Tok::Var(v) => {
                    self.i += 1;
                    if !self.vars.contains(&v) {
                        return Err(self.err(t.start, format!("undefined variable \"${v}\"")));
                    }
                    Operand::Var(v, Vec::new())
                }
                Tok::Str(s) => {
                    self.i += 1;
                    Operand::Lit(Value::Str(s))
                }
                Tok::Num(n) => {
                    self.i += 1;
                    Operand::Lit(parse_number(&n).unwrap_or(Value::Nil))
                }
                Tok::Ident(id) => {
                    self.i += 1;
                    match id.as_str() {
                        "true" => Operand::Lit(Value::Bool(true)),
                        "false" => Operand::Lit(Value::Bool(false)),
                        "nil" => Operand::Lit(Value::Nil),
                        _ => {
                            if !template_funcs::is_function(&id) {
                                return Err(
                                    self.err(t.start, format!("function {id:?} not defined"))
                                );
                            }
                            Operand::Func(id, t.start)
                        }
                    }
                }
                Tok::LParen => {
                    self.i += 1;
                    let p = self.pipeline("parenthesized pipeline", false)?;
                    match self.next() {
                        Some(Token {
                            tok: Tok::RParen, ..
                        }) => {}
                        _ => return Err(self.err(t.start, "unclosed left paren")),
                    }
                    Operand::Sub(Box::new(p), Vec::new())
                }
                other => {
                    return Err(self.err(
                        t.start,
                        format!("unexpected {} in operand", describe(&other)),
                    ));
                }
            };
            // Fields written right after an operand (`$labels.job`, `(…).Value`).
            let mut operand = operand;
            let mut end = self.toks[self.i - 1].end;
            while let Some(Token {
                tok: Tok::Field(f),
                start,
                end: e,
            }) = self.peek().cloned()
            {
                if start != end {
                    break;
                }
                match &mut operand {
                    Operand::Dot(fs) | Operand::Var(_, fs) | Operand::Sub(_, fs) => fs.push(f),
                    _ => {
                        return Err(self.err(start, "unexpected field after a literal or function"));
                    }
                }
                self.i += 1;
                end = e;
            }
            args.push(operand);
        }
        Ok(Command { pos, args })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Open => "\"{{\"".into(),
        Tok::Close => "\"}}\"".into(),
        Tok::Ident(s) => format!("<{s}>"),
        Tok::Field(s) => format!("<.{s}>"),
        Tok::Dot => "<.>".into(),
        Tok::Var(s) => format!("<${s}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Num(s) => s.clone(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}

impl Template {
    /// Parses `src`; `name` appears in errors (Prometheus names alert templates
    /// `__alert_<AlertName>`).
    pub fn parse(name: &str, src: &str) -> Result<Template, TemplateError> {
        let toks = Lexer { src, name }.lex()?;
        let mut p = Parser {
            toks,
            i: 0,
            name,
            src,
            vars: PREDEFINED.iter().map(|s| s.to_string()).collect(),
            range_depth: 0,
        };
        let (nodes, end) = p.list()?;
        match end {
            Stop::Eof => {}
            Stop::End => {
                return Err(p.err(
                    p.toks.get(p.i.saturating_sub(2)).map_or(0, |t| t.start),
                    "unexpected {{end}}",
                ));
            }
            Stop::Else(at) => return Err(p.err(at, "unexpected {{else}}")),
        }
        Ok(Template {
            name: name.to_string(),
            src: src.to_string(),
            nodes,
        })
    }

    /// Whether the text has any action at all (plain text is used as it is).
    pub fn is_plain(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, Node::Text(_)))
    }

    /// Runs the template over the data.
    pub fn expand(&self, data: &TemplateData, query: QueryFn<'_>) -> Result<String, TemplateError> {
        let mut root = BTreeMap::new();
        root.insert("Labels", Value::Map(data.labels.clone()));
        root.insert("ExternalLabels", Value::Map(data.external_labels.clone()));
        root.insert("ExternalURL", Value::Str(data.external_url.clone()));
        root.insert("Value", Value::Float(data.value));
        let root = Value::Struct(root);
        let vars = vec![
            (String::new(), root.clone()),
            ("labels".to_string(), Value::Map(data.labels.clone())),
            (
                "externalLabels".to_string(),
                Value::Map(data.external_labels.clone()),
            ),
            (
                "externalURL".to_string(),
                Value::Str(data.external_url.clone()),
            ),
            ("value".to_string(), Value::Float(data.value)),
        ];
        let funcs = Funcs {
            query,
            external_url: &data.external_url,
        };
        let mut ex = Exec {
            t: self,
            vars,
            funcs: &funcs,
            out: String::new(),
        };
        ex.nodes(&self.nodes, &root)?;
        Ok(ex.out)
    }
}

// ---------------------------------------------------------------------------------------
// Execution

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    t: &'a Template,
    vars: Vec<(String, Value)>,
    funcs: &'a Funcs<'a>,
    out: String,
}

/// Output past this size stops the template: a `range` over a huge query result should
/// not hold an evaluation hostage.
const MAX_OUTPUT: usize = 1 << 20;

impl Exec<'_> {
    fn err(&self, at: usize, message: impl Into<String>) -> TemplateError {
        error_at(&self.t.name, &self.t.src, at, message.into())
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for n in nodes {
            match self.node(n, dot)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, n: &Node, dot: &Value) -> Result<Flow, TemplateError> {
        if self.out.len() > MAX_OUTPUT {
            return Err(self.err(0, "output is larger than 1 MiB"));
        }
        match n {
            Node::Text(s) => self.out.push_str(s),
            Node::Action(p) => {
                let v = self.pipeline(p, dot)?;
                // A declaration prints nothing.
                if p.vars.is_empty() {
                    match v {
                        Value::Nil => self.out.push_str("<no value>"),
                        v => self.out.push_str(&v.to_string()),
                    }
                }
            }
            Node::If {
                pipe,
                then,
                otherwise,
            } => {
                let mark = self.vars.len();
                let v = self.pipeline(pipe, dot)?;
                let flow = if v.truth() {
                    self.nodes(then, dot)?
                } else {
                    self.nodes(otherwise, dot)?
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::With {
                pipe,
                then,
                otherwise,
            } => {
                let mark = self.vars.len();
                let v = self.pipeline(pipe, dot)?;
                let flow = if v.truth() {
                    self.nodes(then, &v)?
                } else {
                    self.nodes(otherwise, dot)?
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                let mark = self.vars.len();
                // The range's variables are set per element, not to the whole value.
                let v = self.pipeline_value(pipe, dot)?;
                let items: Vec<(Value, Value)> = match v {
                    Value::List(l) => l
                        .into_iter()
                        .enumerate()
                        .map(|(i, e)| (Value::Int(i as i64), e))
                        .collect(),
                    Value::Map(m) => m
                        .into_iter()
                        .map(|(k, v)| (Value::Str(k), Value::Str(v)))
                        .collect(),
                    Value::Int(n) => (0..n.max(0))
                        .map(|i| (Value::Int(i), Value::Int(i)))
                        .collect(),
                    Value::Nil => Vec::new(),
                    other => {
                        return Err(self.err(pipe.pos, format!("range can't iterate over {other}")));
                    }
                };
                if items.is_empty() {
                    let flow = self.nodes(otherwise, dot)?;
                    self.vars.truncate(mark);
                    return Ok(flow);
                }
                for (k, e) in items {
                    let inner = self.vars.len();
                    match pipe.vars.as_slice() {
                        [one] => self.vars.push((one.clone(), e.clone())),
                        [i, el] => {
                            self.vars.push((i.clone(), k));
                            self.vars.push((el.clone(), e.clone()));
                        }
                        _ => {}
                    }
                    let flow = self.nodes(body, &e)?;
                    self.vars.truncate(inner);
                    if matches!(flow, Flow::Break) {
                        break;
                    }
                }
                self.vars.truncate(mark);
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    /// Evaluates a pipeline and binds its variables.
    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let v = self.pipeline_value(p, dot)?;
        if p.assign {
            for name in &p.vars {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            }
        } else {
            for name in &p.vars {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn pipeline_value(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for c in &p.cmds {
            last = Some(self.command(c, dot, last.take())?);
        }
        Ok(last.unwrap_or(Value::Nil))
    }

    fn command(
        &mut self,
        c: &Command,
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        let Some(first) = c.args.first() else {
            return Err(self.err(c.pos, "empty command"));
        };
        if let Operand::Func(name, at) = first {
            let mut args = Vec::with_capacity(c.args.len());
            for a in &c.args[1..] {
                args.push(self.operand(a, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            return template_funcs::call(name, args, self.funcs)
                .map_err(|e| self.err(*at, format!("error calling {name}: {e}")));
        }
        if c.args.len() > 1 || piped.is_some() {
            return Err(self.err(c.pos, "can't give argument to non-function"));
        }
        self.operand(first, dot)
    }

    fn operand(&mut self, o: &Operand, dot: &Value) -> Result<Value, TemplateError> {
        match o {
            Operand::Dot(fields) => self.fields(dot.clone(), fields, 0),
            Operand::Var(name, fields) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Nil);
                self.fields(v, fields, 0)
            }
            Operand::Lit(v) => Ok(v.clone()),
            Operand::Func(name, at) => template_funcs::call(name, Vec::new(), self.funcs)
                .map_err(|e| self.err(*at, format!("error calling {name}: {e}"))),
            Operand::Sub(p, fields) => {
                let mark = self.vars.len();
                let v = self.pipeline(p, dot)?;
                self.vars.truncate(mark);
                self.fields(v, fields, p.pos)
            }
        }
    }

    fn fields(&self, mut v: Value, fields: &[String], at: usize) -> Result<Value, TemplateError> {
        for f in fields {
            v = match v {
                // `missingkey=zero`, as Prometheus sets it: a missing label is "".
                Value::Map(m) => Value::Str(m.get(f).cloned().unwrap_or_default()),
                Value::Struct(s) => match s.get(f.as_str()) {
                    Some(x) => x.clone(),
                    None => return Err(self.err(at, format!("can't evaluate field {f}"))),
                },
                Value::Nil => return Err(self.err(at, format!("nil pointer evaluating .{f}"))),
                other => {
                    return Err(self.err(
                        at,
                        format!("can't evaluate field {f} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(src: &str, value: f64) -> Result<String, TemplateError> {
        let data = TemplateData {
            labels: labels(&[("job", "api"), ("instance", "10.0.0.1:8000")]),
            external_labels: labels(&[("cluster", "eu1")]),
            external_url: "http://pharos.example:9800".into(),
            value,
        };
        let q = |q: &str| -> Result<QuerySamples, String> {
            match q {
                "up" => Ok(vec![
                    (labels(&[("__name__", "up"), ("job", "api")]), 1.0),
                    (labels(&[("__name__", "up"), ("job", "db")]), 0.0),
                ]),
                "none" => Ok(vec![]),
                other => Err(format!("bad query {other}")),
            }
        };
        Template::parse("__alert_Test", src)?.expand(&data, &q)
    }

    fn ok(src: &str, value: f64) -> String {
        run(src, value).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn values_labels_and_data() {
        assert_eq!(ok("plain text", 1.0), "plain text");
        assert_eq!(ok("{{ $value }}", 0.0734), "0.0734");
        assert_eq!(ok("{{ $value }}", 2500000.0), "2.5e+06");
        assert_eq!(ok("{{ .Value }}", 3.0), "3");
        assert_eq!(
            ok("{{ $labels.job }} on {{ .Labels.instance }}", 1.0),
            "api on 10.0.0.1:8000"
        );
        assert_eq!(ok("[{{ $labels.missing }}]", 1.0), "[]");
        assert_eq!(
            ok("{{ $externalLabels.cluster }} {{ $externalURL }}", 1.0),
            "eu1 http://pharos.example:9800"
        );
        assert_eq!(ok("{{ .ExternalLabels.cluster }}", 1.0), "eu1");
        assert_eq!(
            ok("{{ $labels }}", 1.0),
            "map[instance:10.0.0.1:8000 job:api]"
        );
    }

    #[test]
    fn trimming_and_comments() {
        assert_eq!(ok("a  {{- 1 -}}  b", 0.0), "a1b");
        assert_eq!(ok("a {{/* a comment */}} b", 0.0), "a  b");
        assert_eq!(ok("a {{- /* gone */ -}} b", 0.0), "ab");
        assert_eq!(ok("{{ -1 }} {{ 1.5 }} {{ 0x10 }}", 0.0), "-1 1.5 16");
    }

    #[test]
    fn pipes_and_humanize() {
        assert_eq!(ok("{{ $value | humanizePercentage }}", 0.0734), "7.34%");
        assert_eq!(ok("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(ok("{{ humanize1024 $value }}", 1048576.0), "1Mi");
        assert_eq!(
            ok("{{ $value | humanizeDuration }}", 90061.0),
            "1d 1h 1m 1s"
        );
        assert_eq!(ok("{{ printf \"%.2f\" $value }}", 1.23456), "1.23");
        assert_eq!(ok("{{ $labels.job | toUpper }}", 0.0), "API");
        assert_eq!(ok("{{ \"hello world\" | title }}", 0.0), "Hello World");
        assert_eq!(
            ok("{{ reReplaceAll \":[0-9]+\" \"\" $labels.instance }}", 0.0),
            "10.0.0.1"
        );
        assert_eq!(
            ok("{{ reReplaceAll \"(a+)\" \"<$1>\" \"baab\" }}", 0.0),
            "b<aa>b"
        );
    }

    #[test]
    fn control_flow() {
        assert_eq!(
            ok("{{ if gt $value 80.0 }}high{{ else }}ok{{ end }}", 90.0),
            "high"
        );
        assert_eq!(
            ok("{{ if gt $value 80.0 }}high{{ else }}ok{{ end }}", 10.0),
            "ok"
        );
        assert_eq!(
            ok(
                "{{ if lt $value 1.0 }}a{{ else if lt $value 5.0 }}b{{ else }}c{{ end }}",
                3.0
            ),
            "b"
        );
        assert_eq!(
            ok("{{ if eq $labels.job \"db\" \"api\" }}yes{{ end }}", 0.0),
            "yes"
        );
        assert_eq!(
            ok("{{ with $labels.job }}job={{ . }}{{ end }}", 0.0),
            "job=api"
        );
        assert_eq!(
            ok("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0),
            "none"
        );
        assert_eq!(
            ok(
                "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
                0.0
            ),
            "instance=10.0.0.1:8000;job=api;"
        );
        assert_eq!(
            ok(
                "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
                0.0
            ),
            "2"
        );
        assert_eq!(
            ok("{{ range query \"none\" }}x{{ else }}empty{{ end }}", 0.0),
            "empty"
        );
        assert_eq!(
            ok(
                "{{ range $i, $e := query \"up\" }}{{ if $i }}{{ break }}{{ end }}{{ $e.Labels.job }}{{ end }}",
                0.0
            ),
            "api"
        );
    }

    #[test]
    fn queries() {
        assert_eq!(ok("{{ query \"up\" | first | value }}", 0.0), "1");
        assert_eq!(
            ok(
                "{{ with query \"up\" }}{{ . | first | label \"job\" }}{{ end }}",
                0.0
            ),
            "api"
        );
        assert_eq!(
            ok(
                "{{ range query \"up\" }}{{ .Labels.job }}:{{ .Value }} {{ end }}",
                0.0
            ),
            "api:1 db:0 "
        );
        assert_eq!(ok("{{ (query \"up\" | first).Value }}", 0.0), "1");
        let e = run("{{ query \"none\" | first }}", 0.0).unwrap_err();
        assert!(
            e.to_string()
                .contains("first() called on vector with no elements"),
            "{e}"
        );
        let e = run("{{ query \"bad\" }}", 0.0).unwrap_err();
        assert!(
            e.to_string().contains("error calling query: bad query bad"),
            "{e}"
        );
    }

    #[test]
    fn parse_errors_have_positions() {
        let e = Template::parse("__alert_X", "a\n{{ $value | nofunc }}").unwrap_err();
        assert_eq!((e.line, e.column), (2, 13), "{e}");
        assert_eq!(e.message, "function \"nofunc\" not defined");
        let e = Template::parse("t", "{{ $nope }}").unwrap_err();
        assert_eq!(e.message, "undefined variable \"$nope\"");
        let e = Template::parse("t", "{{ if true }}x").unwrap_err();
        assert!(e.message.contains("has no {{end}}"), "{e}");
        let e = Template::parse("t", "x{{ end }}").unwrap_err();
        assert!(e.message.contains("unexpected {{end}}"), "{e}");
        let e = Template::parse("t", "{{ $value").unwrap_err();
        assert!(e.message.contains("unclosed action"), "{e}");
        let e = Template::parse("t", "{{ \"abc }}").unwrap_err();
        assert!(e.message.contains("unterminated"), "{e}");
        assert!(Template::parse("t", "{{ break }}").is_err());
        assert!(Template::parse("t", "{{ template \"x\" }}").is_err());
        // A variable declared inside a block is gone after its end.
        assert!(Template::parse("t", "{{ if true }}{{ $a := 1 }}{{ end }}{{ $a }}").is_err());
    }

    #[test]
    fn execution_errors_have_positions() {
        let e = run("{{ gt $value 80 }}", 1.0).unwrap_err();
        assert!(
            e.message.contains("incompatible types for comparison"),
            "{e}"
        );
        assert_eq!((e.line, e.column), (1, 4));
        let e = run("{{ humanize \"abc\" }}", 1.0).unwrap_err();
        assert!(e.message.contains("error calling humanize"), "{e}");
        let e = run("{{ .Nope }}", 1.0).unwrap_err();
        assert!(e.message.contains("can't evaluate field Nope"), "{e}");
    }
}
