//! PromQL functions: dispatch, element-wise math, `clamp*`, `round`, label
//! manipulation (`label_replace`, `label_join`), sorting (`sort*`, the experimental
//! `sort_by_label*` with Prometheus's natural order), `absent`, `scalar`, `vector`,
//! `timestamp`, time and date functions, and the experimental `step()`, `start()`,
//! `end()`, `range()`, `min_of`, `max_of`. Functions over range vectors are in
//! `range_functions.rs`, histogram functions in `histogram.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use pharos_model::series::{LabelMatcher, LabelSet, METRIC_NAME, MatchOp, is_stale_marker};
use promql_parser::parser::{Call, Expr};

use crate::QueryError;
use crate::aggregate::nan_first_cmp;
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

/// Prometheus's `quantile`: linear interpolation between closest ranks, NaN sorting
/// below every number.
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
    vals.sort_by(|a, b| nan_first_cmp(*a, *b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = (rank.floor() as usize + 1).min(vals.len() - 1);
    let weight = rank - rank.floor();
    vals[lower] * (1.0 - weight) + vals[upper] * weight
}

pub fn scalar_arg(ev: &mut Evaluator<'_>, e: &Expr, steps: Steps) -> Result<Vec<f64>, QueryError> {
    match ev.eval(e, steps)? {
        Val::Scalar(v) => Ok(v),
        _ => Err(exec_err("expected a scalar argument")),
    }
}

pub fn string_arg(e: &Expr) -> Result<String, QueryError> {
    match e {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        Expr::Paren(p) => string_arg(&p.expr),
        _ => Err(exec_err("expected a string argument")),
    }
}

pub fn vector_arg(
    ev: &mut Evaluator<'_>,
    e: &Expr,
    steps: Steps,
) -> Result<Vec<StepSeries>, QueryError> {
    match ev.eval(e, steps)? {
        Val::Vector(v) => Ok(v),
        _ => Err(exec_err("expected an instant vector argument")),
    }
}

/// Applies `f(value, step)` to every value; the series lose their name (their meaning
/// changed), lazily.
fn map_vector(v: Vec<StepSeries>, f: impl Fn(f64, usize) -> f64) -> Val {
    Val::Vector(
        v.into_iter()
            .map(|mut s| {
                for (i, p) in s.points.iter_mut().enumerate() {
                    *p = p.map(|x| f(x, i));
                }
                s.drop_name = true;
                s
            })
            .collect(),
    )
}

/// Prometheus's `model.UTF8Validation.IsValidLabelName`: any non-empty UTF-8 text. A
/// string the query wrote with byte escapes that are not UTF-8 is not one.
fn valid_label_name(ev: &Evaluator<'_>, s: &str) -> bool {
    !s.is_empty() && !ev.byte_strings.contains_key(s)
}

/// The text of a string argument as Prometheus prints it in errors (bytes as written).
fn raw_text(ev: &Evaluator<'_>, s: &str) -> String {
    match ev.byte_strings.get(s) {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => s.to_string(),
    }
}

/// `github.com/facette/natsort`'s `Compare` (is `a` before `b`), which Prometheus's
/// `sort_by_label` uses: digit runs compare as numbers, other runs as text.
pub fn natural_less(a: &str, b: &str) -> bool {
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut digit = None;
        for (i, c) in s.char_indices() {
            let d = c.is_ascii_digit();
            if digit.is_some_and(|x| x != d) {
                out.push(&s[start..i]);
                start = i;
            }
            digit = Some(d);
        }
        if start < s.len() {
            out.push(&s[start..]);
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, x) in ca.iter().enumerate() {
        let Some(y) = cb.get(i) else {
            return false;
        };
        let last_a = i == ca.len() - 1;
        let last_b = i == cb.len() - 1;
        if let (Ok(xn), Ok(yn)) = (x.parse::<i64>(), y.parse::<i64>()) {
            if xn == yn {
                if last_a {
                    return true;
                } else if last_b {
                    return false;
                }
                continue;
            }
            return xn < yn;
        }
        if x == y {
            if last_a {
                return true;
            } else if last_b {
                return false;
            }
            continue;
        }
        return x < y;
    }
    false
}

const SORT_FUNCTIONS: &[&str] = &["sort", "sort_desc", "sort_by_label", "sort_by_label_desc"];

/// Whether the expression calls a sorting function anywhere (Prometheus warns that
/// sorting has no effect on a range query's result).
pub fn calls_sort(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => {
            SORT_FUNCTIONS.contains(&c.func.name) || c.args.args.iter().any(|a| calls_sort(a))
        }
        Expr::Aggregate(a) => calls_sort(&a.expr) || a.param.as_deref().is_some_and(calls_sort),
        Expr::Unary(u) => calls_sort(&u.expr),
        Expr::Binary(b) => calls_sort(&b.lhs) || calls_sort(&b.rhs),
        Expr::Paren(p) => calls_sort(&p.expr),
        Expr::Subquery(s) => calls_sort(&s.expr),
        _ => false,
    }
}

