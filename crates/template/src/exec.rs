//! Execution: walks a parsed [`Template`] over its [`TemplateData`], binding variables,
//! running pipelines and calling functions, and writes the output.

use std::collections::BTreeMap;

use crate::error::{TemplateError, error_at};
use crate::funcs::{self, Funcs};
use crate::tree::{Command, NamedTemplates, Node, Operand, Pipeline, Template};
use crate::value::Value;
use crate::{Host, TemplateData};

impl Template {
    /// Runs the template over the data.
    pub fn expand(&self, data: &TemplateData, host: &dyn Host) -> Result<String, TemplateError> {
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
        self.run(
            &root,
            vars,
            &data.external_url,
            host,
            &NamedTemplates::default(),
        )
    }

    /// Runs a template from [`Template::parse_notification`] over `data` (bound to `.`
    /// and `$`), e.g. Alertmanager's notification data: a struct with `Status`,
    /// `Alerts`, `CommonLabels`, …, and `ExternalURL` for `externalURL`.
    pub fn expand_value(&self, data: &Value, host: &dyn Host) -> Result<String, TemplateError> {
        self.expand_value_with(data, host, &NamedTemplates::default())
    }

    /// [`Template::expand_value`] where `{{template "x"}}` finds `x` among this text's
    /// own definitions first, then in `named`.
    pub fn expand_value_with(
        &self,
        data: &Value,
        host: &dyn Host,
        named: &NamedTemplates,
    ) -> Result<String, TemplateError> {
        let external_url = match data {
            Value::Struct(s) => match s.get("ExternalURL") {
                Some(Value::Str(u)) => u.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        self.run(
            data,
            vec![(String::new(), data.clone())],
            &external_url,
            host,
            named,
        )
    }

    fn run(
        &self,
        root: &Value,
        vars: Vec<(String, Value)>,
        external_url: &str,
        host: &dyn Host,
        named: &NamedTemplates,
    ) -> Result<String, TemplateError> {
        let funcs = Funcs { host, external_url };
        let mut ex = Exec {
            t: self,
            top: self,
            named,
            calls: 0,
            vars,
            funcs: &funcs,
            out: String::new(),
        };
        ex.nodes(&self.nodes, root)?;
        Ok(ex.out)
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    t: &'a Template,
    /// The template being expanded, whose definitions `{{template}}` looks in first.
    top: &'a Template,
    named: &'a NamedTemplates,
    /// How many `{{template}}` calls deep this is.
    calls: usize,
    vars: Vec<(String, Value)>,
    funcs: &'a Funcs<'a>,
    out: String,
}

/// Output past this size stops the template: a `range` over a huge query result should
/// not hold an evaluation hostage.
const MAX_OUTPUT: usize = 1 << 20;

/// `{{template}}` calls nested deeper than this stop the template (a definition that
/// calls itself).
const MAX_CALL_DEPTH: usize = 100;

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
            Node::Call { name, pipe, pos } => {
                let v = match pipe {
                    Some(p) => {
                        let mark = self.vars.len();
                        let v = self.pipeline(p, dot)?;
                        self.vars.truncate(mark);
                        v
                    }
                    None => Value::Nil,
                };
                self.call(name, v, *pos)?;
            }
        }
        Ok(Flow::Normal)
    }

