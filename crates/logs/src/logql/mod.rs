//! LogQL, Loki's query language, over the log store: what Grafana's Loki data source and
//! `logcli` send to `/loki/api/v1/query_range`. `parse.rs` reads Loki's syntax into the
//! tree below (`literals.rs`: the durations, sizes, patterns and templates inside it);
//! `labels.rs` is the one mapping from a stored entry to Loki stream labels (the mirror
//! of how the Loki push decoder reads labels in); `pipeline.rs` runs line
//! filters, parsers, label filters and formatting on one entry; `eval.rs` narrows with
//! the index, reads the candidates and answers log queries (streams), and `metric.rs`
//! metric queries (`count_over_time`, `rate`, `avg_over_time`, … and aggregations), with
//! the bounds every request gets.
//!
//! The index only narrows: the selector's equality matchers and the positive line
//! filters become a [`crate::LogQuery`] superset, and every candidate is checked again
//! with the exact LogQL semantics (case-sensitive substrings, anchored label regexes).

mod eval;
mod labels;
mod literals;
mod metric;
mod parse;
mod pipeline;

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

pub use eval::{
    Direction, IndexStats, LogqlLimits, LogqlRequest, LogqlStream, MetricSeries, QueryAnswer,
    QueryStats,
};
pub use labels::{LEVEL_LABEL, SERVICE_LABEL, entry_labels};

/// Label names and values of one stream or series, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// A LogQL query that parsed.
#[derive(Debug, Clone)]
pub struct Logql {
    text: String,
    pub(crate) expr: Expr,
}

/// Where and why a query did not parse, or what it asks for that is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at byte {position}: {message}")]
pub struct LogqlError {
    pub position: usize,
    pub message: String,
}

/// The longest query text accepted (Loki has no limit; Grafana's editor writes short ones).
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

