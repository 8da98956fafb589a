//! PromQL functions: range functions over windows of samples (`rate` with Prometheus's
//! extrapolation, `*_over_time`, `deriv`, …), element-wise math, label manipulation,
//! `histogram_quantile` over classic buckets, time and date functions.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use pharos_model::series::{LabelMatcher, LabelSet, METRIC_NAME, MatchOp, Sample, is_stale_marker};
use promql_parser::parser::{Call, Expr};

use crate::QueryError;
use crate::eval::{Evaluator, exec_err, merge_same_labels};
use crate::value::{StepSeries, Steps, Val};

/// Kahan-Babuška summation step, as Prometheus's `kahanSumInc`.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus's `quantile` (linear interpolation between closest ranks).
pub fn quantile(q: f64, mut vals: Vec<f64>) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = (rank.floor() as usize + 1).min(vals.len() - 1);
    let weight = rank - rank.floor();
    vals[lower] * (1.0 - weight) + vals[upper] * weight
}

fn linear_regression(samples: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].v;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `rate`, `increase`, `delta` with Prometheus's extrapolation to the window's edges.
fn extrapolated(
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    range_secs: f64,
    counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.v - first.v;
    if counter {
        let mut prev = 0.0;
        for s in samples {
            if s.v < prev {
                result += prev;
            }
            prev = s.v;
        }
    }
    let mut to_start = (first.t - range_start) as f64 / 1e3;
    let mut to_end = (range_end - last.t) as f64 / 1e3;
    let sampled = (last.t - first.t) as f64 / 1e3;
    let avg_step = sampled / (samples.len() - 1) as f64;
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range_secs;
    }
    Some(result * factor)
}

struct Windows {
    series: Vec<(LabelSet, Vec<Vec<Sample>>)>,
    /// Per step, the window's end (after `@` and `offset`).
    ends: Vec<i64>,
    range_ms: i64,
}

fn windows(ev: &mut Evaluator<'_>, arg: &Expr, steps: Steps) -> Result<Windows, QueryError> {
    match arg {
        Expr::MatrixSelector(ms) => {
            let ends = steps
                .iter()
                .map(|t| ev.ref_time(t, &ms.vs.at, &ms.vs.offset))
                .collect();
            let series = ev.matrix_windows(ms, steps)?;
            Ok(Windows {
                series,
                ends,
                range_ms: ms.range.as_millis() as i64,
            })
        }
        Expr::Subquery(sq) => {
            let ends = steps
                .iter()
                .map(|t| ev.ref_time(t, &sq.at, &sq.offset))
                .collect();
            let (range_ms, series) = ev.subquery(sq, steps)?;
            Ok(Windows {
                series,
                ends,
                range_ms,
            })
        }
        Expr::Paren(p) => windows(ev, &p.expr, steps),
        _ => Err(exec_err("expected a range vector argument")),
    }
}

fn range_fn(
    ev: &mut Evaluator<'_>,
    arg: &Expr,
    steps: Steps,
    keep_name: bool,
    f: impl Fn(&[Sample], i64, i64) -> Option<f64>,
) -> Result<Val, QueryError> {
    let w = windows(ev, arg, steps)?;
    let mut out = Vec::new();
    for (mut labels, wins) in w.series {
        let points: Vec<Option<f64>> = wins
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.is_empty() {
                    None
                } else {
                    f(s, w.ends[i], w.range_ms)
                }
            })
            .collect();
        if points.iter().any(Option::is_some) {
            if !keep_name {
                labels.remove(METRIC_NAME);
            }
            out.push(StepSeries { labels, points });
        }
    }
    merge_same_labels(out).map(Val::Vector)
}

fn scalar_arg(ev: &mut Evaluator<'_>, e: &Expr, steps: Steps) -> Result<Vec<f64>, QueryError> {
    match ev.eval(e, steps)? {
        Val::Scalar(v) => Ok(v),
        _ => Err(exec_err("expected a scalar argument")),
    }
}

