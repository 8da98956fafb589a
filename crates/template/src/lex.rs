//! The lexer: splits template text into text and the tokens of `{{ }}` actions, trimming
//! around `{{-`/`-}}` and dropping `/* */` comments.

use crate::error::{TemplateError, error_at};
use crate::value::Value;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
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
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

pub(crate) struct Lexer<'a> {
    pub(crate) src: &'a str,
    pub(crate) name: &'a str,
}

impl Lexer<'_> {
    fn err(&self, at: usize, message: impl Into<String>) -> TemplateError {
        error_at(self.name, self.src, at, message.into())
    }

    pub(crate) fn lex(&self) -> Result<Vec<Token>, TemplateError> {
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
pub(crate) fn parse_number(text: &str) -> Option<Value> {
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

/// A token as Go's parser names it in messages.
pub(crate) fn describe(t: &Tok) -> String {
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