pub fn call(ev: &mut Evaluator<'_>, c: &Call, steps: Steps) -> Result<Val, QueryError> {
    let args = &c.args.args;
    let name = c.func.name;
    if crate::range_functions::NAMES.contains(&name) {
        return crate::range_functions::call(ev, name, args, steps);
    }
    if crate::histogram::NAMES.contains(&name) {
        return crate::histogram::call(ev, name, args, steps);
    }
    let arg = |i: usize| -> Result<&Expr, QueryError> {
        args.get(i)
            .map(|b| b.as_ref())
            .ok_or_else(|| exec_err(format!("{name}: missing argument")))
    };
    let n = steps.len();
    match name {
        "absent" => {
            let labels = absent_labels(arg(0)?);
            let v = vector_arg(ev, arg(0)?, steps)?;
            let points: Vec<Option<f64>> = (0..n)
                .map(|i| (!v.iter().any(|s| s.points[i].is_some())).then_some(1.0))
                .collect();
            Ok(Val::Vector(if points.iter().any(Option::is_some) {
                vec![StepSeries::new(labels, points)]
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
                "deg" => |x: f64| x * 180.0 / std::f64::consts::PI,
                _ => |x: f64| x * std::f64::consts::PI / 180.0,
            };
            let v = vector_arg(ev, arg(0)?, steps)?;
            Ok(map_vector(v, |x, _| f(x)))
        }
        "round" => {
            let to = match args.get(1) {
                Some(e) => scalar_arg(ev, e, steps)?,
                None => vec![1.0; n],
            };
            let v = vector_arg(ev, arg(0)?, steps)?;
            // Prometheus rounds half up: floor(x * inverse + 0.5) / inverse.
            Ok(map_vector(v, |x, i| {
                let inv = 1.0 / to[i];
                (x * inv + 0.5).floor() / inv
            }))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let (lo, hi) = match name {
                "clamp" => (
                    scalar_arg(ev, arg(1)?, steps)?,
                    scalar_arg(ev, arg(2)?, steps)?,
                ),
                "clamp_min" => (scalar_arg(ev, arg(1)?, steps)?, vec![f64::INFINITY; n]),
                _ => (vec![f64::NEG_INFINITY; n], scalar_arg(ev, arg(1)?, steps)?),
            };
            let v = vector_arg(ev, arg(0)?, steps)?;
            Ok(Val::Vector(
                v.into_iter()
                    .filter_map(|mut s| {
                        for (i, p) in s.points.iter_mut().enumerate() {
                            *p = if lo[i] > hi[i] {
                                None
                            } else {
                                p.map(|x| go_max(lo[i], go_min(hi[i], x)))
                            };
                        }
                        s.drop_name = true;
                        s.has_points().then_some(s)
                    })
                    .collect(),
            ))
        }
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
        "time" => Ok(Val::Scalar(steps.iter().map(|t| t as f64 / 1e3).collect())),
        "step" => Ok(Val::Scalar(vec![ev.query_step as f64 / 1e3; n])),
        "start" => Ok(Val::Scalar(vec![ev.query_start as f64 / 1e3; n])),
        "end" => Ok(Val::Scalar(vec![ev.query_end as f64 / 1e3; n])),
        "range" => Ok(Val::Scalar(vec![
            (ev.query_end - ev.query_start) as f64
                / 1e3;
            n
        ])),
        "min_of" | "max_of" => {
            let a = scalar_arg(ev, arg(0)?, steps)?;
            let b = scalar_arg(ev, arg(1)?, steps)?;
            let min = name == "min_of";
            Ok(Val::Scalar(
                a.iter()
                    .zip(&b)
                    .map(|(&x, &y)| {
                        if x.is_nan() || y.is_nan() {
                            f64::NAN
                        } else if min {
                            x.min(y)
                        } else {
                            x.max(y)
                        }
                    })
                    .collect(),
            ))
        }
        "vector" => {
            let v = scalar_arg(ev, arg(0)?, steps)?;
            Ok(Val::Vector(vec![StepSeries::new(
                LabelSet::default(),
                v.into_iter().map(Some).collect(),
            )]))
        }
        "scalar" => {
            let v = vector_arg(ev, arg(0)?, steps)?;
            Ok(Val::Scalar(
                (0..n)
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
                    _ if desc => nan_first_cmp(y, x),
                    _ => nan_first_cmp(x, y),
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
                let mut o = std::cmp::Ordering::Equal;
                for n in &names {
                    let (x, y) = (a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    if x != y {
                        o = if natural_less(x, y) {
                            std::cmp::Ordering::Less
                        } else {
                            std::cmp::Ordering::Greater
                        };
                        break;
                    }
                }
                let o = o.then_with(|| a.labels.cmp(&b.labels));
                if desc { o.reverse() } else { o }
            });
            ev.ordered = true;
            Ok(Val::Vector(v))
        }
        "label_replace" => {
            let dst = string_arg(arg(1)?)?;
            let repl = string_arg(arg(2)?)?;
            let src = string_arg(arg(3)?)?;
            let re_src = string_arg(arg(4)?)?;
            let re = regex::Regex::new(&format!("^(?s:{re_src})$")).map_err(|_| {
                exec_err(format!(
                    "invalid regular expression in label_replace(): {re_src}"
                ))
            })?;
            if !valid_label_name(ev, &dst) {
                return Err(exec_err(format!(
                    "invalid destination label name in label_replace(): {}",
                    raw_text(ev, &dst)
                )));
            }
            let v = vector_arg(ev, arg(0)?, steps)?;
            let out = v
                .into_iter()
                .map(|mut s| {
                    let value = s.labels.get(&src).unwrap_or("").to_string();
                    if let Some(caps) = re.captures(&value) {
                        let mut res = String::new();
                        caps.expand(&repl, &mut res);
                        s.labels.set(&dst, res);
                        if dst == METRIC_NAME {
                            s.drop_name = false;
                        }
                    }
                    s
                })
                .collect();
            merge_same_labels(out).map(Val::Vector)
        }
        "label_join" => {
            let dst = string_arg(arg(1)?)?;
            let sep = string_arg(arg(2)?)?;
            let srcs: Vec<String> = args[3..]
                .iter()
                .map(|e| string_arg(e))
                .collect::<Result<_, _>>()?;
            if let Some(bad) = srcs.iter().find(|s| !valid_label_name(ev, s)) {
                return Err(exec_err(format!(
                    "invalid source label name in label_join(): {}",
                    raw_text(ev, bad)
                )));
            }
            if !valid_label_name(ev, &dst) {
                return Err(exec_err(format!(
                    "invalid destination label name in label_join(): {}",
                    raw_text(ev, &dst)
                )));
            }
            let v = vector_arg(ev, arg(0)?, steps)?;
            let out = v
                .into_iter()
                .map(|mut s| {
                    let joined = srcs
                        .iter()
                        .map(|n| s.labels.get(n).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(&sep);
                    s.labels.set(&dst, joined);
                    if dst == METRIC_NAME {
                        s.drop_name = false;
                    }
                    s
                })
                .collect();
            merge_same_labels(out).map(Val::Vector)
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => match args.first() {
            Some(e) => {
                let v = vector_arg(ev, e, steps)?;
                Ok(map_vector(v, |x, _| date_part(name, x)))
            }
            None => Ok(Val::Vector(vec![StepSeries::new(
                LabelSet::default(),
                steps
                    .iter()
                    .map(|t| Some(date_part(name, (t / 1000) as f64)))
                    .collect(),
            )])),
        },
        other => Err(exec_err(format!(
            "function {other}() is not supported by Pharos yet"
        ))),
    }
}

/// Go's `math.Max`: NaN when either is NaN (Rust's `f64::max` drops the NaN), as
/// Prometheus's `clamp` relies on.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`, NaN-propagating like [`go_max`].
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Prometheus converts with Go's `int64(x)`, which truncates toward zero.
fn date_part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let Some(d) = DateTime::<Utc>::from_timestamp(secs.trunc() as i64, 0) else {
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
pub fn absent_labels(e: &Expr) -> LabelSet {
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
            return Ok(map_vector(v, |_, i| steps.at(i) as f64 / 1e3));
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
            out.push(StepSeries {
                labels: std::mem::take(&mut s.labels),
                points,
                drop_name: true,
            });
        }
    }
    Ok(Val::Vector(out))
}
