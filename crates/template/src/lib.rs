//! The subset of Go's `text/template` that Prometheus rule files use in labels and
//! annotations (text and `{{ }}` actions with `{{-`/`-}}` trimming and `/* */` comments,
//! pipelines, fields, variables, literals, parenthesised pipelines, `if`/`else if`/`else`,
//! `range` with `break`/`continue`, and `with`), with Prometheus's template functions.
//! A template is parsed once, when its rule file is loaded (unknown functions and
//! undefined variables are errors then, as in Go), and expanded at every evaluation;
//! errors carry `line:column` within the template text. Notification templates, as
//! Alertmanager's, may also define named templates (`{{define}}`, `{{block}}`) and call
//! them with `{{template}}`, their own or those of shared files ([`NamedTemplates`]).
//! What the functions need from the
//! program running the template (PromQL queries, the time for `now`) comes in through
//! [`Host`].

mod error;
mod exec;
mod format;
mod funcs;
mod humanize;
mod lex;
mod parse;
mod text;
mod tree;
mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use error::{FuncError, TemplateError};
pub use format::{go_float, go_sprintf};
pub use text::query_escape;
pub use tree::{NamedTemplates, Template};
pub use value::Value;

/// The data a rule template sees: `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`,
/// also bound to `$labels`, `$externalLabels`, `$externalURL` and `$value`.
#[derive(Clone, Debug, Default)]
pub struct TemplateData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

/// Each sample's labels and value.
pub type QuerySamples = Vec<(BTreeMap<String, String>, f64)>;

/// What template functions reach outside the template for. Any
/// `Fn(&str) -> Result<QuerySamples, String>` is a host that answers queries and reads
/// the system clock.
pub trait Host {
    /// Runs the PromQL of `query "…"` at the rule's evaluation time; each sample is its
    /// labels and value. Scalars come back as one sample without labels. The error is
    /// shown to the template's reader as it is.
    fn query(&self, expr: &str) -> Result<QuerySamples, String>;

    /// Unix time in seconds for `now`.
    fn now(&self) -> f64 {
        chrono::Utc::now().timestamp_millis() as f64 / 1000.0
    }
}

impl<F> Host for F
where
    F: Fn(&str) -> Result<QuerySamples, String>,
{
    fn query(&self, expr: &str) -> Result<QuerySamples, String> {
        self(expr)
    }
}
