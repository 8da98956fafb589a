//! Aggregation operators (`sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`,
//! `stdvar`, `topk`, `bottomk`, `quantile`, `count_values`) with `by` / `without`,
//! computed per step with Prometheus's float handling (Kahan summation, the switch to an
//! incremental mean on overflow, NaN rules) and its output order for instant queries
//! (`topk` / `bottomk` sorted by value within each group).

use std::collections::HashMap;

use pharos_model::series::{LabelSet, METRIC_NAME};
use promql_parser::parser::LabelModifier;
use promql_parser::parser::token::{self, TokenId};

use crate::QueryError;
use crate::eval::{Evaluator, exec_err};
use crate::functions::{kahan_inc, quantile};
use crate::value::{StepSeries, Steps, Val, format_value, go_quote};

fn group_labels(l: &LabelSet, m: Option<&LabelModifier>) -> LabelSet {
    match m {
        None => LabelSet::default(),
        Some(LabelModifier::Include(by)) => LabelSet::new(
            l.iter()
                .filter(|x| by.labels.contains(&x.name))
                .map(|x| (x.name.clone(), x.value.clone())),
        ),
        Some(LabelModifier::Exclude(without)) => LabelSet::new(
            l.iter()
                .filter(|x| x.name != METRIC_NAME && !without.labels.contains(&x.name))
                .map(|x| (x.name.clone(), x.value.clone())),
        ),
    }
}

/// Groups of input series (indexes) in order of first appearance, with their labels.
fn groups(input: &[StepSeries], modifier: Option<&LabelModifier>) -> Vec<(LabelSet, Vec<usize>)> {
    let mut index: HashMap<LabelSet, usize> = HashMap::new();
    let mut out: Vec<(LabelSet, Vec<usize>)> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let g = group_labels(&s.labels, modifier);
        match index.get(&g) {
            Some(&gi) => out[gi].1.push(i),
            None => {
                index.insert(g.clone(), out.len());
                out.push((g, vec![i]));
            }
        }
    }
    out
}

/// Prometheus's NaN-tolerant value order: NaN below every number.
pub fn nan_first_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

pub fn aggregate(
    ev: &mut Evaluator<'_>,
    op: TokenId,
    modifier: Option<&LabelModifier>,
    param: Option<Val>,
    input: Vec<StepSeries>,
    steps: Steps,
) -> Result<Val, QueryError> {
    let n = steps.len();
    let params: Vec<f64> = match &param {
        Some(Val::Scalar(v)) => v.clone(),
        _ => vec![f64::NAN; n],
    };
    let groups = groups(&input, modifier);
    match op {
        token::T_TOPK | token::T_BOTTOMK => return top_k(op, &params, input, &groups, n),
        token::T_COUNT_VALUES => {
            let Some(Val::String(label)) = param else {
                return Err(exec_err("count_values needs a string parameter"));
            };
            if label.is_empty() || ev.byte_strings.contains_key(&label) {
                let bytes = ev.byte_strings.get(&label).cloned();
                return Err(exec_err(format!(
                    "invalid label name {}",
                    go_quote(bytes.as_deref().unwrap_or(label.as_bytes()))
                )));
            }
            let mut index: HashMap<LabelSet, usize> = HashMap::new();
            let mut out: Vec<StepSeries> = Vec::new();
            for (g, members) in &groups {
                for t in 0..n {
                    for &i in members {
                        if let Some(v) = input[i].points[t] {
                            let mut l = g.clone();
                            l.set(&label, format_value(v));
                            let oi = *index.entry(l.clone()).or_insert_with(|| {
                                out.push(StepSeries::new(l, vec![None; n]));
                                out.len() - 1
                            });
                            let p = &mut out[oi].points[t];
                            *p = Some(p.unwrap_or(0.0) + 1.0);
                        }
                    }
                }
            }
            return Ok(Val::Vector(out));
        }
        token::T_QUANTILE => {
            let mut warn = |q: f64| {
                ev.warnings.push(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {q}"
                ))
            };
            if params.iter().any(|q| q.is_nan()) {
                warn(f64::NAN);
            }
            if let Some(q) = params.iter().copied().filter(|q| *q > 1.0).reduce(f64::max) {
                warn(q);
            }
            if let Some(q) = params.iter().copied().filter(|q| *q < 0.0).reduce(f64::min) {
                warn(q);
            }
        }
        _ => {}
    }
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        let mut points = vec![None; n];
        let mut drop_name = false;
        for (t, point) in points.iter_mut().enumerate() {
            let present: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| input[i].points[t].is_some())
                .collect();
            if present.is_empty() {
                continue;
            }
            drop_name |= present.iter().any(|&i| input[i].drop_name);
            let vals: Vec<f64> = present.iter().filter_map(|&i| input[i].points[t]).collect();
            *point = Some(match op {
                token::T_SUM => {
                    let (mut s, mut c) = (0.0, 0.0);
                    for v in &vals {
                        (s, c) = kahan_inc(*v, s, c);
                    }
                    s + c
                }
                token::T_AVG => avg(&vals),
                token::T_COUNT => vals.len() as f64,
                token::T_GROUP => 1.0,
                token::T_MIN => vals[1..]
                    .iter()
                    .fold(vals[0], |m, &v| if m > v || m.is_nan() { v } else { m }),
                token::T_MAX => vals[1..]
                    .iter()
                    .fold(vals[0], |m, &v| if m < v || m.is_nan() { v } else { m }),
                token::T_STDDEV => variance(&vals).sqrt(),
                token::T_STDVAR => variance(&vals),
                token::T_QUANTILE => quantile(params[t], vals),
                _ => {
                    return Err(exec_err(format!(
                        "aggregation {} is not supported",
                        promql_parser::parser::token::TokenType::new(op)
                    )));
                }
            });
        }
        if points.iter().any(Option::is_some) {
            out.push(StepSeries {
                labels,
                points,
                drop_name,
            });
        }
    }
    Ok(Val::Vector(out))
}

