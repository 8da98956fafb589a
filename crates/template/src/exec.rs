//! Execution: walks a parsed [`Template`] over its [`TemplateData`], binding variables,
//! running pipelines and calling functions, and writes the output.

use std::collections::BTreeMap;

use crate::error::{TemplateError, error_at};
use crate::funcs::{self, Funcs};
use crate::tree::{Command, Node, Operand, Pipeline, Template};
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
        self.run(&root, vars, &data.external_url, host)
    }

    /// Runs a template from [`Template::parse_notification`] over `data` (bound to `.`
    /// and `$`), e.g. Alertmanager's notification data: a struct with `Status`,
    /// `Alerts`, `CommonLabels`, …, and `ExternalURL` for `externalURL`.
    pub fn expand_value(&self, data: &Value, host: &dyn Host) -> Result<String, TemplateError> {
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
        )
    }

    fn run(
        &self,
        root: &Value,
        vars: Vec<(String, Value)>,
        external_url: &str,
        host: &dyn Host,
    ) -> Result<String, TemplateError> {
        let funcs = Funcs { host, external_url };
        let mut ex = Exec {
            t: self,
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
            return funcs::call(name, args, self.funcs)
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
