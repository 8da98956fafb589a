//! The parser: builds a [`Template`]'s tree from the lexer's tokens, checking what Go
//! checks at parse time (known functions, declared variables, `break` inside `range`,
//! `{{define}}` only at the top level).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{TemplateError, error_at};
use crate::funcs;
use crate::lex::{Lexer, Tok, Token, describe, parse_number};
use crate::tree::{Command, Node, Operand, Pipeline, Template};
use crate::value::Value;

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
    /// How deep in `if` / `with` / `range` the parser is: `{{define}}` only at 0.
    depth: usize,
    /// Whether `define`, `template` and `block` are allowed (notification templates).
    named: bool,
    shared_src: Arc<str>,
    defines: BTreeMap<String, Arc<Template>>,
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
                        Some(k @ ("define" | "template" | "block")) if !self.named => {
                            return Err(self.err(
                                at,
                                format!("{{{{{k}}}}} is not supported in rule templates"),
                            ));
                        }
                        Some("define") => {
                            self.i += 1;
                            if self.depth > 0 {
                                return Err(
                                    self.err(at, "{{define}} is only allowed at the top level")
                                );
                            }
                            let name = self.template_name("define")?;
                            self.expect_close("define")?;
                            self.definition(name, at)?;
                        }
                        Some("template") => {
                            self.i += 1;
                            let name = self.template_name("template")?;
                            let pipe = match self.peek() {
                                Some(Token {
                                    tok: Tok::Close, ..
                                }) => None,
                                _ => Some(self.pipeline("template clause", false)?),
                            };
                            self.expect_close("template clause")?;
                            nodes.push(Node::Call {
                                name,
                                pipe,
                                pos: at,
                            });
                        }
                        Some("block") => {
                            self.i += 1;
                            let name = self.template_name("block")?;
                            let pipe = self.pipeline("block clause", false)?;
                            self.expect_close("block clause")?;
                            self.definition(name.clone(), at)?;
                            nodes.push(Node::Call {
                                name,
                                pipe: Some(pipe),
                                pos: at,
                            });
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

    /// The quoted name after `define`, `template` or `block`.
    fn template_name(&mut self, context: &str) -> Result<String, TemplateError> {
        match self.next() {
            Some(Token {
                tok: Tok::Str(name),
                ..
            }) => Ok(name),
            Some(t) => Err(self.err(
                t.start,
                format!("unexpected {} in {context} clause", describe(&t.tok)),
            )),
            None => Err(self.err(self.src.len(), format!("unclosed action in {context}"))),
        }
    }

    /// The body of `{{define}}` or `{{block}}` up to its `{{end}}`: a template of its own
    /// whose only variable is `$`, the value it is called with.
    fn definition(&mut self, name: String, at: usize) -> Result<(), TemplateError> {
        let vars = std::mem::replace(&mut self.vars, vec![String::new()]);
        let (range_depth, depth) = (self.range_depth, self.depth);
        (self.range_depth, self.depth) = (0, 1);
        let (nodes, end) = self.list()?;
        self.vars = vars;
        (self.range_depth, self.depth) = (range_depth, depth);
        if end != Stop::End {
            return Err(self.err(
                at,
                format!("unexpected EOF: {{{{define {name:?}}}}} has no {{{{end}}}}"),
            ));
        }
        let body = Template {
            name: self.name.to_string(),
            src: self.shared_src.clone(),
            nodes,
            defines: BTreeMap::new(),
        };
        self.defines.insert(name, Arc::new(body));
        Ok(())
    }

    /// `if`, `with` or `range` after its keyword, up to and including its `end`.
    fn branch(&mut self, kind: &str, at: usize) -> Result<Node, TemplateError> {
        self.depth += 1;
        let node = self.branch_body(kind, at);
        self.depth -= 1;
        node
    }

    fn branch_body(&mut self, kind: &str, at: usize) -> Result<Node, TemplateError> {
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
                            if !funcs::is_function(&id) {
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

impl Template {
    /// Parses `src`; `name` appears in errors (Prometheus names alert templates
    /// `__alert_<AlertName>`).
    pub fn parse(name: &str, src: &str) -> Result<Template, TemplateError> {
        Template::parse_with_variables(name, src, PREDEFINED, false)
    }

    /// Parses a notification template, as Alertmanager's: its only predefined variable is
    /// `$`, the notification's data (see [`Template::expand_value`]), and it may define
    /// named templates (`{{define "x"}}…{{end}}`, `{{block}}`) and call them, or those of
    /// a [`NamedTemplates`](crate::NamedTemplates), with `{{template "x" .}}`.
    pub fn parse_notification(name: &str, src: &str) -> Result<Template, TemplateError> {
        Template::parse_with_variables(name, src, &[""], true)
    }

    fn parse_with_variables(
        name: &str,
        src: &str,
        variables: &[&str],
        named: bool,
    ) -> Result<Template, TemplateError> {
        let toks = Lexer { src, name }.lex()?;
        let mut p = Parser {
            toks,
            i: 0,
            name,
            src,
            vars: variables.iter().map(|s| s.to_string()).collect(),
            range_depth: 0,
            depth: 0,
            named,
            shared_src: Arc::from(src),
            defines: BTreeMap::new(),
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
            src: p.shared_src.clone(),
            nodes,
            defines: std::mem::take(&mut p.defines),
        })
    }
}
