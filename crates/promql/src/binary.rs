//! Binary operators: scalar/scalar, vector/scalar and vector/vector with Prometheus's
//! vector matching (`on`, `ignoring`, `group_left`, `group_right`, set operators), its
//! error messages, and its rules for the metric name (arithmetic between vectors drops
//! it at once; arithmetic with a scalar and `bool` comparisons mark it to be dropped).

use std::collections::{BTreeMap, HashMap};

use pharos_model::series::{LabelSet, METRIC_NAME};
use promql_parser::parser::token::{self, TokenType};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::QueryError;
use crate::eval::exec_err;
use crate::value::{StepSeries, Steps, Val, labels_string};

pub fn binary(b: &BinaryExpr, lhs: Val, rhs: Val, steps: Steps) -> Result<Val, QueryError> {
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
        (Val::Vector(l), Val::Vector(r)) => vector_vector(b, l, r, steps).map(Val::Vector),
        _ => Err(exec_err("binary operation on unsupported values")),
    }
}

type Signature = Vec<(String, String)>;

/// Which signatures a side has a value for, per step.
fn presence(
    series: &[StepSeries],
    key: impl Fn(&LabelSet) -> Signature,
    n: usize,
) -> HashMap<Signature, Vec<bool>> {
    let mut present: HashMap<Signature, Vec<bool>> = HashMap::new();
    for s in series {
        let e = present
            .entry(key(&s.labels))
            .or_insert_with(|| vec![false; n]);
        for (i, p) in s.points.iter().enumerate() {
            e[i] |= p.is_some();
        }
    }
    present
}

fn vector_vector(
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
            let present = presence(&rhs, key, n);
            let and = op.id() == token::T_LAND;
            Ok(lhs
                .into_iter()
                .filter_map(|mut l| {
                    let p = present.get(&key(&l.labels));
                    for i in 0..n {
                        if p.is_some_and(|p| p[i]) != and {
                            l.points[i] = None;
                        }
                    }
                    l.has_points().then_some(l)
                })
                .collect())
        }
        token::T_LOR => {
            let present = presence(&lhs, key, n);
            let mut out = lhs;
            for mut r in rhs {
                if let Some(p) = present.get(&key(&r.labels)) {
                    for (point, &left) in r.points.iter_mut().zip(p) {
                        if left {
                            *point = None;
                        }
                    }
                }
                if r.has_points() {
                    out.push(r);
                }
            }
            // In a range query the same series can come from the left at some steps and
            // from the right at others (`(x > 1) or (x < 0.5)`): one series, as Prometheus
            // assembles it. Their points never overlap, the right's were just dropped.
            crate::eval::merge_same_labels(out)
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
            // The "one" side is indexed by signature; at a step at most one of its series
            // may have a value per signature.
            let (many, one) = if one_side_is_left {
                (rhs, lhs)
            } else {
                (lhs, rhs)
            };
            let mut one_by_sig: HashMap<Signature, Vec<usize>> = HashMap::new();
            for (i, s) in one.iter().enumerate() {
                one_by_sig.entry(key(&s.labels)).or_default().push(i);
            }
            for (sig, idxs) in &one_by_sig {
                if idxs.len() < 2 {
                    continue;
                }
                for t in 0..n {
                    let mut at: Vec<&LabelSet> = idxs
                        .iter()
                        .filter(|&&i| one[i].points[t].is_some())
                        .map(|&i| &one[i].labels)
                        .collect();
                    if at.len() > 1 {
                        at.sort();
                        let side = if one_side_is_left { "left" } else { "right" };
                        return Err(exec_err(format!(
                            "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                            labels_string(&LabelSet::new(sig.clone())),
                            labels_string(at[0]),
                            labels_string(at[1]),
                        )));
                    }
                }
            }
            let comparison = op.is_comparison_operator();
            let mut out: BTreeMap<LabelSet, StepSeries> = BTreeMap::new();
            // Per signature and step: which result label sets the "many" side produced.
            let mut matched: HashMap<Signature, Vec<Vec<LabelSet>>> = HashMap::new();
            for m in &many {
                let sig = key(&m.labels);
                let Some(cands) = one_by_sig.get(&sig) else {
                    continue;
                };
                for t in 0..n {
                    let Some(mv) = m.points[t] else { continue };
                    let Some((ov, o)) = cands
                        .iter()
                        .find_map(|&i| one[i].points[t].map(|v| (v, &one[i])))
                    else {
                        continue;
                    };
                    let labels =
                        result_labels(&m.labels, &o.labels, op, matching, one_to_one, &include);
                    let seen = &mut matched
                        .entry(sig.clone())
                        .or_insert_with(|| vec![Vec::new(); n])[t];
                    if one_to_one && !seen.is_empty() {
                        return Err(exec_err(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                        ));
                    }
                    if seen.contains(&labels) {
                        return Err(exec_err(
                            "multiple matches for labels: grouping labels must ensure unique matches",
                        ));
                    }
                    seen.push(labels.clone());
                    let (l, r) = if one_side_is_left { (ov, mv) } else { (mv, ov) };
                    let (v, keep) = scalar_op(op, l, r);
                    let value = if !comparison {
                        v
                    } else if return_bool {
                        if keep { 1.0 } else { 0.0 }
                    } else if keep {
                        mv
                    } else {
                        continue;
                    };
                    let drop_name = if comparison && !return_bool {
                        m.drop_name
                    } else {
                        return_bool
                    };
                    let entry = out.entry(labels.clone()).or_insert_with(|| StepSeries {
                        labels,
                        points: vec![None; n],
                        drop_name,
                    });
                    if entry.points[t].is_some() {
                        return Err(exec_err(
                            "vector cannot contain metrics with the same labelset",
                        ));
                    }
                    entry.points[t] = Some(value);
                }
            }
            Ok(out.into_values().collect())
        }
    }
}

/// The labels a vector match compares (`on` / `ignoring`; by default all but the name).
pub fn signature(l: &LabelSet, matching: Option<&LabelModifier>) -> Signature {
    match matching {
        Some(LabelModifier::Include(names)) => {
            let mut v: Signature = names
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

/// Prometheus's `resultMetric`: the "many" side's labels; arithmetic removes the name
/// (its meaning changed), one-to-one matching keeps only the matched labels, and
/// `group_x(…)` labels come from the "one" side.
fn result_labels(
    many: &LabelSet,
    one: &LabelSet,
    op: TokenType,
    matching: Option<&LabelModifier>,
    one_to_one: bool,
    include: &[String],
) -> LabelSet {
    let mut l = many.clone();
    if !op.is_comparison_operator() {
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
    let comparison = op.is_comparison_operator();
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
                    *p = if !comparison {
                        Some(res)
                    } else if return_bool {
                        Some(if keep { 1.0 } else { 0.0 })
                    } else {
                        keep.then_some(v)
                    };
                }
            }
            if !comparison || return_bool {
                s.drop_name = true;
            }
            s.has_points().then_some(s)
        })
        .collect()
}
