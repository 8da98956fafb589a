//! The evaluator: walks `promql-parser`'s tree once for the whole query, every node
//! producing its value at every step (Prometheus's range evaluation; an instant query is a
//! range of one step). Selectors with lookback and staleness, `offset` and `@`,
//! subqueries, binary operators with vector matching, and aggregations live here;
//! functions are in `functions.rs`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pharos_model::series::{
    LabelMatcher, LabelSet, METRIC_NAME, MatchOp, Sample, SeriesSamples, SeriesSource,
    is_stale_marker,
};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::token::{self, TokenType};
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Expr, LabelModifier, MatrixSelector, Offset,
    SubqueryExpr, VectorMatchCardinality, VectorSelector,
};

use crate::value::{StepSeries, Steps, Val};
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
    pub deadline: Instant,
    pub samples_loaded: usize,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// Set by `sort` and friends: the result's order is meaningful.
    pub ordered: bool,
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

impl Evaluator<'_> {
    fn check(&mut self, more: usize) -> Result<(), QueryError> {
        self.samples_loaded += more;
        if self.samples_loaded > self.opts.max_samples {
            return Err(exec_err(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        if Instant::now() > self.deadline {
            return Err(QueryError {
                kind: ErrorType::Timeout,
                message: "query timed out in query execution".into(),
                position: None,
            });
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
        let r = self
            .src
            .select(&matchers, mint, maxt)
            .map_err(|e| exec_err(e.to_string()))?;
        let n: usize = r.iter().map(|s| s.samples.len()).sum();
        self.check(n)?;
        Ok(r)
    }

    pub fn eval(&mut self, expr: &Expr, steps: Steps) -> Result<Val, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; steps.len()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, steps),
            Expr::Unary(u) => match self.eval(&u.expr, steps)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(vs) => Ok(Val::Vector(
                    vs.into_iter()
                        .map(|s| StepSeries {
                            labels: s.labels.without_metric_name(),
                            points: s.points.into_iter().map(|p| p.map(|x| -x)).collect(),
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
                Ok(Val::Matrix(
                    windows
                        .into_iter()
                        .map(|(labels, mut w)| SeriesSamples {
                            labels,
                            samples: w.pop().unwrap_or_default(),
                        })
                        .filter(|s| !s.samples.is_empty())
                        .collect(),
                ))
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
                out.push(StepSeries {
                    labels: s.labels,
                    points,
                });
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
    ) -> Result<Vec<(LabelSet, Vec<Vec<Sample>>)>, QueryError> {
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
            let windows = times
                .iter()
                .map(|&t| {
                    let a = samples.partition_point(|x| x.t <= t - range);
                    let b = samples.partition_point(|x| x.t <= t);
                    samples[a..b].to_vec()
                })
                .collect();
            out.push((s.labels, windows));
        }
        Ok(out)
    }

    /// Evaluates a subquery; per series, its points in `(t - range, t]` at each outer step.
    pub fn subquery(
        &mut self,
        sq: &SubqueryExpr,
        steps: Steps,
    ) -> Result<(i64, Vec<(LabelSet, Vec<Vec<Sample>>)>), QueryError> {
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
        let series: Vec<(LabelSet, Vec<Sample>)> = match val? {
            Val::Vector(vs) => vs
                .into_iter()
                .map(|s| {
                    let samples = s
                        .points
                        .iter()
                        .enumerate()
                        .filter_map(|(i, p)| p.map(|v| Sample { t: inner.at(i), v }))
                        .collect();
                    (s.labels, samples)
                })
                .collect(),
            Val::Scalar(v) => vec![(
                LabelSet::default(),
                v.iter()
                    .enumerate()
                    .map(|(i, &v)| Sample { t: inner.at(i), v })
                    .collect(),
            )],
            _ => return Err(exec_err("subquery is only allowed on instant vector")),
        };
        let out = series
            .into_iter()
            .map(|(labels, samples)| {
                let windows = times
                    .iter()
                    .map(|&t| {
                        let a = samples.partition_point(|x| x.t <= t - range);
                        let b = samples.partition_point(|x| x.t <= t);
                        samples[a..b].to_vec()
                    })
                    .collect();
                (labels, windows)
            })
            .collect();
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
        let op = b.op;
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let v = l
                    .iter()
                    .zip(&r)
                    .map(|(&x, &y)| {
                        let (v, keep) = scalar_op(op, x, y);
                        if op.is_comparison_operator() {
                            if keep { 1.0 } else { 0.0 }
                        } else {
                            v
                        }
                    })
                    .collect();
                Ok(Val::Scalar(v))
            }
            (Val::Vector(l), Val::Scalar(r)) => {
                Ok(Val::Vector(vector_scalar(op, l, &r, false, return_bool)))
            }
            (Val::Scalar(l), Val::Vector(r)) => {
                Ok(Val::Vector(vector_scalar(op, r, &l, true, return_bool)))
            }
            (Val::Vector(l), Val::Vector(r)) => self.vector_vector(b, l, r, steps).map(Val::Vector),
            _ => Err(exec_err("binary operation on unsupported values")),
        }
    }

    fn vector_vector(
        &mut self,
        b: &BinaryExpr,
        lhs: Vec<StepSeries>,
        rhs: Vec<StepSeries>,
        steps: Steps,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let op = b.op;
        let modifier = b.modifier.as_ref();
        let matching = modifier.and_then(|m| m.matching.as_ref());
        let card = modifier
            .map(|m| m.card.clone())
            .unwrap_or(VectorMatchCardinality::OneToOne);
        let return_bool = modifier.is_some_and(|m| m.return_bool);
        let key = |l: &LabelSet| signature(l, matching);
        let n = steps.len();
        match op.id() {
            token::T_LAND | token::T_LUNLESS => {
                // Per step: which signatures the right side has.
                let mut present: HashMap<Vec<(String, String)>, Vec<bool>> = HashMap::new();
                for r in &rhs {
                    let e = present
                        .entry(key(&r.labels))
                        .or_insert_with(|| vec![false; n]);
                    for (i, p) in r.points.iter().enumerate() {
                        e[i] |= p.is_some();
                    }
                }
                let and = op.id() == token::T_LAND;
                Ok(lhs
                    .into_iter()
                    .filter_map(|mut l| {
                        let p = present.get(&key(&l.labels));
                        for i in 0..n {
                            let has = p.is_some_and(|p| p[i]);
                            if has != and {
                                l.points[i] = None;
                            }
                        }
                        l.points.iter().any(Option::is_some).then_some(l)
                    })
                    .collect())
            }
            token::T_LOR => {
                let mut present: HashMap<Vec<(String, String)>, Vec<bool>> = HashMap::new();
                for l in &lhs {
                    let e = present
                        .entry(key(&l.labels))
                        .or_insert_with(|| vec![false; n]);
                    for (i, p) in l.points.iter().enumerate() {
                        e[i] |= p.is_some();
                    }
                }
                let mut out = lhs;
                for mut r in rhs {
                    if let Some(p) = present.get(&key(&r.labels)) {
                        for i in 0..n {
                            if p[i] {
                                r.points[i] = None;
                            }
                        }
                    }
                    if r.points.iter().any(Option::is_some) {
                        out.push(r);
                    }
                }
                Ok(out)
            }
            _ => {
                let (one_side_is_left, include) = match &card {
                    VectorMatchCardinality::OneToMany(l) => (true, l.labels.clone()),
                    VectorMatchCardinality::ManyToOne(l) => (false, l.labels.clone()),
                    _ => (false, Vec::new()),
                };
                let one_to_one = matches!(
                    card,
                    VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany
                );
                // "one" side indexed by signature; per step at most one series may match.
                let (many, one) = if one_side_is_left {
                    (rhs, lhs)
                } else {
                    (lhs, rhs)
                };
                let mut one_by_sig: HashMap<Vec<(String, String)>, Vec<usize>> = HashMap::new();
                for (i, s) in one.iter().enumerate() {
                    one_by_sig.entry(key(&s.labels)).or_default().push(i);
                }
                // Duplicate series on the "one" side at the same step is an error.
                for idxs in one_by_sig.values() {
                    if idxs.len() > 1 {
                        for t in 0..n {
                            if idxs.iter().filter(|&&i| one[i].points[t].is_some()).count() > 1 {
                                let side = if one_side_is_left { "left" } else { "right" };
                                return Err(exec_err(format!(
                                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                                    sig_display(&key(&one[idxs[0]].labels)),
                                    one[idxs[0]].labels,
                                    one[idxs[1]].labels
                                )));
                            }
                        }
                    }
                }
                let mut out: BTreeMap<LabelSet, Vec<Option<f64>>> = BTreeMap::new();
                let mut many_seen: HashMap<Vec<(String, String)>, Vec<bool>> = HashMap::new();
                for m in &many {
                    let sig = key(&m.labels);
                    let Some(cands) = one_by_sig.get(&sig) else {
                        continue;
                    };
                    let seen = many_seen
                        .entry(sig.clone())
                        .or_insert_with(|| vec![false; n]);
                    for t in 0..n {
                        let Some(mv) = m.points[t] else { continue };
                        let Some(&oi) = cands.iter().find(|&&i| one[i].points[t].is_some()) else {
                            continue;
                        };
                        let ov = one[oi].points[t].expect("checked");
                        if one_to_one {
                            if seen[t] {
                                return Err(exec_err(format!(
                                    "found duplicate series for the match group {} on the left hand-side of the operation: {};many-to-many matching not allowed: matching labels must be unique on one side",
                                    sig_display(&sig),
                                    m.labels
                                )));
                            }
                            seen[t] = true;
                        }
                        let (l, r) = if one_side_is_left { (ov, mv) } else { (mv, ov) };
                        let (v, keep) = scalar_op(op, l, r);
                        let value = if op.is_comparison_operator() {
                            if return_bool {
                                Some(if keep { 1.0 } else { 0.0 })
                            } else if keep {
                                Some(if one_side_is_left { r } else { l })
                            } else {
                                None
                            }
                        } else {
                            Some(v)
                        };
                        let Some(value) = value else { continue };
                        let labels = result_labels(
                            &m.labels,
                            &one[oi].labels,
                            op,
                            return_bool,
                            matching,
                            one_to_one,
                            &include,
                        );
                        let entry = out.entry(labels.clone()).or_insert_with(|| vec![None; n]);
                        if entry[t].is_some() {
                            return Err(exec_err(format!(
                                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right); conflicting result {labels}"
                            )));
                        }
                        entry[t] = Some(value);
                    }
                }
                Ok(out
                    .into_iter()
                    .map(|(labels, points)| StepSeries { labels, points })
                    .collect())
            }
        }
    }
}

/// The labels a vector match compares (`on` / `ignoring`; by default all but the name).
pub fn signature(l: &LabelSet, matching: Option<&LabelModifier>) -> Vec<(String, String)> {
    match matching {
        Some(LabelModifier::Include(names)) => {
            let mut v: Vec<(String, String)> = names
                .labels
                .iter()
                .filter_map(|n| l.get(n).map(|v| (n.clone(), v.to_string())))
                .collect();
            v.sort();
            v.dedup();
            v
        }
        Some(LabelModifier::Exclude(names)) => l
            .iter()
            .filter(|x| x.name != METRIC_NAME && !names.labels.contains(&x.name))
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect(),
        None => l
            .iter()
            .filter(|x| x.name != METRIC_NAME)
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect(),
    }
}

fn sig_display(sig: &[(String, String)]) -> String {
    let inner: Vec<String> = sig.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn result_labels(
    many: &LabelSet,
    one: &LabelSet,
    op: TokenType,
    return_bool: bool,
    matching: Option<&LabelModifier>,
    one_to_one: bool,
    include: &[String],
) -> LabelSet {
    let mut l = many.clone();
    if should_drop_name(op, return_bool) {
        l.remove(METRIC_NAME);
    }
    if one_to_one {
        if let Some(LabelModifier::Include(on)) = matching {
            let keep: Vec<(String, String)> = l
                .iter()
                .filter(|x| on.labels.contains(&x.name))
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect();
            l = LabelSet::new(keep);
        } else if let Some(LabelModifier::Exclude(ign)) = matching {
            for n in &ign.labels {
                l.remove(n);
            }
        }
    }
    for name in include {
        match one.get(name) {
            Some(v) => l.set(name, v),
            None => l.remove(name),
        }
    }
    l
}

pub fn should_drop_name(op: TokenType, return_bool: bool) -> bool {
    !op.is_comparison_operator() || return_bool
}

/// Applies an arithmetic or comparison operator: (value, comparison result).
pub fn scalar_op(op: TokenType, l: f64, r: f64) -> (f64, bool) {
    match op.id() {
        token::T_ADD => (l + r, true),
        token::T_SUB => (l - r, true),
        token::T_MUL => (l * r, true),
        token::T_DIV => (l / r, true),
        token::T_MOD => (l % r, true),
        token::T_POW => (l.powf(r), true),
        token::T_ATAN2 => (l.atan2(r), true),
        token::T_EQLC => (l, l == r),
        token::T_NEQ => (l, l != r),
        token::T_GTR => (l, l > r),
        token::T_LSS => (l, l < r),
        token::T_GTE => (l, l >= r),
        token::T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

fn vector_scalar(
    op: TokenType,
    vs: Vec<StepSeries>,
    scalar: &[f64],
    scalar_left: bool,
    return_bool: bool,
) -> Vec<StepSeries> {
    let drop_name = should_drop_name(op, return_bool);
    vs.into_iter()
        .filter_map(|mut s| {
            for (i, p) in s.points.iter_mut().enumerate() {
                if let Some(v) = *p {
                    let (l, r) = if scalar_left {
                        (scalar[i], v)
                    } else {
                        (v, scalar[i])
                    };
                    let (res, keep) = scalar_op(op, l, r);
                    *p = if op.is_comparison_operator() {
                        if return_bool {
                            Some(if keep { 1.0 } else { 0.0 })
                        } else if keep {
                            Some(v)
                        } else {
                            None
                        }
                    } else {
                        Some(res)
                    };
                }
            }
            if drop_name {
                s.labels.remove(METRIC_NAME);
            }
            s.points.iter().any(Option::is_some).then_some(s)
        })
        .collect()
}

/// Merges series that ended up with the same labels (after a function dropped the name),
/// failing when two have a value at the same step, as Prometheus does.
pub fn merge_same_labels(series: Vec<StepSeries>) -> Result<Vec<StepSeries>, QueryError> {
    let mut out: BTreeMap<LabelSet, Vec<Option<f64>>> = BTreeMap::new();
    for s in series {
        match out.get_mut(&s.labels) {
            None => {
                out.insert(s.labels, s.points);
            }
            Some(existing) => {
                for (i, p) in s.points.into_iter().enumerate() {
                    if p.is_some() {
                        if existing[i].is_some() {
                            return Err(exec_err(
                                "vector cannot contain metrics with the same labelset",
                            ));
                        }
                        existing[i] = p;
                    }
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|(labels, points)| StepSeries { labels, points })
        .collect())
}
