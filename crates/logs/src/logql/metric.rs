//! Metric queries: range functions over lines (`count_over_time`, `rate`, …) and over
//! `unwrap`ped values, evaluated at every step from one forward read of the range;
//! aggregations, `topk` / `bottomk`, and arithmetic between series and numbers.

use std::collections::HashMap;

use super::eval::{
    Budget, Direction, LogqlLimits, LogqlRequest, MetricSeries, QueryAnswer, too_much,
};
use super::{AggregateOp, BinaryOp, Grouping, Labels, LogExpr, MatchOp, MetricExpr, RangeFunc};
use crate::error::LogStoreError;
use crate::store::LogStore;

pub(super) struct Steps {
    start_ns: i64,
    step_ns: i64,
    count: usize,
}

impl Steps {
    pub(super) fn of(req: &LogqlRequest, limits: &LogqlLimits) -> Result<Steps, LogStoreError> {
        if req.instant {
            return Ok(Steps {
                start_ns: req.end_ns,
                step_ns: 1,
                count: 1,
            });
        }
        if req.step_ns <= 0 {
            return Err(LogStoreError::BadRequest(
                "zero or negative query resolution step widths are not accepted; use a positive step".into(),
            ));
        }
        let count = ((req.end_ns - req.start_ns) / req.step_ns) as u128 + 1;
        if count > limits.max_points as u128 {
            return Err(LogStoreError::BadRequest(format!(
                "exceeded maximum resolution of {} points per time series; try increasing the value of the step parameter",
                limits.max_points
            )));
        }
        Ok(Steps {
            start_ns: req.start_ns,
            step_ns: req.step_ns,
            count: count as usize,
        })
    }

    fn at(&self, i: usize) -> i64 {
        self.start_ns + self.step_ns * i as i64
    }

