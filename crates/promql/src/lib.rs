//! The PromQL engine: evaluates `promql-parser`'s syntax tree over a
//! [`SeriesSource`], giving Prometheus's (3.x) answers.
//!
//! Public contract (the HTTP API, rules and UI code against this):
//! - [`Engine::instant_query`] / [`Engine::range_query`] parse and evaluate a query.
//! - [`QueryValue::to_api_json`] renders a result in the Prometheus HTTP API's `data`
//!   shape (`resultType` + `result`, values as strings such as `"NaN"` and `"+Inf"`).
//! - [`QueryError`] carries the Prometheus error type (`bad_data`, `execution`,
//!   `timeout`, `canceled`) and, for parse errors, where in the query the error is.
//! - [`memory::MemorySource`] is a plain in-memory [`SeriesSource`] for tests and for
//!   unit-testing rules.

mod aggregate;
mod binary;
mod eval;
mod functions;
mod histogram;
pub mod memory;
mod range_functions;
pub mod syntax_tree;
mod value;

use std::collections::HashMap;
use std::time::Instant;

use pharos_model::series::{LabelSet, Sample, SeriesSamples, SeriesSource};
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;

pub use value::format_value;
use value::{Steps, Val};

/// Limits and defaults; Prometheus's defaults unless said otherwise.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5 m).
    pub lookback_delta_ms: i64,
    /// Most samples a query may hold in memory at once (Prometheus: 50 million).
    pub max_samples: usize,
    /// Wall-clock limit per query (Prometheus: 2 m).
    pub timeout: std::time::Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: std::time::Duration::from_secs(120),
        }
    }
}

