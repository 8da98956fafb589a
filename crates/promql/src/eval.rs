//! The evaluator: walks `promql-parser`'s tree once for the whole query, every node
//! producing its value at every step (Prometheus's range evaluation; an instant query is a
//! range of one step). Selectors with lookback and staleness, `offset` and `@`,
//! subqueries, binary operators with vector matching, and aggregations live here;
//! functions are in `functions.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pharos_model::series::{
    LabelMatcher, LabelSet, LoadBudget, METRIC_NAME, MatchOp, Sample, SelectError, SeriesSamples,
    SeriesSource, is_stale_marker,
};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Expr, MatrixSelector, Offset, SubqueryExpr,
    VectorSelector,
};

use crate::value::{StepSeries, Steps, Val, WindowSeries};
use crate::{EngineOptions, ErrorType, QueryError};

pub fn exec_err(msg: impl Into<String>) -> QueryError {
    QueryError {
        kind: ErrorType::Execution,
        message: msg.into(),
        position: None,
    }
}

pub struct Evaluator<'a> {
    pub src: &'a dyn SeriesSource,
    pub opts: &'a EngineOptions,
    /// The query's own start and end (for `@ start()` / `@ end()`).
    pub query_start: i64,
    pub query_end: i64,
    /// The query's step (0 for an instant query), for `step()`.
    pub query_step: i64,
    pub deadline: Instant,
    pub samples_loaded: usize,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// Set by `sort` and friends: the result's order is meaningful.
    pub ordered: bool,
    /// String literals of the query whose Go reading (byte escapes such as `\xff`) is
    /// not UTF-8, by the value the parser gave them, with their bytes: Prometheus
    /// rejects them as label names.
    pub byte_strings: HashMap<String, Vec<u8>>,
}

fn dur_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