fn string_arg(e: &Expr) -> Result<String, QueryError> {
    match e {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        Expr::Paren(p) => string_arg(&p.expr),
        _ => Err(exec_err("expected a string argument")),
    }
}

fn vector_arg(
    ev: &mut Evaluator<'_>,
    e: &Expr,
    steps: Steps,
) -> Result<Vec<StepSeries>, QueryError> {
    match ev.eval(e, steps)? {
        Val::Vector(v) => Ok(v),
        _ => Err(exec_err("expected an instant vector argument")),
    }
}

fn map_vector(v: Vec<StepSeries>, f: impl Fn(f64, usize) -> f64) -> Result<Val, QueryError> {
    let out = v
        .into_iter()
        .map(|mut s| {
            s.labels.remove(METRIC_NAME);
            for (i, p) in s.points.iter_mut().enumerate() {
                *p = p.map(|x| f(x, i));
            }
            s
        })
        .collect();
    merge_same_labels(out).map(Val::Vector)
}

fn over_time_avg(s: &[Sample]) -> f64 {
    crate::aggregate::avg(&s.iter().map(|x| x.v).collect::<Vec<_>>())
}

pub fn call(ev: &mut Evaluator<'_>, c: &Call, steps: Steps) -> Result<Val, QueryError> {
    let args = &c.args.args;
    let name = c.func.name;
    let arg = |i: usize| -> Result<&Expr, QueryError> {
        args.get(i)
            .map(|b| b.as_ref())
            .ok_or_else(|| exec_err(format!("{name}: missing argument")))
    };
    match name {
        "rate" | "increase" | "delta" => {
            let counter = name != "delta";
            let is_rate = name == "rate";
            range_fn(ev, arg(0)?, steps, false, |s, end, range| {
                extrapolated(s, end - range, end, range as f64 / 1e3, counter, is_rate)
            })
        }
        "irate" | "idelta" => {
            let is_rate = name == "irate";
            range_fn(ev, arg(0)?, steps, false, |s, _, _| {
                if s.len() < 2 {
                    return None;
                }
                let (a, b) = (s[s.len() - 2], s[s.len() - 1]);
                let mut d = b.v - a.v;
                if is_rate && b.v < a.v {
                    d = b.v;
                }
                if !is_rate {
                    return Some(d);
                }
                let secs = (b.t - a.t) as f64 / 1e3;
                (secs != 0.0).then_some(d / secs)
            })
        }
        "deriv" => range_fn(ev, arg(0)?, steps, false, |s, _, _| {
            (s.len() >= 2).then(|| linear_regression(s, s[0].t).0)
        }),
        "predict_linear" => {
            let secs = scalar_arg(ev, arg(1)?, steps)?;
            let w = windows(ev, arg(0)?, steps)?;
            let mut out = Vec::new();
            for (mut labels, wins) in w.series {
                let points: Vec<Option<f64>> = wins
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        (s.len() >= 2).then(|| {
                            let (slope, intercept) = linear_regression(s, w.ends[i]);
                            slope * secs[i] + intercept
                        })
                    })
                    .collect();
                if points.iter().any(Option::is_some) {
                    labels.remove(METRIC_NAME);
                    out.push(StepSeries { labels, points });
                }
            }
            merge_same_labels(out).map(Val::Vector)
        }
        "avg_over_time" => range_fn(ev, arg(0)?, steps, false, |s, _, _| Some(over_time_avg(s))),
        "sum_over_time" => range_fn(ev, arg(0)?, steps, false, |s, _, _| {
            let (mut a, mut c) = (0.0, 0.0);
            for x in s {
                (a, c) = kahan_inc(x.v, a, c);
            }
            Some(a + c)
        }),
        "count_over_time" => range_fn(ev, arg(0)?, steps, false, |s, _, _| Some(s.len() as f64)),
        "min_over_time" => range_fn(ev, arg(0)?, steps, false, |s, _, _| {
            Some(
                s.iter()
                    .map(|x| x.v)
                    .fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m }),
            )
        }),
        "max_over_time" => range_fn(ev, arg(0)?, steps, false, |s, _, _| {
            Some(
                s.iter()
                    .map(|x| x.v)
                    .fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m }),
            )
        }),
        "last_over_time" => range_fn(ev, arg(0)?, steps, true, |s, _, _| s.last().map(|x| x.v)),
        "present_over_time" => range_fn(ev, arg(0)?, steps, false, |_, _, _| Some(1.0)),
        "stddev_over_time" | "stdvar_over_time" => {
            let sd = name == "stddev_over_time";
            range_fn(ev, arg(0)?, steps, false, move |s, _, _| {
                let var = crate::aggregate::variance(&s.iter().map(|x| x.v).collect::<Vec<_>>());
                Some(if sd { var.sqrt() } else { var })
            })
        }
        "quantile_over_time" => {
            let q = scalar_arg(ev, arg(0)?, steps)?;
            let w = windows(ev, arg(1)?, steps)?;
            let mut out = Vec::new();
            for (mut labels, wins) in w.series {
                let points: Vec<Option<f64>> = wins
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        (!s.is_empty()).then(|| quantile(q[i], s.iter().map(|x| x.v).collect()))
                    })
                    .collect();
                if points.iter().any(Option::is_some) {
                    labels.remove(METRIC_NAME);
                    out.push(StepSeries { labels, points });
                }
            }
            merge_same_labels(out).map(Val::Vector)
        }
        "changes" | "resets" => {
            let resets = name == "resets";
            range_fn(ev, arg(0)?, steps, false, move |s, _, _| {
                let n = s
                    .windows(2)
                    .filter(|w| {
                        if resets {
                            w[1].v < w[0].v
                        } else {
                            w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan())
                        }
                    })
                    .count();
                Some(n as f64)
            })
        }
        "absent_over_time" => {
            let labels = absent_labels(arg(0)?);
            let w = windows(ev, arg(0)?, steps)?;
            let n = steps.len();
            let points: Vec<Option<f64>> = (0..n)
                .map(|i| (!w.series.iter().any(|(_, wins)| !wins[i].is_empty())).then_some(1.0))
                .collect();
            Ok(Val::Vector(if points.iter().any(Option::is_some) {
                vec![StepSeries { labels, points }]
            } else {
                vec![]
            }))
        }
        "absent" => {
            let labels = absent_labels(arg(0)?);
            let v = vector_arg(ev, arg(0)?, steps)?;
            let points: Vec<Option<f64>> = (0..steps.len())
                .map(|i| (!v.iter().any(|s| s.points[i].is_some())).then_some(1.0))
                .collect();
            Ok(Val::Vector(if points.iter().any(Option::is_some) {
                vec![StepSeries { labels, points }]
            } else {
                vec![]
            }))
        }
        "abs" | "ceil" | "floor" | "exp" | "ln" | "log2" | "log10" | "sqrt" | "sgn" | "sin"
        | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh"
        | "acosh" | "atanh" | "deg" | "rad" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "exp" => f64::exp,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                "sqrt" => f64::sqrt,
                "sgn" => |x: f64| {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x
                    }
                },
                "sin" => f64::sin,
                "cos" => f64::cos,
                "tan" => f64::tan,
                "asin" => f64::asin,
                "acos" => f64::acos,
                "atan" => f64::atan,
                "sinh" => f64::sinh,
                "cosh" => f64::cosh,
                "tanh" => f64::tanh,
                "asinh" => f64::asinh,
                "acosh" => f64::acosh,
                "atanh" => f64::atanh,
                "deg" => f64::to_degrees,
                _ => f64::to_radians,
            };
            let v = vector_arg(ev, arg(0)?, steps)?;
            map_vector(v, |x, _| f(x))
        }
        "round" => {
            let to = match args.get(1) {
                Some(e) => scalar_arg(ev, e, steps)?,
                None => vec![1.0; steps.len()],
            };
            let v = vector_arg(ev, arg(0)?, steps)?;
            // Prometheus rounds half up: floor(x * inverse + 0.5) / inverse.
            map_vector(v, |x, i| {
                let inv = 1.0 / to[i];
                (x * inv + 0.5).floor() / inv
            })
        }
        "clamp" => {
            let lo = scalar_arg(ev, arg(1)?, steps)?;
            let hi = scalar_arg(ev, arg(2)?, steps)?;
            let v = vector_arg(ev, arg(0)?, steps)?;
            let out: Vec<StepSeries> = v
                .into_iter()
                .filter_map(|mut s| {
                    s.labels.remove(METRIC_NAME);
                    for (i, p) in s.points.iter_mut().enumerate() {
                        if lo[i] > hi[i] {
                            *p = None;
                        } else {
                            *p = p.map(|x| x.max(lo[i]).min(hi[i]));
                        }
                    }
                    s.points.iter().any(Option::is_some).then_some(s)
                })
                .collect();
            merge_same_labels(out).map(Val::Vector)
        }
        "clamp_min" | "clamp_max" => {
            let bound = scalar_arg(ev, arg(1)?, steps)?;
            let v = vector_arg(ev, arg(0)?, steps)?;
            let min = name == "clamp_min";
            map_vector(v, |x, i| {
                if min {
                    x.max(bound[i])
                } else {
                    x.min(bound[i])
                }
            })
        }
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; steps.len()])),
        "time" => Ok(Val::Scalar(steps.iter().map(|t| t as f64 / 1e3).collect())),
        "vector" => {
            let v = scalar_arg(ev, arg(0)?, steps)?;
            Ok(Val::Vector(vec![StepSeries {
                labels: LabelSet::default(),
                points: v.into_iter().map(Some).collect(),
            }]))
        }
        "scalar" => {
            let v = vector_arg(ev, arg(0)?, steps)?;
            Ok(Val::Scalar(
                (0..steps.len())
                    .map(|i| {
                        let mut vals = v.iter().filter_map(|s| s.points[i]);
                        match (vals.next(), vals.next()) {
                            (Some(x), None) => x,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ))
        }
        "timestamp" => timestamp(ev, arg(0)?, steps),
        "sort" | "sort_desc" => {
            let mut v = vector_arg(ev, arg(0)?, steps)?;
            let desc = name == "sort_desc";
            // NaN last in both directions, as Prometheus.
            v.sort_by(|a, b| {
                let (x, y) = (
                    a.points[0].unwrap_or(f64::NAN),
                    b.points[0].unwrap_or(f64::NAN),
                );
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if desc => y.partial_cmp(&x).unwrap(),
                    _ => x.partial_cmp(&y).unwrap(),
                }
            });
            ev.ordered = true;
            Ok(Val::Vector(v))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = vector_arg(ev, arg(0)?, steps)?;
            let names: Vec<String> = args[1..]
                .iter()
                .map(|e| string_arg(e))
                .collect::<Result<_, _>>()?;
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                let key = |s: &StepSeries| {
                    names
                        .iter()
                        .map(|n| s.labels.get(n).unwrap_or("").to_string())
                        .collect::<Vec<_>>()
                };
                let o = key(a).cmp(&key(b)).then_with(|| a.labels.cmp(&b.labels));
                if desc { o.reverse() } else { o }
            });
            ev.ordered = true;
            Ok(Val::Vector(v))
        }
        "label_replace" => {
            let v = vector_arg(ev, arg(0)?, steps)?;
            let dst = string_arg(arg(1)?)?;
            let repl = string_arg(arg(2)?)?;
            let src = string_arg(arg(3)?)?;
            let re_src = string_arg(arg(4)?)?;
            let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|e| {
                exec_err(format!(
                    "invalid regular expression in label_replace(): {re_src}: {e}"
                ))
            })?;
            if !valid_label_name(&dst) {
                return Err(exec_err(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let out = v
                .into_iter()
                .map(|mut s| {
                    let value = s.labels.get(&src).unwrap_or("").to_string();
                    if let Some(caps) = re.captures(&value) {
                        let mut res = String::new();
                        caps.expand(&repl, &mut res);
                        s.labels.set(&dst, res);
                    }
                    s
                })
                .collect();
            merge_same_labels(out).map(Val::Vector)
        }
        "label_join" => {
            let v = vector_arg(ev, arg(0)?, steps)?;
            let dst = string_arg(arg(1)?)?;
            let sep = string_arg(arg(2)?)?;
            let srcs: Vec<String> = args[3..]
                .iter()
                .map(|e| string_arg(e))
                .collect::<Result<_, _>>()?;
            if !valid_label_name(&dst) {
                return Err(exec_err(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let out = v
                .into_iter()
                .map(|mut s| {
                    let joined = srcs
                        .iter()
                        .map(|n| s.labels.get(n).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(&sep);
                    s.labels.set(&dst, joined);
                    s
                })
                .collect();
            merge_same_labels(out).map(Val::Vector)
        }
        "histogram_quantile" => histogram_quantile(ev, arg(0)?, arg(1)?, steps),
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let v = match args.first() {
                Some(e) => vector_arg(ev, e, steps)?,
                None => vec![StepSeries {
                    labels: LabelSet::default(),
                    points: steps.iter().map(|t| Some(t as f64 / 1e3)).collect(),
                }],
            };
            map_vector(v, |x, _| date_part(name, x))
        }
        other => Err(exec_err(format!(
            "function {other}() is not supported by Pharos yet"
        ))),
    }
}

fn valid_label_name(s: &str) -> bool {
    !s.is_empty()
}

fn date_part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let Some(d) = DateTime::<Utc>::from_timestamp(secs.floor() as i64, 0) else {
        return f64::NAN;
    };
    (match name {
        "day_of_month" => d.day(),
        "day_of_week" => d.weekday().num_days_from_sunday(),
        "day_of_year" => d.ordinal(),
        "days_in_month" => {
            let (y, m) = (d.year(), d.month());
            let next = if m == 12 {
                chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
            };
            next.and_then(|n| n.pred_opt())
                .map(|p| p.day())
                .unwrap_or(0)
        }
        "hour" => d.hour(),
        "minute" => d.minute(),
        "month" => d.month(),
        _ => d.year() as u32,
    }) as f64
}

/// The labels `absent()` reports: the selector's equality matchers.
fn absent_labels(e: &Expr) -> LabelSet {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return LabelSet::default(),
    };
    let Ok(ms) = crate::eval::to_matchers(vs) else {
        return LabelSet::default();
    };
    let mut pairs: BTreeMap<String, Option<String>> = BTreeMap::new();
    for m in ms.iter().filter(|m: &&LabelMatcher| m.name != METRIC_NAME) {
        // A label matched twice with `=` is ambiguous: Prometheus leaves it out.
        let v = (m.op == MatchOp::Equal).then(|| m.value.clone());
        pairs
            .entry(m.name.clone())
            .and_modify(|e| *e = None)
            .or_insert(v);
    }
    LabelSet::new(pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))))
}