impl Logql {
    pub fn parse(text: &str) -> Result<Logql, LogqlError> {
        if text.len() > MAX_QUERY_BYTES {
            return Err(LogqlError {
                position: MAX_QUERY_BYTES,
                message: format!("query is longer than {MAX_QUERY_BYTES} bytes"),
            });
        }
        Ok(Logql {
            text: text.to_string(),
            expr: parse::parse(text)?,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// A log query (answered with streams), as opposed to a metric query.
    pub fn is_log_query(&self) -> bool {
        matches!(self.expr, Expr::Log(_))
    }

    /// The stream selectors the query reads, for `index/stats`-style questions.
    pub fn selectors(&self) -> Vec<Vec<Matcher>> {
        let mut out = Vec::new();
        self.expr.collect_selectors(&mut out);
        out
    }

    /// The selector and pipeline of a log query; a metric query is refused where only a
    /// log query makes sense (`labels?query=`, `series?match[]=`).
    pub(crate) fn log_expr(&self) -> Result<&LogExpr, crate::LogStoreError> {
        match &self.expr {
            Expr::Log(l) => Ok(l),
            Expr::Metric(_) => Err(crate::LogStoreError::BadRequest(format!(
                "{:?} is a metric query; give a stream selector like {{service=\"api\"}}",
                self.text
            ))),
        }
    }
}

impl fmt::Display for Logql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
}

impl Expr {
    fn collect_selectors(&self, out: &mut Vec<Vec<Matcher>>) {
        match self {
            Expr::Log(l) => out.push(l.selector.clone()),
            Expr::Metric(m) => m.collect_selectors(out),
        }
    }
}

/// A stream selector and its pipeline.
#[derive(Debug, Clone)]
pub(crate) struct LogExpr {
    pub selector: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

/// `name op "value"` of a stream selector (or a label filter written with a string).
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// Anchored, as Prometheus and Loki anchor label regexes.
    pub(crate) regex: Option<Regex>,
}

impl Matcher {
    /// Whether `value` satisfies the matcher (a missing label is the empty string).
    pub fn holds(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Ne => value != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::Nre => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    Nre,
}

#[derive(Debug, Clone)]
pub(crate) enum Stage {
    /// `|= "a" or "b"`, `!= "a"`, `|~ "re"`, `!~ "re"`.
    LineFilter {
        negated: bool,
        tests: Vec<LineTest>,
    },
    /// `| json` (every field) or `| json a="path.to", b`.
    Json(Vec<(String, Vec<String>)>),
    /// `| logfmt` (every pair) or `| logfmt a="key"`.
    Logfmt(Vec<(String, String)>),
    /// `| regexp "(?P<name>…)"`.
    Regexp(Regex),
    /// `| pattern "<ip> - <_> <status>"`.
    Pattern(Vec<PatternPart>),
    LabelFilter(LabelPredicate),
    LineFormat(Vec<TemplatePart>),
    /// `| label_format new=old, other="{{.a}}-{{.b}}"`.
    LabelFormat(Vec<(String, LabelSource)>),
    /// `| drop a, b="x"` and `| keep a, b`: names, or matchers that must hold.
    Drop(Vec<LabelSelection>),
    Keep(Vec<LabelSelection>),
    Decolorize,
    /// `| unwrap latency_ms`, `| unwrap duration(took)`, `| unwrap bytes(size)`: the
    /// label's value is the sample of a range function over values; the label is removed.
    Unwrap {
        label: String,
        unit: NumberUnit,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum LineTest {
    Contains(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
pub(crate) enum PatternPart {
    Literal(String),
    /// `<name>`; `None` for `<_>`.
    Capture(Option<String>),
}

#[derive(Debug, Clone)]
pub(crate) enum TemplatePart {
    Text(String),
    /// `{{.name}}` or `{{ .name }}`.
    Field(String),
    /// `{{__line__}}`.
    Line,
    /// `{{__timestamp__}}`, RFC 3339.
    Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) enum LabelSource {
    Rename(String),
    Template(Vec<TemplatePart>),
}

#[derive(Debug, Clone)]
pub(crate) enum LabelSelection {
    Name(String),
    Matcher(Matcher),
}

#[derive(Debug, Clone)]
pub(crate) enum LabelPredicate {
    And(Box<LabelPredicate>, Box<LabelPredicate>),
    Or(Box<LabelPredicate>, Box<LabelPredicate>),
    /// `level="error"`, `path=~"/api/.*"`.
    String(Matcher),
    /// `status >= 500`, `duration > 1.5s`, `size > 10KB`.
    Number {
        name: String,
        op: CompareOp,
        value: f64,
        unit: NumberUnit,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberUnit {
    Plain,
    /// Seconds; the label reads as a Go duration (`250ms`, `1m30s`) or plain seconds.
    Duration,
    /// Bytes; the label reads as `10KB`, `1.5MiB` or a plain number.
    Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub(crate) fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum MetricExpr {
    /// `count_over_time({…} | … [5m])`.
    Range {
        func: RangeFunc,
        log: LogExpr,
        /// The window, nanoseconds.
        range_ns: i64,
        offset_ns: i64,
        /// The φ of `quantile_over_time(φ, …)`.
        param: Option<f64>,
        /// `avg_over_time(… | unwrap x [5m]) by (host)`.
        grouping: Option<Grouping>,
    },
    /// `sum by (level) (…)`, `topk(5, …)`.
    Aggregate {
        op: AggregateOp,
        param: Option<f64>,
        grouping: Option<Grouping>,
        inner: Box<MetricExpr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<MetricExpr>,
        rhs: Box<MetricExpr>,
    },
    Number(f64),
    /// `vector(1)`: one series without labels.
    Vector(f64),
}

impl MetricExpr {
    fn collect_selectors(&self, out: &mut Vec<Vec<Matcher>>) {
        match self {
            MetricExpr::Range { log, .. } => out.push(log.selector.clone()),
            MetricExpr::Aggregate { inner, .. } => inner.collect_selectors(out),
            MetricExpr::Binary { lhs, rhs, .. } => {
                lhs.collect_selectors(out);
                rhs.collect_selectors(out);
            }
            MetricExpr::Number(_) | MetricExpr::Vector(_) => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFunc {
    CountOverTime,
    Rate,
    BytesOverTime,
    BytesRate,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    FirstOverTime,
    LastOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
}

impl RangeFunc {
    /// Functions over the values `| unwrap` extracts, rather than over lines.
    pub(crate) fn over_values(self) -> bool {
        !matches!(
            self,
            RangeFunc::CountOverTime
                | RangeFunc::Rate
                | RangeFunc::BytesOverTime
                | RangeFunc::BytesRate
                | RangeFunc::AbsentOverTime
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggregateOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
}

#[derive(Debug, Clone)]
pub(crate) struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `> 5` drops the samples where it does not hold; `> bool 5` answers 1 or 0.
    Compare {
        op: CompareOp,
        bool_result: bool,
    },
}

impl Logql {
    /// What a log query makes of one entry as it arrives (the live tail): its labels and
    /// line, or `None` when the selector or pipeline drop it.
    pub fn process(&self, entry: &pharos_model::LogEntry) -> Option<(Labels, String)> {
        let Expr::Log(log) = &self.expr else {
            return None;
        };
        let labels = entry_labels(entry);
        if !log
            .selector
            .iter()
            .all(|m| labels::selector_holds(m, &labels, entry))
        {
            return None;
        }
        pipeline::run(&log.stages, entry, labels).map(|p| (p.labels, p.line))
    }
}
