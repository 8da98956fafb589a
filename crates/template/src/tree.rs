//! The parsed form of a template: a tree of text and actions whose pipelines are
//! commands over operands, as Go's `text/template/parse` builds it.

use crate::value::Value;

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    pub(crate) name: String,
    /// Kept so that execution errors can give `line:column`.
    pub(crate) src: String,
    pub(crate) nodes: Vec<Node>,
}

impl Template {
    /// Whether the text has any action at all (plain text is used as it is).
    pub fn is_plain(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, Node::Text(_)))
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