fn timestamp(ev: &mut Evaluator<'_>, e: &Expr, steps: Steps) -> Result<Val, QueryError> {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::Paren(p) => return timestamp(ev, &p.expr, steps),
        other => {
            let v = vector_arg(ev, other, steps)?;
            return map_vector(v, |_, i| steps.at(i) as f64 / 1e3);
        }
    };
    let lookback = ev.opts.lookback_delta_ms;
    let times: Vec<i64> = steps
        .iter()
        .map(|t| ev.ref_time(t, &vs.at, &vs.offset))
        .collect();
    let (lo, hi) = (
        times.iter().copied().min().unwrap_or(0),
        times.iter().copied().max().unwrap_or(0),
    );
    let matchers = crate::eval::to_matchers(vs)?;
    let series = ev
        .src
        .select(&matchers, lo - lookback + 1, hi)
        .map_err(|e| exec_err(e.to_string()))?;
    let mut out = Vec::new();
    for mut s in series {
        let points: Vec<Option<f64>> = times
            .iter()
            .map(|&t| {
                let i = s.samples.partition_point(|x| x.t <= t);
                (i > 0)
                    .then(|| s.samples[i - 1])
                    .filter(|x| x.t > t - lookback && !is_stale_marker(x.v))
                    .map(|x| x.t as f64 / 1e3)
            })
            .collect();
        if points.iter().any(Option::is_some) {
            s.labels.remove(METRIC_NAME);
            out.push(StepSeries {
                labels: s.labels,
                points,
            });
        }
    }
    merge_same_labels(out).map(Val::Vector)
}