/// A query result.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryValue {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        v: String,
    },
    /// Instant vector: one sample per series, all at the evaluation time.
    Vector(Vec<VectorSample>),
    /// Range vector or range-query result: series with their samples, oldest first.
    Matrix(Vec<SeriesSamples>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct VectorSample {
    pub labels: LabelSet,
    pub sample: Sample,
}

impl QueryValue {
    /// The Prometheus HTTP API `data` object for this value.
    pub fn to_api_json(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let secs = |t: i64| Value::from(t as f64 / 1e3);
        let point = |t: i64, v: f64| json!([secs(t), format_value(v)]);
        let metric = |l: &LabelSet| {
            Value::Object(
                l.iter()
                    .map(|l| (l.name.clone(), Value::String(l.value.clone())))
                    .collect(),
            )
        };
        match self {
            QueryValue::Scalar { t, v } => json!({"resultType": "scalar", "result": point(*t, *v)}),
            QueryValue::String { t, v } => json!({"resultType": "string", "result": [secs(*t), v]}),
            QueryValue::Vector(vs) => json!({
                "resultType": "vector",
                "result": vs.iter().map(|s| json!({"metric": metric(&s.labels), "value": point(s.sample.t, s.sample.v)})).collect::<Vec<_>>(),
            }),
            QueryValue::Matrix(ms) => json!({
                "resultType": "matrix",
                "result": ms.iter().map(|s| json!({
                    "metric": metric(&s.labels),
                    "values": s.samples.iter().map(|x| point(x.t, x.v)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
        }
    }
}

/// A result with the annotations Prometheus returns beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub value: QueryValue,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// Whether the order of a vector result is meaningful (`sort`, `topk` at the top).
    pub ordered: bool,
}

/// Prometheus's error types, as the HTTP API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
        }
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub kind: ErrorType,
    pub message: String,
    /// For parse errors: the byte range in the query the error is about, when known.
    pub position: Option<std::ops::Range<usize>>,
}

impl QueryError {
    fn bad_data(message: impl Into<String>) -> Self {
        QueryError {
            kind: ErrorType::BadData,
            message: message.into(),
            position: None,
        }
    }
}

/// Prometheus's limit on points per series in a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// How deep a query may nest, in units where a binary operator costs 1 and every other
/// node (parentheses, calls, aggregations, unary minus, subqueries) 8: evaluation recurses
/// once per node, and a call's frames are the largest, so 64 nested calls or 512 chained
/// binary operators still evaluate on a 2 MiB worker stack in a debug build, and a
/// request cannot overflow it and abort the server.
pub const MAX_NESTING: usize = 512;

/// Parses a query from the HTTP API, mapping the parser's message to a `bad_data` error
/// with a position where the message names one.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    parse_expression(query).map_err(|mut e| {
        e.message = format!("invalid parameter \"query\": {}", e.message);
        e
    })
}

/// Parses an expression from any source (a query, a rule file), with the bounds every
/// expression must keep, and the parser's own message.
pub fn parse_expression(text: &str) -> Result<Expr, QueryError> {
    durations_in_range(text)?;
    let expr = promql_parser::parser::parse(text).map_err(|e| {
        let position = parse_position(&e, text);
        QueryError {
            kind: ErrorType::BadData,
            message: e,
            position,
        }
    })?;
    if nested_too_deep(&expr, 0) {
        return Err(QueryError::bad_data(format!(
            "expressions nested deeper than {} levels",
            MAX_NESTING / 8
        )));
    }
    Ok(expr)
}

/// The longest duration Prometheus takes: its durations are `int64` nanoseconds.
const MAX_DURATION_SECONDS: f64 = i64::MAX as f64 / 1e9;

/// Refuses a plain number used as a duration (`x[300]`, `x[5m:30]`, `offset 60`) that no
/// duration can hold. promql-parser turns such a number into a `Duration` with
/// `Duration::from_secs_f64`, which panics on infinity, NaN or overflow (`x[1e400]`,
/// `x[Inf]`), so this walk over the parser's own tokens runs first: a query from any reader
/// of the HTTP API or any rule file must get an error, never a panic.
fn durations_in_range(query: &str) -> Result<(), QueryError> {
    use lrpar::{Lexeme, Lexer, NonStreamingLexer};
    use promql_parser::parser::token::{T_COLON, T_LEFT_BRACKET, T_NUMBER, T_OFFSET, T_SUB};
    // A lexing error is the parser's to report, with its own message.
    let Ok(lexer) = promql_parser::parser::lexer(query) else {
        return Ok(());
    };
    let mut before: [Option<u16>; 2] = [None, None];
    for lexeme in lexer.iter().flatten() {
        let token = lexeme.tok_id();
        let is_duration_position = match before {
            [_, Some(t)] if t == T_LEFT_BRACKET || t == T_COLON || t == T_OFFSET => true,
            [Some(o), Some(s)] => o == T_OFFSET && s == T_SUB,
            _ => false,
        };
        if token == T_NUMBER && is_duration_position {
            let span = lexeme.span();
            let text = lexer.span_str(span);
            let fits = promql_parser::util::parse_str_radix(text)
                .map(|seconds| {
                    seconds.is_finite() && (0.0..=MAX_DURATION_SECONDS).contains(&seconds)
                })
                // A number the parser cannot read is its error to report.
                .unwrap_or(true);
            if !fits {
                return Err(QueryError {
                    kind: ErrorType::BadData,
                    message: format!("duration out of range: {text}"),
                    position: Some(span.start()..span.end()),
                });
            }
        }
        before = [before[1], Some(token)];
    }
    Ok(())
}

/// Recurses at most `MAX_NESTING` levels itself: it stops at the first node past the limit.
fn nested_too_deep(expr: &Expr, depth: usize) -> bool {
    if depth > MAX_NESTING {
        return true;
    }
    let inner = depth + 8;
    match expr {
        Expr::Binary(b) => nested_too_deep(&b.lhs, depth + 1) || nested_too_deep(&b.rhs, depth + 1),
        Expr::Aggregate(a) => {
            nested_too_deep(&a.expr, inner)
                || a.param
                    .as_deref()
                    .is_some_and(|p| nested_too_deep(p, inner))
        }
        Expr::Unary(u) => nested_too_deep(&u.expr, inner),
        Expr::Paren(p) => nested_too_deep(&p.expr, inner),
        Expr::Subquery(s) => nested_too_deep(&s.expr, inner),
        Expr::Call(c) => c.args.args.iter().any(|a| nested_too_deep(a, inner)),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => false,
    }
}

/// The series selectors of an expression (`up{job="api"}`, the selector inside
/// `rate(x[5m])`), each as written and as store matchers, in the order they appear; a
/// selector whose regular expression does not compile is left out. Rules use it to tell a
/// query over series that do not exist from one whose condition is simply not met.
pub fn selectors(expr: &Expr) -> Vec<(String, Vec<pharos_model::series::LabelMatcher>)> {
    fn walk(e: &Expr, out: &mut Vec<(String, Vec<pharos_model::series::LabelMatcher>)>) {
        let mut add = |vs: &promql_parser::parser::VectorSelector| {
            if let Ok(m) = eval::to_matchers(vs) {
                let mut plain = vs.clone();
                plain.offset = None;
                plain.at = None;
                out.push((plain.to_string(), m));
            }
        };
        match e {
            Expr::VectorSelector(vs) => add(vs),
            Expr::MatrixSelector(ms) => add(&ms.vs),
            Expr::Binary(b) => {
                walk(&b.lhs, out);
                walk(&b.rhs, out);
            }
            Expr::Aggregate(a) => {
                if let Some(p) = a.param.as_deref() {
                    walk(p, out);
                }
                walk(&a.expr, out);
            }
            Expr::Unary(u) => walk(&u.expr, out),
            Expr::Paren(p) => walk(&p.expr, out),
            Expr::Subquery(s) => walk(&s.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut out);
    out
}

/// The parser reports errors as text such as "unexpected <op:*> at 3:5" or with a byte
/// span "12..15"; pick out the offset when there is one.
fn parse_position(msg: &str, query: &str) -> Option<std::ops::Range<usize>> {
    let re = regex::Regex::new(r"(\d+)\.\.(\d+)").ok()?;
    if let Some(c) = re.captures(msg) {
        let a: usize = c[1].parse().ok()?;
        let b: usize = c[2].parse().ok()?;
        if a <= b && b <= query.len() {
            return Some(a..b);
        }
    }
    None
}

pub struct Engine {
    pub opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// Evaluates `query` at `t` (Unix ms).
    pub fn instant_query(
        &self,
        src: &dyn SeriesSource,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, QueryError> {
        let expr = parse(query)?;
        self.run(
            src,
            &expr,
            Steps {
                start: t,
                end: t,
                step: 0,
            },
            true,
            byte_strings(query),
        )
    }

    /// Evaluates `query` at every `step` from `start` to `end` (Unix ms, inclusive).
    /// The result is a matrix (or a scalar/vector expression evaluated to a matrix, as
    /// Prometheus does).
    pub fn range_query(
        &self,
        src: &dyn SeriesSource,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        if end < start {
            return Err(QueryError::bad_data(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        if step <= 0 {
            return Err(QueryError::bad_data(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(QueryError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let expr = parse(query)?;
        match expr.value_type() {
            ValueType::Vector | ValueType::Scalar => {}
            other => {
                return Err(QueryError::bad_data(format!(
                    "invalid parameter \"query\": invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    match other {
                        ValueType::Matrix => "range vector",
                        _ => "string",
                    }
                )));
            }
        }
        self.run(
            src,
            &expr,
            Steps { start, end, step },
            false,
            byte_strings(query),
        )
    }

    /// Evaluates a parsed expression (rules keep their parsed expressions).
    pub fn eval_instant(
        &self,
        src: &dyn SeriesSource,
        expr: &Expr,
        t: i64,
    ) -> Result<QueryResult, QueryError> {
        self.run(
            src,
            expr,
            Steps {
                start: t,
                end: t,
                step: 0,
            },
            true,
            HashMap::new(),
        )
    }

    fn run(
        &self,
        src: &dyn SeriesSource,
        expr: &Expr,
        steps: Steps,
        instant: bool,
        byte_strings: HashMap<String, Vec<u8>>,
    ) -> Result<QueryResult, QueryError> {
        let mut ev = eval::Evaluator {
            src,
            opts: &self.opts,
            query_start: steps.start,
            query_end: steps.end,
            query_step: steps.step,
            deadline: Instant::now() + self.opts.timeout,
            samples_loaded: 0,
            warnings: Vec::new(),
            infos: Vec::new(),
            ordered: false,
            byte_strings,
        };
        if !instant && functions::calls_sort(expr) {
            ev.warnings.push(
                "PromQL warning: sort is ineffective for range queries since results are always ordered by labels".into(),
            );
        }
        let val = match ev.eval(expr, steps)? {
            Val::Vector(vs) => Val::Vector(eval::drop_marked_names(vs)?),
            other => other,
        };
        let value = match (val, instant) {
            (Val::Scalar(v), true) => QueryValue::Scalar {
                t: steps.start,
                v: v[0],
            },
            (Val::String(s), _) => QueryValue::String {
                t: steps.start,
                v: s,
            },
            (Val::Vector(vs), true) => QueryValue::Vector(
                vs.into_iter()
                    .filter_map(|s| {
                        s.points[0].map(|v| VectorSample {
                            labels: s.labels,
                            sample: Sample { t: steps.start, v },
                        })
                    })
                    .collect(),
            ),
            (Val::Matrix(m), _) => QueryValue::Matrix(m),
            (Val::Scalar(v), false) => QueryValue::Matrix(vec![SeriesSamples {
                labels: LabelSet::default(),
                samples: v
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Sample { t: steps.at(i), v })
                    .collect(),
            }]),
            (Val::Vector(vs), false) => {
                let mut m: Vec<SeriesSamples> = vs
                    .into_iter()
                    .map(|s| SeriesSamples {
                        labels: s.labels,
                        samples: s
                            .points
                            .iter()
                            .enumerate()
                            .filter_map(|(i, p)| p.map(|v| Sample { t: steps.at(i), v }))
                            .collect(),
                    })
                    .filter(|s| !s.samples.is_empty())
                    .collect();
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                QueryValue::Matrix(m)
            }
        };
        // Prometheus's annotations are a set: each message once, in order of appearance.
        let mut warnings = ev.warnings;
        let mut seen = std::collections::HashSet::new();
        warnings.retain(|w| seen.insert(w.clone()));
        let mut infos = ev.infos;
        infos.sort();
        infos.dedup();
        Ok(QueryResult {
            value,
            warnings,
            infos,
            ordered: ev.ordered,
        })
    }
}

/// The query's string literals that Go (and so Prometheus) reads as bytes that are not
/// UTF-8 (`"\xff"`), keyed by the text the parser made of them (it reads `\xff` as the
/// character U+00FF), with their bytes.
fn byte_strings(query: &str) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut chars = query.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '`' => {
                for (_, c) in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                }
            }
            '"' | '\'' => {
                let quote = c;
                let (mut go, mut parsed) = (Vec::new(), String::new());
                let mut byte_escape = false;
                while let Some((_, c)) = chars.next() {
                    if c == quote {
                        break;
                    }
                    if c != '\\' {
                        let mut buf = [0u8; 4];
                        go.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        parsed.push(c);
                        continue;
                    }
                    let Some((_, e)) = chars.next() else { break };
                    let digits = |n: usize, radix: u32, first: Option<char>, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
                        let mut v: u32 = first.and_then(|c| c.to_digit(radix)).unwrap_or(0);
                        for _ in 0..n {
                            if let Some((_, d)) = chars.next() {
                                v = v * radix + d.to_digit(radix).unwrap_or(0);
                            }
                        }
                        v
                    };
                    match e {
                        'x' | '0'..='7' => {
                            let v = if e == 'x' {
                                digits(2, 16, None, &mut chars)
                            } else {
                                digits(2, 8, Some(e), &mut chars)
                            };
                            go.push(v as u8);
                            parsed.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                            byte_escape |= v >= 0x80;
                        }
                        'u' | 'U' => {
                            let v = digits(if e == 'u' { 4 } else { 8 }, 16, None, &mut chars);
                            let c = char::from_u32(v).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            go.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            parsed.push(c);
                        }
                        other => {
                            let c = match other {
                                'a' => '\x07',
                                'b' => '\x08',
                                'f' => '\x0c',
                                'n' => '\n',
                                'r' => '\r',
                                't' => '\t',
                                'v' => '\x0b',
                                c => c,
                            };
                            go.push(c as u8);
                            parsed.push(c);
                        }
                    }
                }
                if byte_escape && std::str::from_utf8(&go).is_err() {
                    out.insert(parsed, go);
                }
            }
            _ => {}
        }
    }
    out
}

/// Parses a series selector (`up{job="api"}`, as in `match[]` parameters) into matchers.
pub fn parse_selector(
    selector: &str,
) -> Result<Vec<pharos_model::series::LabelMatcher>, QueryError> {
    match parse(selector)? {
        Expr::VectorSelector(vs) => {
            let m = eval::to_matchers(&vs)?;
            if m.iter().all(|m| m.matches_empty()) {
                return Err(QueryError::bad_data(format!(
                    "invalid parameter \"match[]\": {selector}: vector selector must contain at least one non-empty matcher"
                )));
            }
            Ok(m)
        }
        _ => Err(QueryError::bad_data(format!(
            "invalid parameter \"match[]\": {selector} is not a series selector"
        ))),
    }
}
