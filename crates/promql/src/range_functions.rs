//! Functions over range vectors (a matrix selector or a subquery): `rate`, `increase`,
//! `delta` with Prometheus's extrapolation, `irate`, `idelta`, `deriv`,
//! `predict_linear`, the `*_over_time` family (including the experimental
//! `first_over_time`, `mad_over_time` and `ts_of_*_over_time`), `changes`, `resets`,
//! `absent_over_time` and `double_exponential_smoothing`.
//!
//! Each series' samples are fetched once; every step looks at its window through index
//! bounds, so a long range query does not copy or re-scan the data per step.

use std::time::Instant;

use pharos_model::series::Sample;
use promql_parser::parser::Expr;

use crate::QueryError;
use crate::eval::{Evaluator, exec_err};
use crate::functions::{absent_labels, kahan_inc, quantile, scalar_arg};
use crate::value::{StepSeries, Steps, Val, WindowSeries};

/// The range functions this module evaluates.
pub const NAMES: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "predict_linear",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "mad_over_time",
    "ts_of_first_over_time",
    "ts_of_last_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "changes",
    "resets",
    "absent_over_time",
    "double_exponential_smoothing",
];

pub fn linear_regression(samples: &[Sample], intercept_time: i64) -> (f64, f64) {
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
        for w in samples.windows(2) {
            if w[1].v < w[0].v {
                result += w[0].v;
            }
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

pub struct Windows {
    pub series: Vec<WindowSeries>,
    /// Per step, the window's end (after `@` and `offset`).
    pub ends: Vec<i64>,
    pub range_ms: i64,
    /// The query's deadline, for [`range_fn`]'s checks between steps.
    pub deadline: Instant,
}

pub fn windows(ev: &mut Evaluator<'_>, arg: &Expr, steps: Steps) -> Result<Windows, QueryError> {
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
                deadline: ev.deadline,
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
                deadline: ev.deadline,
            })
        }
        Expr::Paren(p) => windows(ev, &p.expr, steps),
        _ => Err(exec_err("expected a range vector argument")),
    }
}

/// Steps between two looks at the clock in [`range_fn`]: often enough that a costly
/// window (a quantile over thousands of samples) cannot run far past the deadline, rarely
/// enough that a cheap one does not pay for the clock.
const STEPS_PER_DEADLINE_CHECK: usize = 64;

/// Applies `f(window, step index, window end, range)` to every non-empty window.
/// `keep_name`: the function acts like an offset (`last_over_time`), so the series keeps
/// its name unless it was already marked to lose it.
///
/// Past the deadline it stops and returns what it has; [`call`] then answers with the
/// timeout, since the deadline stays passed.
fn range_fn(
    w: Windows,
    keep_name: bool,
    f: impl Fn(&[Sample], usize, i64, i64) -> Option<f64>,
) -> Vec<StepSeries> {
    let mut out = Vec::new();
    let mut timed_out = false;
    for ws in w.series {
        let mut points: Vec<Option<f64>> = Vec::with_capacity(w.ends.len());
        for i in 0..w.ends.len() {
            if i % STEPS_PER_DEADLINE_CHECK == 0 && Instant::now() > w.deadline {
                timed_out = true;
                break;
            }
            let s = ws.window(i);
            points.push(if s.is_empty() {
                None
            } else {
                f(s, i, w.ends[i], w.range_ms)
            });
        }
        if timed_out {
            break;
        }
        if points.iter().any(Option::is_some) {
            out.push(StepSeries {
                labels: ws.labels,
                points,
                drop_name: !keep_name || ws.drop_name,
            });
        }
    }
    out
}

fn values(s: &[Sample]) -> Vec<f64> {
    s.iter().map(|x| x.v).collect()
}