fn histogram_quantile(
    ev: &mut Evaluator<'_>,
    q: &Expr,
    v: &Expr,
    steps: Steps,
) -> Result<Val, QueryError> {
    let q = scalar_arg(ev, q, steps)?;
    let v = vector_arg(ev, v, steps)?;
    let n = steps.len();
    let mut groups: BTreeMap<LabelSet, Vec<(f64, &StepSeries)>> = BTreeMap::new();
    for s in &v {
        let Some(le) = s.labels.get("le") else {
            continue;
        };
        let Some(upper) = pharos_ingest_float(le) else {
            continue;
        };
        let mut key = s.labels.without_metric_name();
        key.remove("le");
        groups.entry(key).or_default().push((upper, s));
    }
    let mut out = Vec::new();
    for (labels, buckets) in groups {
        let mut points = vec![None; n];
        for (t, point) in points.iter_mut().enumerate() {
            let mut b: Vec<(f64, f64)> = buckets
                .iter()
                .filter_map(|(u, s)| s.points[t].map(|c| (*u, c)))
                .collect();
            if b.is_empty() {
                continue;
            }
            let (value, forced) = bucket_quantile(q[t], &mut b);
            if forced {
                let name = buckets[0].1.labels.metric_name().unwrap_or("");
                ev.infos.push(format!("PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"{name}\""));
            }
            *point = Some(value);
        }
        if points.iter().any(Option::is_some) {
            out.push(StepSeries { labels, points });
        }
    }
    if q.iter().any(|x| !(0.0..=1.0).contains(x)) {
        ev.warnings.push(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            q.iter().find(|x| !(0.0..=1.0).contains(*x)).unwrap()
        ));
    }
    Ok(Val::Vector(out))
}

