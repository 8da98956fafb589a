//! The parsed form of a template: a tree of text and actions whose pipelines are
//! commands over operands, as Go's `text/template/parse` builds it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::value::Value;

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    /// The name errors give: the field or file the text came from.
    pub(crate) name: String,
    /// Kept so that execution errors can give `line:column`; shared with the text's
    /// `{{define}}` bodies.
    pub(crate) src: Arc<str>,
    pub(crate) nodes: Vec<Node>,
    /// The `{{define "name"}}` and `{{block "name"}}` bodies of this text, by name; each
    /// is a template of its own over the same source.
    pub(crate) defines: BTreeMap<String, Arc<Template>>,
}

impl Template {
    /// Whether the text has any action at all (plain text is used as it is).
    pub fn is_plain(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, Node::Text(_)))
    }

    /// The names `{{template "…"}}` calls in this text and its definitions, each once,
    /// sorted.
    pub fn called_templates(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_calls(&self.nodes, &mut out);
        for d in self.defines.values() {
            collect_calls(&d.nodes, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }

    /// The names this text calls that neither it nor `named` defines.
    pub fn undefined_templates(&self, named: &NamedTemplates) -> Vec<String> {
        self.called_templates()
            .into_iter()
            .filter(|n| !self.defines.contains_key(n) && !named.contains(n))
            .collect()
    }
}

fn collect_calls(nodes: &[Node], out: &mut Vec<String>) {
    for n in nodes {
        match n {
            Node::Call { name, .. } => out.push(name.clone()),
            Node::If {
                then, otherwise, ..
            }
            | Node::With {
                then, otherwise, ..
            }
            | Node::Range {
                body: then,
                otherwise,
                ..
            } => {
                collect_calls(then, out);
                collect_calls(otherwise, out);
            }
            Node::Text(_) | Node::Action(_) | Node::Break | Node::Continue => {}
        }
    }
}

/// Named templates shared by many templates, as Alertmanager's `templates:` files make
/// them: every `{{define}}` of the files added, a later definition replacing an earlier
/// one of the same name. Text outside the definitions is ignored, as Alertmanager does.
#[derive(Clone, Debug, Default)]
pub struct NamedTemplates {
    defines: BTreeMap<String, Arc<Template>>,
}

impl NamedTemplates {
    /// Parses the file text `src` as a notification template (errors name it `name`,
    /// with `line:column` in the file) and adds its definitions.
    pub fn add_file(&mut self, name: &str, src: &str) -> Result<(), crate::TemplateError> {
        let t = Template::parse_notification(name, src)?;
        self.defines.extend(t.defines);
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.defines.contains_key(name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Arc<Template>> {
        self.defines.get(name)
    }

    /// The defined names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defines.keys().map(String::as_str)
    }

    /// Calls inside the definitions to names that are not defined: `(caller, callee)`.
    pub fn undefined_calls(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (caller, t) in &self.defines {
            let mut calls = Vec::new();
            collect_calls(&t.nodes, &mut calls);
            for callee in calls {
                if !self.contains(&callee) {
                    out.push((caller.clone(), callee));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Node {
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
    /// `{{template "name" pipeline}}` (also what `{{block}}` leaves in place).
    Call {
        name: String,
        pipe: Option<Pipeline>,
        pos: usize,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    pub(crate) pos: usize,
    /// Variables declared (`:=`) or assigned (`=`) with this pipeline's value.
    pub(crate) vars: Vec<String>,
    pub(crate) assign: bool,
    pub(crate) cmds: Vec<Command>,
}

#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub(crate) pos: usize,
    pub(crate) args: Vec<Operand>,
}

#[derive(Clone, Debug)]
pub(crate) enum Operand {
    /// `.` followed by fields: `.`, `.Labels.job`.
    Dot(Vec<String>),
    /// `$x.a.b`; `$` alone is the data.
    Var(String, Vec<String>),
    Func(String, usize),
    Lit(Value),
    Sub(Box<Pipeline>, Vec<String>),
}
