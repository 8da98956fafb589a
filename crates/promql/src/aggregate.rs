//! Aggregation operators (`sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`,
//! `stdvar`, `topk`, `bottomk`, `quantile`, `count_values`) with `by` / `without`,
//! computed per step with Prometheus's float handling (Kahan summation, NaN rules).

use std::collections::BTreeMap;

use pharos_model::series::{LabelSet, METRIC_NAME};
use promql_parser::parser::LabelModifier;
use promql_parser::parser::token::{self, TokenId};

use crate::QueryError;
use crate::eval::{Evaluator, exec_err};
use crate::functions::{kahan_inc, quantile};
use crate::value::{StepSeries, Steps, Val};

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

pub fn aggregate(
    ev: &mut Evaluator<'_>,
    op: TokenId,
    modifier: Option<&LabelModifier>,
    param: Option<Val>,
    input: Vec<StepSeries>,
    steps: Steps,
) -> Result<Val, QueryError> {
    let n = steps.len();
    let param_at = |i: usize| -> Option<f64> {
        match &param {
            Some(Val::Scalar(v)) => v.get(i).copied(),
            _ => None,
        }
    };
    // Groups in order of first appearance, keyed by their labels.
    let mut groups: BTreeMap<LabelSet, Vec<usize>> = BTreeMap::new();
    for (i, s) in input.iter().enumerate() {
        groups
            .entry(group_labels(&s.labels, modifier))
            .or_default()
            .push(i);
    }
    match op {
        token::T_TOPK | token::T_BOTTOMK => {
            let mut keep = vec![vec![false; n]; input.len()];
            for members in groups.values() {
                for (t, _) in (0..n).map(|t| (t, ())) {
                    let k = param_at(t).unwrap_or(0.0);
                    if k.is_nan() {
                        return Err(exec_err("Parameter value is NaN"));
                    }
                    let k = if k >= 1.0 {
                        k.min(i64::MAX as f64) as usize
                    } else {
                        0
                    };
                    if k == 0 {
                        continue;
                    }
                    let mut vals: Vec<(usize, f64)> = members
                        .iter()
                        .filter_map(|&i| input[i].points[t].map(|v| (i, v)))
                        .collect();
                    // NaN sorts last for both, as in Prometheus.
                    vals.sort_by(|a, b| {
                        let (x, y) = (a.1, b.1);
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if op == token::T_TOPK => y.partial_cmp(&x).unwrap(),
                            _ => x.partial_cmp(&y).unwrap(),
                        }
                    });
                    for (i, _) in vals.into_iter().take(k) {
                        keep[i][t] = true;
                    }
                }
            }
            let out = input
                .into_iter()
                .enumerate()
                .filter_map(|(i, mut s)| {
                    for t in 0..n {
                        if !keep[i][t] {
                            s.points[t] = None;
                        }
                    }
                    s.points.iter().any(Option::is_some).then_some(s)
                })
                .collect();
            return Ok(Val::Vector(out));
        }
        token::T_COUNT_VALUES => {
            let Some(Val::String(label)) = param else {
                return Err(exec_err("count_values needs a string parameter"));
            };
            if !pharos_ingest_label_ok(&label) {
                return Err(exec_err(format!("invalid label name {label:?}")));
            }
            let mut out: BTreeMap<LabelSet, Vec<Option<f64>>> = BTreeMap::new();
            for (g, members) in &groups {
                for t in 0..n {
                    for &i in members {
                        if let Some(v) = input[i].points[t] {
                            let mut l = g.clone();
                            l.set(&label, crate::value::format_value(v));
                            let e = out.entry(l).or_insert_with(|| vec![None; n]);
                            e[t] = Some(e[t].unwrap_or(0.0) + 1.0);
                        }
                    }
                }
            }
            return Ok(Val::Vector(
                out.into_iter()
                    .map(|(labels, points)| StepSeries { labels, points })
                    .collect(),
            ));
        }
        _ => {}
    }
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups {
        let mut points = vec![None; n];
        for (t, point) in points.iter_mut().enumerate() {
            let vals: Vec<f64> = members.iter().filter_map(|&i| input[i].points[t]).collect();
            if vals.is_empty() {
                continue;
            }
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
                token::T_MIN => vals
                    .iter()
                    .copied()
                    .fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m }),
                token::T_MAX => vals
                    .iter()
                    .copied()
                    .fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m }),
                token::T_STDDEV => variance(&vals).sqrt(),
                token::T_STDVAR => variance(&vals),
                token::T_QUANTILE => quantile(param_at(t).unwrap_or(f64::NAN), vals.clone()),
                _ => {
                    return Err(exec_err(format!(
                        "aggregation {} is not supported",
                        promql_parser::parser::token::TokenType::new(op)
                    )));
                }
            });
        }
        if points.iter().any(Option::is_some) {
            out.push(StepSeries { labels, points });
        }
    }
    if op == token::T_QUANTILE
        && let Some(q) = (0..n)
            .filter_map(param_at)
            .find(|q| !(0.0..=1.0).contains(q))
    {
        ev.warnings.push(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {q}"
        ));
    }
    Ok(Val::Vector(out))
}

fn pharos_ingest_label_ok(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Mean with Kahan summation, falling back to an incremental mean when the sum overflows.
pub fn avg(vals: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    let mut overflow = false;
    for v in vals {
        (s, c) = kahan_inc(*v, s, c);
        if s.is_infinite() && !v.is_infinite() {
            overflow = true;
        }
    }
    if !overflow {
        return (s + c) / vals.len() as f64;
    }
    let mut mean = 0.0;
    for (i, v) in vals.iter().enumerate() {
        mean += v / (i + 1) as f64 - mean / (i + 1) as f64;
    }
    mean
}

/// Population variance (Welford), as Prometheus's stdvar.
pub fn variance(vals: &[f64]) -> f64 {
    let (mut count, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
    for &v in vals {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    m2 / count
}