fn pharos_ingest_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Prometheus's `BucketQuantile` for classic buckets `(upper bound, cumulative count)`;
/// returns the value and whether counts had to be forced monotonic.
fn bucket_quantile(q: f64, b: &mut Vec<(f64, f64)>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    // Coalesce equal bounds.
    let mut c: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for &(u, n) in b.iter() {
        match c.last_mut() {
            Some(last) if last.0 == u => last.1 += n,
            _ => c.push((u, n)),
        }
    }
    let mut forced = false;
    let mut prev = c[0].1;
    for x in c.iter_mut().skip(1) {
        let cur = x.1;
        if cur == prev {
            continue;
        }
        if (prev - cur).abs() <= 1e-12 * prev.abs().max(cur.abs()) {
            x.1 = prev;
            continue;
        }
        if cur < prev {
            x.1 = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    if c.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = c[c.len() - 1].1;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let idx = c[..c.len() - 1].partition_point(|x| x.1 < rank);
    if idx == c.len() - 1 {
        return (c[c.len() - 2].0, forced);
    }
    if idx == 0 && c[0].0 <= 0.0 {
        return (c[0].0, forced);
    }
    let (mut start, end, mut count) = (0.0, c[idx].0, c[idx].1);
    if idx > 0 {
        start = c[idx - 1].0;
        count -= c[idx - 1].1;
        rank -= c[idx - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}