/// Prometheus's `varianceOverTime`: Welford with Kahan-compensated sums.
fn variance_over_time(s: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in s {
        count += 1.0;
        let delta = x.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (x.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// The sample whose value `better` prefers over all others (for `>=`-like tests, the
/// last of equals), as Prometheus's `compareOverTime`; NaN loses to any number.
fn extreme(s: &[Sample], better: impl Fn(f64, f64) -> bool) -> Sample {
    let mut best = s[0];
    for x in s {
        if better(x.v, best.v) || best.v.is_nan() {
            best = *x;
        }
    }
    best
}

pub fn call(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[Box<Expr>],
    steps: Steps,
) -> Result<Val, QueryError> {
    let arg = |i: usize| -> Result<&Expr, QueryError> {
        args.get(i)
            .map(|b| b.as_ref())
            .ok_or_else(|| exec_err(format!("{name}: missing argument")))
    };
    let out = match name {
        "rate" | "increase" | "delta" => {
            let counter = name != "delta";
            let is_rate = name == "rate";
            let w = windows(ev, arg(0)?, steps)?;
            let names: Vec<Option<String>> = w
                .series
                .iter()
                .map(|s| s.labels.metric_name().map(str::to_string))
                .collect();
            let out = range_fn(w, false, |s, _, end, range| {
                extrapolated(s, end - range, end, range as f64 / 1e3, counter, is_rate)
            });
            if counter {
                // Prometheus's hint that a rate over something not named like a counter
                // may be a mistake.
                for n in names.into_iter().flatten() {
                    let produced = out.iter().any(|s| s.labels.metric_name() == Some(&n));
                    if produced
                        && !["_total", "_sum", "_count", "_bucket"]
                            .iter()
                            .any(|suffix| n.ends_with(suffix))
                    {
                        ev.infos.push(format!(
                            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"
                        ));
                    }
                }
            }
            out
        }
        "irate" | "idelta" => {
            let is_rate = name == "irate";
            range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
                if s.len() < 2 {
                    return None;
                }
                let (a, b) = (s[s.len() - 2], s[s.len() - 1]);
                let secs = (b.t - a.t) as f64 / 1e3;
                if secs == 0.0 {
                    return None;
                }
                let d = if is_rate && b.v < a.v { b.v } else { b.v - a.v };
                Some(if is_rate { d / secs } else { d })
            })
        }
        "deriv" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            (s.len() >= 2).then(|| linear_regression(s, s[0].t).0)
        }),
        "predict_linear" => {
            let secs = scalar_arg(ev, arg(1)?, steps)?;
            let w = windows(ev, arg(0)?, steps)?;
            // The regression is anchored at the evaluation time, not at an `@` time.
            range_fn(w, false, |s, i, _, _| {
                (s.len() >= 2).then(|| {
                    let (slope, intercept) = linear_regression(s, steps.at(i));
                    slope * secs[i] + intercept
                })
            })
        }
        "avg_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            Some(crate::aggregate::avg(&values(s)))
        }),
        "sum_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            let (mut a, mut c) = (0.0, 0.0);
            for x in s {
                (a, c) = kahan_inc(x.v, a, c);
            }
            Some(if a.is_infinite() { a } else { a + c })
        }),
        "count_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            Some(s.len() as f64)
        }),
        "min_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            Some(extreme(s, |a, b| a < b).v)
        }),
        "max_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            Some(extreme(s, |a, b| a > b).v)
        }),
        "ts_of_min_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            Some(extreme(s, |a, b| a <= b).t as f64 / 1e3)
        }),
        "ts_of_max_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            Some(extreme(s, |a, b| a >= b).t as f64 / 1e3)
        }),
        "last_over_time" => range_fn(windows(ev, arg(0)?, steps)?, true, |s, _, _, _| {
            s.last().map(|x| x.v)
        }),
        "first_over_time" => range_fn(windows(ev, arg(0)?, steps)?, true, |s, _, _, _| {
            s.first().map(|x| x.v)
        }),
        "ts_of_last_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            s.last().map(|x| x.t as f64 / 1e3)
        }),
        "ts_of_first_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            s.first().map(|x| x.t as f64 / 1e3)
        }),
        "present_over_time" => {
            range_fn(windows(ev, arg(0)?, steps)?, false, |_, _, _, _| Some(1.0))
        }
        "stddev_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            Some(variance_over_time(s).sqrt())
        }),
        "stdvar_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            Some(variance_over_time(s))
        }),
        "quantile_over_time" => {
            let q = scalar_arg(ev, arg(0)?, steps)?;
            let w = windows(ev, arg(1)?, steps)?;
            let out = range_fn(w, false, |s, i, _, _| Some(quantile(q[i], values(s))));
            // Only steps that produced a value were checked by Prometheus.
            let used = |i: usize| out.iter().any(|s| s.points[i].is_some());
            if let Some(bad) = (0..q.len())
                .filter(|&i| used(i))
                .map(|i| q[i])
                .find(|q| q.is_nan() || *q < 0.0 || *q > 1.0)
            {
                ev.warnings.push(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {bad}"
                ));
            }
            out
        }
        "mad_over_time" => range_fn(windows(ev, arg(0)?, steps)?, false, |s, _, _, _| {
            let vals = values(s);
            if vals.iter().any(|v| v.is_nan()) {
                return Some(f64::NAN);
            }
            let median = quantile(0.5, vals.clone());
            Some(quantile(
                0.5,
                vals.into_iter().map(|v| (v - median).abs()).collect(),
            ))
        }),
        "changes" | "resets" => {
            let resets = name == "resets";
            range_fn(windows(ev, arg(0)?, steps)?, false, move |s, _, _, _| {
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
        "double_exponential_smoothing" => {
            let sf = scalar_arg(ev, arg(1)?, steps)?;
            let tf = scalar_arg(ev, arg(2)?, steps)?;
            let w = windows(ev, arg(0)?, steps)?;
            for i in 0..steps.len() {
                // Prometheus checks the factors only where a window holds samples.
                if !w.series.iter().any(|s| !s.window(i).is_empty()) {
                    continue;
                }
                if !(sf[i] > 0.0 && sf[i] < 1.0) {
                    return Err(exec_err(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {:.6}",
                        sf[i]
                    )));
                }
                if !(tf[i] > 0.0 && tf[i] < 1.0) {
                    return Err(exec_err(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {:.6}",
                        tf[i]
                    )));
                }
            }
            range_fn(w, false, |s, i, _, _| smooth(s, sf[i], tf[i]))
        }
        "absent_over_time" => {
            let labels = absent_labels(arg(0)?);
            let w = windows(ev, arg(0)?, steps)?;
            let points: Vec<Option<f64>> = (0..steps.len())
                .map(|i| (!w.series.iter().any(|s| !s.window(i).is_empty())).then_some(1.0))
                .collect();
            if points.iter().any(Option::is_some) {
                vec![StepSeries::new(labels, points)]
            } else {
                vec![]
            }
        }
        other => return Err(exec_err(format!("{other} is not a range function"))),
    };
    // `range_fn` stops early at the deadline; what it returned then is incomplete.
    ev.check_deadline()?;
    Ok(Val::Vector(out))
}

/// Holt's double exponential smoothing as Prometheus computes it.
fn smooth(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, s[0].v);
    let mut b = s[1].v - s[0].v;
    for (i, x) in s.iter().enumerate().skip(1) {
        let scaled = sf * x.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, scaled + y);
    }
    Some(s1)
}