/// `topk` / `bottomk`: per step and group, the k largest (smallest) values, NaN last.
/// The input series are returned with the values they keep; for an instant query they
/// come per group, best first, as Prometheus orders them.
fn top_k(
    op: TokenId,
    params: &[f64],
    input: Vec<StepSeries>,
    groups: &[(LabelSet, Vec<usize>)],
    n: usize,
) -> Result<Val, QueryError> {
    if params.iter().all(|k| *k < 1.0) {
        return Ok(Val::Vector(Vec::new()));
    }
    if params.iter().any(|k| k.is_nan()) {
        return Err(exec_err("Parameter value is NaN"));
    }
    if let Some(k) = params.iter().find(|k| **k <= -9.223_372_036_854_776e18) {
        return Err(exec_err(format!("Scalar value {k} underflows int64")));
    }
    if let Some(k) = params.iter().find(|k| **k >= 9.223_372_036_854_775e18) {
        return Err(exec_err(format!("Scalar value {k} overflows int64")));
    }
    let top = op == token::T_TOPK;
    // Better first: larger (topk) or smaller (bottomk), NaN always last.
    let order = |a: f64, b: f64| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if top => nan_first_cmp(b, a),
        _ => nan_first_cmp(a, b),
    };
    let mut keep = vec![vec![false; n]; input.len()];
    // For an instant query, the output order.
    let mut ranked: Vec<usize> = Vec::new();
    for (_, members) in groups {
        for t in 0..n {
            let k = params[t];
            if k < 1.0 {
                continue;
            }
            let k = (k as i64).min(members.len() as i64) as usize;
            let mut vals: Vec<(usize, f64)> = members
                .iter()
                .filter_map(|&i| input[i].points[t].map(|v| (i, v)))
                .collect();
            vals.sort_by(|a, b| order(a.1, b.1));
            for (i, _) in vals.into_iter().take(k) {
                keep[i][t] = true;
                if n == 1 {
                    ranked.push(i);
                }
            }
        }
    }
    let mut kept: Vec<Option<StepSeries>> = input
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            for (p, kept) in s.points.iter_mut().zip(&keep[i]) {
                if !kept {
                    *p = None;
                }
            }
            s.has_points().then_some(s)
        })
        .collect();
    let out = if n == 1 {
        ranked.iter().filter_map(|&i| kept[i].take()).collect()
    } else {
        kept.into_iter().flatten().collect()
    };
    Ok(Val::Vector(out))
}

/// Mean as Prometheus computes it: a Kahan sum divided by the count, switching to an
/// incremental mean once the sum would overflow.
pub fn avg(vals: &[f64]) -> f64 {
    let Some((&first, rest)) = vals.split_first() else {
        return f64::NAN;
    };
    let (mut sum, mut c, mut mean) = (first, 0.0, 0.0);
    let mut incremental = false;
    let mut count = 1.0;
    for &v in rest {
        count += 1.0;
        if !incremental {
            let (s, nc) = kahan_inc(v, sum, c);
            if !s.is_infinite() {
                (sum, c) = (s, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

/// Population variance as Prometheus's `stdvar` aggregation computes it (Welford; a NaN
/// or infinite first value makes it NaN).
pub fn variance(vals: &[f64]) -> f64 {
    let Some((&first, rest)) = vals.split_first() else {
        return f64::NAN;
    };
    let mut value = if first.is_nan() || first.is_infinite() {
        f64::NAN
    } else {
        0.0
    };
    let (mut mean, mut count) = (first, 1.0);
    for &v in rest {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        value += delta * (v - mean);
    }
    value / count
}