pub fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Converts the parser's matchers to the store's.
pub fn to_matchers(vs: &VectorSelector) -> Result<Vec<LabelMatcher>, QueryError> {
    let mut out = Vec::new();
    if let Some(name) = &vs.name {
        out.push(LabelMatcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let (op, value) = match &m.op {
            PMatchOp::Equal => (MatchOp::Equal, m.value.clone()),
            PMatchOp::NotEqual => (MatchOp::NotEqual, m.value.clone()),
            PMatchOp::Re(_) => (MatchOp::Regex, m.value.clone()),
            PMatchOp::NotRe(_) => (MatchOp::NotRegex, m.value.clone()),
        };
        if m.name == METRIC_NAME && vs.name.is_some() && op == MatchOp::Equal {
            continue;
        }
        out.push(
            LabelMatcher::new(m.name.clone(), op, value).map_err(|e| QueryError {
                kind: ErrorType::BadData,
                message: format!("invalid regular expression in matcher: {e}"),
                position: None,
            })?,
        );
    }
    Ok(out)
}

fn too_many_samples() -> QueryError {
    exec_err("query processing would load too many samples into memory in query execution")
}

/// Prometheus's timeout error; `stage` is where the query was when its time ran out.
pub fn timed_out(stage: &str) -> QueryError {
    QueryError {
        kind: ErrorType::Timeout,
        message: format!("query timed out in {stage}"),
        position: None,
    }
}

/// What one selection may still load, charged by the store series by series. The
/// engine's own error is kept, so the caller answers with it rather than with the
/// store's wording.
struct Loading {
    loaded: usize,
    max: usize,
    deadline: Instant,
    /// Series and samples charged since the clock was last read (see
    /// [`Loading::time_is_up`]).
    series_unclocked: usize,
    samples_unclocked: usize,
    stopped: Option<QueryError>,
}

impl Loading {
    /// Reads the clock every 64 series or 65,536 samples: reading it for every small
    /// series cost a measurable share of a query over thousands of them.
    fn time_is_up(&mut self, samples: usize) -> bool {
        self.series_unclocked += 1;
        self.samples_unclocked += samples;
        if self.series_unclocked < 64 && self.samples_unclocked < 65_536 {
            return false;
        }
        (self.series_unclocked, self.samples_unclocked) = (0, 0);
        Instant::now() > self.deadline
    }
}

impl LoadBudget for Loading {
    fn charge(&mut self, samples: usize) -> Result<(), SelectError> {
        self.loaded += samples;
        let stop = if self.loaded > self.max {
            too_many_samples()
        } else if self.time_is_up(samples) {
            timed_out("query execution")
        } else {
            return Ok(());
        };
        let message = stop.message.clone();
        self.stopped = Some(stop);
        Err(SelectError::Limit(message))
    }
}

impl Evaluator<'_> {
    fn check(&mut self, more: usize) -> Result<(), QueryError> {
        self.samples_loaded += more;
        if self.samples_loaded > self.opts.max_samples {
            return Err(too_many_samples());
        }
        if Instant::now() > self.deadline {
            return Err(timed_out("query execution"));
        }
        Ok(())
    }

    /// Fails once the query's time is up; called between the steps of evaluation, as
    /// Prometheus checks its context, so costly functions cannot run past the timeout.
    pub fn check_deadline(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            return Err(timed_out("expression evaluation"));
        }
        Ok(())
    }

    /// The evaluation time of a selector at step time `t`, honouring `@` and `offset`.
    pub(crate) fn ref_time(&self, t: i64, at: &Option<AtModifier>, offset: &Option<Offset>) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.query_start,
            Some(AtModifier::End) => self.query_end,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base - offset_ms(offset)
    }

    fn select(
        &mut self,
        vs: &VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesSamples>, QueryError> {
        let matchers = to_matchers(vs)?;
        let mut budget = Loading {
            loaded: self.samples_loaded,
            max: self.opts.max_samples,
            deadline: self.deadline,
            series_unclocked: 0,
            samples_unclocked: 0,
            stopped: None,
        };
        let r = self.src.select_within(&matchers, mint, maxt, &mut budget);
        self.samples_loaded = budget.loaded;
        match (r, budget.stopped) {
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(exec_err(e.to_string())),
            (Ok(r), None) => Ok(r),
        }
    }

    pub fn eval(&mut self, expr: &Expr, steps: Steps) -> Result<Val, QueryError> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; steps.len()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, steps),
            Expr::Unary(u) => match self.eval(&u.expr, steps)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(vs) => Ok(Val::Vector(
                    vs.into_iter()
                        .map(|s| StepSeries {
                            labels: s.labels,
                            points: s.points.into_iter().map(|p| p.map(|x| -x)).collect(),
                            drop_name: true,
                        })
                        .collect(),
                )),
                _ => Err(exec_err("unary minus on an unsupported value")),
            },
            Expr::VectorSelector(vs) => self.vector_selector(vs, steps).map(Val::Vector),
            Expr::MatrixSelector(ms) => {
                // Only valid as an instant query's result.
                let t = steps.start;
                let end = self.ref_time(t, &ms.vs.at, &ms.vs.offset);
                let start = end - dur_ms(&ms.range);
                let mut out = Vec::new();
                for s in self.select(&ms.vs, start + 1, end)? {
                    let samples: Vec<Sample> = s
                        .samples
                        .into_iter()
                        .filter(|x| !is_stale_marker(x.v))
                        .collect();
                    if !samples.is_empty() {
                        out.push(SeriesSamples {
                            labels: s.labels,
                            samples,
                        });
                    }
                }
                Ok(Val::Matrix(out))
            }
            Expr::Subquery(sq) => {
                let t = steps.start;
                let (_, windows) = self.subquery(
                    sq,
                    Steps {
                        start: t,
                        end: t,
                        step: 0,
                    },
                )?;
                let mut out: Vec<SeriesSamples> = Vec::new();
                for w in windows {
                    let samples = w.window(0).to_vec();
                    if samples.is_empty() {
                        continue;
                    }
                    let mut labels = w.labels;
                    if w.drop_name {
                        labels.remove(METRIC_NAME);
                    }
                    if out.iter().any(|o| o.labels == labels) {
                        return Err(exec_err(
                            "vector cannot contain metrics with the same labelset",
                        ));
                    }
                    out.push(SeriesSamples { labels, samples });
                }
                Ok(Val::Matrix(out))
            }
            Expr::Aggregate(a) => self.aggregate(a, steps),
            Expr::Binary(b) => self.binary(b, steps),
            Expr::Call(c) => crate::functions::call(self, c, steps),
            Expr::Extension(_) => Err(exec_err("extension expressions are not supported")),
        }
    }

    pub fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        steps: Steps,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let lookback = self.opts.lookback_delta_ms;
        let times: Vec<i64> = steps
            .iter()
            .map(|t| self.ref_time(t, &vs.at, &vs.offset))
            .collect();
        let (lo, hi) = (
            times.iter().copied().min().unwrap_or(0),
            times.iter().copied().max().unwrap_or(0),
        );
        let series = self.select(vs, lo - lookback + 1, hi)?;
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let mut points = Vec::with_capacity(times.len());
            let mut any = false;
            for &t in &times {
                // The newest sample in (t - lookback, t]; a staleness marker means none.
                let i = s.samples.partition_point(|x| x.t <= t);
                let p = if i == 0 {
                    None
                } else {
                    let x = s.samples[i - 1];
                    (x.t > t - lookback && !is_stale_marker(x.v)).then_some(x.v)
                };
                any |= p.is_some();
                points.push(p);
            }
            if any {
                out.push(StepSeries::new(s.labels, points));
            }
        }
        self.check(out.len() * steps.len())?;
        Ok(out)
    }

    /// A range vector per step: for every series, the samples in `(t - range, t]` at each
    /// step (after `@` and `offset`), staleness markers removed.
    pub fn matrix_windows(
        &mut self,
        ms: &MatrixSelector,
        steps: Steps,
    ) -> Result<Vec<WindowSeries>, QueryError> {
        let range = dur_ms(&ms.range);
        let times: Vec<i64> = steps
            .iter()
            .map(|t| self.ref_time(t, &ms.vs.at, &ms.vs.offset))
            .collect();
        let (lo, hi) = (
            times.iter().copied().min().unwrap_or(0),
            times.iter().copied().max().unwrap_or(0),
        );
        let series = self.select(&ms.vs, lo - range + 1, hi)?;
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let samples: Vec<Sample> = s
                .samples
                .into_iter()
                .filter(|x| !is_stale_marker(x.v))
                .collect();
            out.push(WindowSeries::new(s.labels, samples, &times, range, false));
        }
        Ok(out)
    }

    /// Evaluates a subquery; per series, its points in `(t - range, t]` at each outer step.
    pub fn subquery(
        &mut self,
        sq: &SubqueryExpr,
        steps: Steps,
    ) -> Result<(i64, Vec<WindowSeries>), QueryError> {
        let range = dur_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(dur_ms)
            .filter(|s| *s > 0)
            .unwrap_or(60_000);
        let times: Vec<i64> = steps
            .iter()
            .map(|t| self.ref_time(t, &sq.at, &sq.offset))
            .collect();
        let (lo, hi) = (
            times.iter().copied().min().unwrap_or(0),
            times.iter().copied().max().unwrap_or(0),
        );
        // Inner steps are aligned to multiples of the subquery step, as in Prometheus.
        let mut start = (lo - range).div_euclid(step) * step;
        if start <= lo - range {
            start += step;
        }
        let end = hi.div_euclid(step) * step;
        if end < start {
            return Ok((range, Vec::new()));
        }
        let inner = Steps { start, end, step };
        let (saved_start, saved_end) = (self.query_start, self.query_end);
        let val = self.eval(&sq.expr, inner);
        (self.query_start, self.query_end) = (saved_start, saved_end);
        let out = match val? {
            Val::Vector(vs) => vs
                .into_iter()
                .map(|s| {
                    let samples = s
                        .points
                        .iter()
                        .enumerate()
                        .filter_map(|(i, p)| p.map(|v| Sample { t: inner.at(i), v }))
                        .collect();
                    WindowSeries::new(s.labels, samples, &times, range, s.drop_name)
                })
                .collect(),
            Val::Scalar(v) => {
                let samples = v
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Sample { t: inner.at(i), v })
                    .collect();
                vec![WindowSeries::new(
                    LabelSet::default(),
                    samples,
                    &times,
                    range,
                    false,
                )]
            }
            _ => return Err(exec_err("subquery is only allowed on instant vector")),
        };
        Ok((range, out))
    }

    fn aggregate(&mut self, a: &AggregateExpr, steps: Steps) -> Result<Val, QueryError> {
        let op = a.op.id();
        let param = match &a.param {
            Some(p) => Some(self.eval(p, steps)?),
            None => None,
        };
        let Val::Vector(input) = self.eval(&a.expr, steps)? else {
            return Err(exec_err("aggregation over a non-vector"));
        };
        crate::aggregate::aggregate(self, op, a.modifier.as_ref(), param, input, steps)
    }

    fn binary(&mut self, b: &BinaryExpr, steps: Steps) -> Result<Val, QueryError> {
        let lhs = self.eval(&b.lhs, steps)?;
        let rhs = self.eval(&b.rhs, steps)?;
        crate::binary::binary(b, lhs, rhs, steps)
    }
}

/// Merges series with the same labels (after `label_replace` or name removal), failing
/// when two have a value at the same step, as Prometheus does. The order of first
/// appearance is kept.
pub fn merge_same_labels(series: Vec<StepSeries>) -> Result<Vec<StepSeries>, QueryError> {
    let mut index: HashMap<LabelSet, usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    for s in series {
        match index.get(&s.labels) {
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
            Some(&i) => {
                let existing = &mut out[i];
                for (t, p) in s.points.into_iter().enumerate() {
                    if p.is_some() {
                        if existing.points[t].is_some() {
                            return Err(exec_err(
                                "vector cannot contain metrics with the same labelset",
                            ));
                        }
                        existing.points[t] = p;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The last step of an evaluation: the series marked to lose their metric name lose it,
/// and series that end up alike merge (or fail when they collide).
pub fn drop_marked_names(mut series: Vec<StepSeries>) -> Result<Vec<StepSeries>, QueryError> {
    let mut any = false;
    for s in &mut series {
        if s.drop_name {
            s.labels.remove(METRIC_NAME);
            s.drop_name = false;
            any = true;
        }
    }
    if !any {
        return Ok(series);
    }
    merge_same_labels(series)
}