    pub(super) fn answer(
        &self,
        value: Value,
        instant: bool,
        limits: &LogqlLimits,
    ) -> Result<QueryAnswer, LogStoreError> {
        let series = match value {
            Value::Scalar(v) if instant => return Ok(QueryAnswer::Scalar(self.at(0), v[0])),
            Value::Scalar(v) => vec![Series {
                labels: Labels::new(),
                points: v.into_iter().enumerate().collect(),
            }],
            Value::Vector(s) => s,
        };
        if series.len() > limits.max_series {
            return Err(too_much(format!(
                "the query answers more than {} series; aggregate with sum by (…) or narrow the selector",
                limits.max_series
            )));
        }
        let mut out: Vec<MetricSeries> = series
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .map(|s| MetricSeries {
                labels: s.labels,
                points: s.points.into_iter().map(|(i, v)| (self.at(i), v)).collect(),
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(if instant {
            QueryAnswer::Vector(out)
        } else {
            QueryAnswer::Matrix(out)
        })
    }
}

/// Values of a series by step index, only the steps that have one, in step order.
#[derive(Debug, Clone)]
pub(super) struct Series {
    labels: Labels,
    points: Vec<(usize, f64)>,
}

pub(super) enum Value {
    /// One value per step.
    Scalar(Vec<f64>),
    Vector(Vec<Series>),
}

pub(super) struct Evaluator<'a, 'b> {
    pub store: &'a LogStore,
    pub steps: &'a Steps,
    pub budget: &'a mut Budget<'b>,
}

impl Evaluator<'_, '_> {
    /// `project`: the grouping of a `sum` right above a range aggregation, applied while
    /// counting so lines with many distinct labels never become series of their own.
    pub(super) fn eval(
        &mut self,
        e: &MetricExpr,
        project: Option<&Grouping>,
    ) -> Result<Value, LogStoreError> {
        match e {
            MetricExpr::Number(n) => Ok(Value::Scalar(vec![*n; self.steps.count])),
            MetricExpr::Vector(n) => Ok(Value::Vector(vec![Series {
                labels: Labels::new(),
                points: (0..self.steps.count).map(|i| (i, *n)).collect(),
            }])),
            MetricExpr::Range {
                func,
                log,
                range_ns,
                offset_ns,
                param,
                grouping,
            } => {
                let window = Window {
                    func: *func,
                    range_ns: *range_ns,
                    offset_ns: *offset_ns,
                    param: *param,
                };
                self.range(window, log, grouping.as_ref(), project)
            }
            MetricExpr::Aggregate {
                op,
                param,
                grouping,
                inner,
            } => {
                let push = match (op, inner.as_ref()) {
                    (AggregateOp::Sum, MetricExpr::Range { func, .. })
                        if *func != RangeFunc::AbsentOverTime && !func.over_values() =>
                    {
                        Some(grouping.clone().unwrap_or(Grouping {
                            without: false,
                            labels: Vec::new(),
                        }))
                    }
                    _ => None,
                };
                let v = self.eval(inner, push.as_ref())?;
                let Value::Vector(series) = v else {
                    return Err(LogStoreError::BadRequest(
                        "an aggregation needs a vector inside, not a number".into(),
                    ));
                };
                Ok(Value::Vector(aggregate(
                    *op,
                    *param,
                    grouping.as_ref(),
                    series,
                    self.steps.count,
                )))
            }
            MetricExpr::Binary { op, lhs, rhs } => {
                let l = self.eval(lhs, None)?;
                let r = self.eval(rhs, None)?;
                Ok(binary(*op, l, r))
            }
        }
    }

    fn range(
        &mut self,
        w: Window,
        log: &LogExpr,
        own_grouping: Option<&Grouping>,
        project: Option<&Grouping>,
    ) -> Result<Value, LogStoreError> {
        let Window {
            func,
            range_ns,
            offset_ns,
            param,
        } = w;
        let first = self.steps.at(0).saturating_sub(offset_ns);
        let last = self
            .steps
            .at(self.steps.count - 1)
            .saturating_sub(offset_ns);
        // Each step's window is (t - range, t].
        let scan_start = first.saturating_sub(range_ns).saturating_add(1);
        let scan_end = last.saturating_add(1);
        let max_series = self.budget.limits.max_series;
        let mut groups: HashMap<Labels, Vec<(i64, u64, f64)>> = HashMap::new();
        let values = func.over_values();
        let mut too_many = false;
        self.store.scan(
            log,
            scan_start,
            scan_end,
            Direction::Forward,
            self.budget,
            &mut |t, _, p| {
                let value = match (values, p.value) {
                    (true, None) => return true,
                    (_, v) => v.unwrap_or(0.0),
                };
                let mut labels = p.labels;
                if let Some(g) = own_grouping {
                    labels = group_labels(&labels, Some(g));
                }
                if let Some(g) = project {
                    labels = group_labels(&labels, Some(g));
                }
                let sample = (t, p.line.len() as u64, value);
                let n = groups.len();
                match groups.get_mut(&labels) {
                    Some(v) => v.push(sample),
                    None if n >= max_series => {
                        too_many = true;
                        return false;
                    }
                    None => {
                        groups.insert(labels, vec![sample]);
                    }
                }
                true
            },
        )?;
        if too_many {
            return Err(too_much(format!(
                "the range aggregation makes more than {max_series} series; aggregate with sum by (…) or narrow the selector"
            )));
        }
        let secs = range_ns as f64 / 1e9;
        if func == RangeFunc::AbsentOverTime {
            return Ok(Value::Vector(self.absent(log, groups, range_ns, offset_ns)));
        }
        let mut out = Vec::with_capacity(groups.len());
        let mut work = 0usize;
        for (labels, mut lines) in groups {
            lines.sort_unstable_by_key(|l| l.0);
            let mut points = Vec::new();
            let (mut lo, mut hi) = (0usize, 0usize);
            let mut bytes: u64 = 0;
            for i in 0..self.steps.count {
                let t = self.steps.at(i).saturating_sub(offset_ns);
                while hi < lines.len() && lines[hi].0 <= t {
                    bytes += lines[hi].1;
                    hi += 1;
                }
                while lo < hi && lines[lo].0 <= t.saturating_sub(range_ns) {
                    bytes -= lines[lo].1;
                    lo += 1;
                }
                let count = hi - lo;
                if count == 0 {
                    continue;
                }
                let v = match func {
                    RangeFunc::CountOverTime => count as f64,
                    RangeFunc::Rate => count as f64 / secs,
                    RangeFunc::BytesOverTime => bytes as f64,
                    RangeFunc::BytesRate => bytes as f64 / secs,
                    RangeFunc::AbsentOverTime => 1.0,
                    _ => {
                        work += count;
                        if work > MAX_WINDOW_WORK {
                            return Err(too_much(format!(
                                "the query visits more than {MAX_WINDOW_WORK} samples across its steps; use a larger step or a shorter range"
                            )));
                        }
                        over_values(func, param, &lines[lo..hi])
                    }
                };
                points.push((i, v));
            }
            out.push(Series { labels, points });
        }
        Ok(Value::Vector(out))
    }

    /// `absent_over_time`: 1 at the steps where no line was in the window, labelled with
    /// the selector's equality matchers, as in Loki.
    fn absent(
        &self,
        log: &LogExpr,
        groups: HashMap<Labels, Vec<(i64, u64, f64)>>,
        range_ns: i64,
        offset_ns: i64,
    ) -> Vec<Series> {
        let mut times: Vec<i64> = groups.values().flatten().map(|l| l.0).collect();
        times.sort_unstable();
        let mut points = Vec::new();
        for i in 0..self.steps.count {
            let t = self.steps.at(i).saturating_sub(offset_ns);
            let from = times.partition_point(|x| *x <= t.saturating_sub(range_ns));
            let to = times.partition_point(|x| *x <= t);
            if to == from {
                points.push((i, 1.0));
            }
        }
        let labels = log
            .selector
            .iter()
            .filter(|m| m.op == MatchOp::Eq)
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect();
        vec![Series { labels, points }]
    }
}

/// The samples a range function over values reads, summed over every step of a query
/// (a 1 h window at a 1 s step reads each sample 3,600 times).
const MAX_WINDOW_WORK: usize = 50_000_000;

#[derive(Clone, Copy)]
struct Window {
    func: RangeFunc,
    range_ns: i64,
    offset_ns: i64,
    param: Option<f64>,
}

/// A function over the unwrapped values of one window, oldest first.
fn over_values(func: RangeFunc, param: Option<f64>, window: &[(i64, u64, f64)]) -> f64 {
    let n = window.len() as f64;
    let values = window.iter().map(|s| s.2);
    let sum: f64 = values.clone().sum();
    let mean = sum / n;
    let var = values.clone().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    match func {
        RangeFunc::SumOverTime => sum,
        RangeFunc::AvgOverTime => mean,
        RangeFunc::MinOverTime => values.fold(f64::INFINITY, f64::min),
        RangeFunc::MaxOverTime => values.fold(f64::NEG_INFINITY, f64::max),
        RangeFunc::FirstOverTime => window[0].2,
        RangeFunc::LastOverTime => window[window.len() - 1].2,
        RangeFunc::StdvarOverTime => var,
        RangeFunc::StddevOverTime => var.sqrt(),
        RangeFunc::QuantileOverTime => {
            let q = param.unwrap_or(0.5);
            if q < 0.0 {
                return f64::NEG_INFINITY;
            }
            if q > 1.0 {
                return f64::INFINITY;
            }
            let mut sorted: Vec<f64> = values.collect();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            // Prometheus's quantile: linear between the two closest ranks.
            let rank = q * (n - 1.0);
            let lo = rank.floor() as usize;
            let hi = (lo + 1).min(sorted.len() - 1);
            let w = rank - rank.floor();
            sorted[lo] * (1.0 - w) + sorted[hi] * w
        }
        _ => n,
    }
}

fn group_labels(labels: &Labels, g: Option<&Grouping>) -> Labels {
    match g {
        None => Labels::new(),
        Some(g) if g.without => labels
            .iter()
            .filter(|(k, _)| !g.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(g) => labels
            .iter()
            .filter(|(k, _)| g.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn aggregate(
    op: AggregateOp,
    param: Option<f64>,
    grouping: Option<&Grouping>,
    series: Vec<Series>,
    steps: usize,
) -> Vec<Series> {
    if matches!(op, AggregateOp::Topk | AggregateOp::Bottomk) {
        return top(
            op == AggregateOp::Topk,
            param.unwrap_or(1.0) as usize,
            grouping,
            series,
            steps,
        );
    }
    // Group index per series, then per step fold the values of each group.
    let mut keys: Vec<Labels> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut member: Vec<usize> = Vec::with_capacity(series.len());
    for s in &series {
        let key = group_labels(&s.labels, grouping);
        let i = *index.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            keys.len() - 1
        });
        member.push(i);
    }
    // (count, sum, min, max, sum of squares) per group and step.
    let mut acc: Vec<HashMap<usize, [f64; 5]>> = vec![HashMap::new(); keys.len()];
    for (s, g) in series.iter().zip(&member) {
        for (i, v) in &s.points {
            let a = acc[*g]
                .entry(*i)
                .or_insert([0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, 0.0]);
            a[0] += 1.0;
            a[1] += v;
            a[2] = a[2].min(*v);
            a[3] = a[3].max(*v);
            a[4] += v * v;
        }
    }
    keys.into_iter()
        .zip(acc)
        .map(|(labels, steps_acc)| {
            let mut points: Vec<(usize, f64)> = steps_acc
                .into_iter()
                .map(|(i, a)| {
                    let mean = a[1] / a[0];
                    let var = (a[4] / a[0] - mean * mean).max(0.0);
                    let v = match op {
                        AggregateOp::Sum => a[1],
                        AggregateOp::Avg => mean,
                        AggregateOp::Min => a[2],
                        AggregateOp::Max => a[3],
                        AggregateOp::Count => a[0],
                        AggregateOp::Stdvar => var,
                        AggregateOp::Stddev => var.sqrt(),
                        AggregateOp::Topk | AggregateOp::Bottomk => a[1],
                    };
                    (i, v)
                })
                .collect();
            points.sort_unstable_by_key(|p| p.0);
            Series { labels, points }
        })
        .collect()
}

fn top(
    highest: bool,
    k: usize,
    grouping: Option<&Grouping>,
    series: Vec<Series>,
    steps: usize,
) -> Vec<Series> {
    let groups: Vec<Labels> = series
        .iter()
        .map(|s| group_labels(&s.labels, grouping))
        .collect();
    let mut kept: Vec<Vec<(usize, f64)>> = vec![Vec::new(); series.len()];
    let mut by_step: Vec<Vec<(usize, f64)>> = vec![Vec::new(); steps];
    for (si, s) in series.iter().enumerate() {
        for (i, v) in &s.points {
            by_step[*i].push((si, *v));
        }
    }
    for (i, mut members) in by_step.into_iter().enumerate() {
        members.sort_by(|a, b| {
            let o = a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal);
            if highest { o.reverse() } else { o }
        });
        let mut taken: HashMap<&Labels, usize> = HashMap::new();
        for (si, v) in members {
            let n = taken.entry(&groups[si]).or_insert(0);
            if *n < k {
                *n += 1;
                kept[si].push((i, v));
            }
        }
    }
    series
        .into_iter()
        .zip(kept)
        .map(|(s, points)| Series {
            labels: s.labels,
            points,
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// `a op b`; `None` when a comparison without `bool` drops the sample. A comparison
/// keeps `keep`, the value of the vector side (of the left one between two vectors).
fn apply(op: BinaryOp, a: f64, b: f64, keep: f64) -> Option<f64> {
    Some(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => a % b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Compare { op, bool_result } => {
            let holds = op.holds(a, b);
            match (bool_result, holds) {
                (true, h) => f64::from(u8::from(h)),
                (false, true) => keep,
                (false, false) => return None,
            }
        }
    })
}

/// Arithmetic and comparisons: number with number, a vector with a number (each point),
/// and vector with vector on identical label sets (one-to-one, as Prometheus matches
/// without `on`).
fn binary(op: BinaryOp, l: Value, r: Value) -> Value {
    match (l, r) {
        (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(
            a.iter()
                .zip(&b)
                .map(|(x, y)| {
                    let as_bool = match op {
                        BinaryOp::Compare { op, .. } => BinaryOp::Compare {
                            op,
                            bool_result: true,
                        },
                        other => other,
                    };
                    apply(as_bool, *x, *y, *x).unwrap_or(f64::NAN)
                })
                .collect(),
        ),
        (Value::Vector(v), Value::Scalar(s)) => Value::Vector(
            v.into_iter()
                .map(|mut series| {
                    series.points = series
                        .points
                        .iter()
                        .filter_map(|&(i, x)| apply(op, x, s[i], x).map(|v| (i, v)))
                        .collect();
                    series
                })
                .collect(),
        ),
        (Value::Scalar(s), Value::Vector(v)) => Value::Vector(
            v.into_iter()
                .map(|mut series| {
                    series.points = series
                        .points
                        .iter()
                        .filter_map(|&(i, x)| apply(op, s[i], x, x).map(|v| (i, v)))
                        .collect();
                    series
                })
                .collect(),
        ),
        (Value::Vector(a), Value::Vector(b)) => {
            let right: HashMap<&Labels, &Series> = b.iter().map(|s| (&s.labels, s)).collect();
            Value::Vector(
                a.iter()
                    .filter_map(|ls| {
                        let rs = right.get(&ls.labels)?;
                        let rp: HashMap<usize, f64> = rs.points.iter().copied().collect();
                        let points = ls
                            .points
                            .iter()
                            .filter_map(|&(i, x)| {
                                let y = rp.get(&i)?;
                                apply(op, x, *y, x).map(|v| (i, v))
                            })
                            .collect();
                        Some(Series {
                            labels: ls.labels.clone(),
                            points,
                        })
                    })
                    .collect(),
            )
        }
    }
}