    /// `{{template "name" v}}`: the definition runs with `.` and `$` set to `v`, writing
    /// to the same output.
    fn call(&mut self, name: &str, v: Value, pos: usize) -> Result<(), TemplateError> {
        let Some(def) = self.top.defines.get(name).or_else(|| self.named.get(name)) else {
            return Err(self.err(pos, format!("no such template {name:?}")));
        };
        if self.calls >= MAX_CALL_DEPTH {
            return Err(self.err(
                pos,
                format!("exceeded maximum template depth ({MAX_CALL_DEPTH})"),
            ));
        }
        let mut inner = Exec {
            t: def,
            top: self.top,
            named: self.named,
            calls: self.calls + 1,
            vars: vec![(String::new(), v.clone())],
            funcs: self.funcs,
            out: std::mem::take(&mut self.out),
        };
        let result = inner.nodes(&def.nodes, &v);
        self.out = inner.out;
        result.map(|_| ())
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
            return funcs::call(name, args, self.funcs)
                .map_err(|e| self.err(*at, format!("error calling {name}: {e}")));
        }
        if let Some(v) = self.method_call(c, dot, &piped)? {
            return Ok(v);
        }
        if c.args.len() > 1 || piped.is_some() {
            return Err(self.err(c.pos, "can't give argument to non-function"));
        }
        self.operand(first, dot)
    }

    /// Alertmanager's one method with an argument on a label set:
    /// `.CommonLabels.Remove .GroupLabels.Names`, the labels without those names.
    fn method_call(
        &mut self,
        c: &Command,
        dot: &Value,
        piped: &Option<Value>,
    ) -> Result<Option<Value>, TemplateError> {
        let (receiver, fields) = match c.args.first() {
            Some(Operand::Dot(fs)) => (None, fs),
            Some(Operand::Var(name, fs)) => (Some(name), fs),
            _ => return Ok(None),
        };
        if fields.last().map(String::as_str) != Some("Remove") {
            return Ok(None);
        }
        let head = &fields[..fields.len() - 1];
        let base = match receiver {
            None => Operand::Dot(head.to_vec()),
            Some(name) => Operand::Var(name.clone(), head.to_vec()),
        };
        let Value::Map(mut labels) = self.operand(&base, dot)? else {
            return Ok(None);
        };
        let arg = match (c.args.get(1), piped) {
            (Some(a), None) if c.args.len() == 2 => self.operand(a, dot)?,
            (None, Some(p)) => p.clone(),
            _ => {
                return Err(self.err(c.pos, "wrong number of args for Remove: want 1"));
            }
        };
        let names = match arg {
            Value::List(l) => l,
            other => {
                return Err(self.err(
                    c.pos,
                    format!(
                        "wrong type for value; expected []string; got {}",
                        other.type_name()
                    ),
                ));
            }
        };
        for n in names {
            if let Value::Str(n) = n {
                labels.remove(&n);
            }
        }
        Ok(Some(Value::Map(labels)))
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
            Operand::Func(name, at) => funcs::call(name, Vec::new(), self.funcs)
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
                // Alertmanager's methods on a label set (`KV`), which Go looks up before
                // the map's keys.
                Value::Map(m) if f == "SortedPairs" => Value::List(
                    m.into_iter()
                        .map(|(k, v)| {
                            let mut pair = std::collections::BTreeMap::new();
                            pair.insert("Name", Value::Str(k));
                            pair.insert("Value", Value::Str(v));
                            Value::Struct(pair)
                        })
                        .collect(),
                ),
                Value::Map(m) if f == "Names" => {
                    Value::List(m.into_keys().map(Value::Str).collect())
                }
                Value::Map(m) if f == "Values" => {
                    Value::List(m.into_values().map(Value::Str).collect())
                }
                // `SortedPairs.Names` / `.Values`: Alertmanager's methods on a list of
                // pairs.
                Value::List(l) if f == "Names" || f == "Values" => {
                    let key = if f == "Names" { "Name" } else { "Value" };
                    Value::List(
                        l.into_iter()
                            .map(|p| match p {
                                Value::Struct(mut s) => s.remove(key).unwrap_or(Value::Nil),
                                _ => Value::Nil,
                            })
                            .collect(),
                    )
                }
                // `missingkey=zero`, as Prometheus sets it: a missing label is "".
                Value::Map(m) => Value::Str(m.get(f).cloned().unwrap_or_default()),
                // Alertmanager's `.Alerts.Firing` and `.Alerts.Resolved`: the alerts whose
                // `Status` is that.
                Value::List(l) if f == "Firing" || f == "Resolved" => {
                    let want = if f == "Firing" { "firing" } else { "resolved" };
                    Value::List(
                        l.into_iter()
                            .filter(|a| match a {
                                Value::Struct(s) => {
                                    matches!(s.get("Status"), Some(Value::Str(st)) if st == want)
                                }
                                _ => false,
                            })
                            .collect(),
                    )
                }
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
