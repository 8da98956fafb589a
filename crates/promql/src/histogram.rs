//! Histogram functions over classic histograms (`_bucket` series with an `le` label):
//! `histogram_quantile`, the experimental `histogram_quantiles`, `histogram_fraction`,
//! with Prometheus's bucket arithmetic and annotations. Pharos stores no native
//! histograms, so `histogram_count` / `_sum` / `_avg` / `_stddev` / `_stdvar`, which only
//! read native histograms, find nothing to answer for.

use std::collections::HashMap;

use pharos_model::series::LabelSet;
use promql_parser::parser::Expr;

use crate::QueryError;
use crate::eval::{Evaluator, exec_err};
use crate::functions::{scalar_arg, string_arg, vector_arg};
use crate::value::{StepSeries, Steps, Val};

/// The functions this module evaluates.
pub const NAMES: &[&str] = &[
    "histogram_quantile",
    "histogram_quantiles",
    "histogram_fraction",
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
];

/// Prometheus's relative tolerance for bucket counts that differ only by float noise.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// Prometheus's `almost.Equal`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Sorts buckets `(upper bound, cumulative count)`, merges equal bounds, and removes
/// decreases (float noise silently; real ones reported through the returned flag).
fn prepare(b: &mut Vec<(f64, f64)>) -> bool {
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for &(u, n) in b.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == u => last.1 += n,
            _ => merged.push((u, n)),
        }
    }
    *b = merged;
    let mut forced = false;
    let mut prev = b[0].1;
    for x in b.iter_mut().skip(1) {
        let cur = x.1;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, SMALL_DELTA_TOLERANCE) || cur < prev {
            forced |= cur < prev && !almost_equal(prev, cur, SMALL_DELTA_TOLERANCE);
            x.1 = prev;
            continue;
        }
        prev = cur;
    }
    forced
}

/// Prometheus's `BucketQuantile`; returns the value and whether counts had to be forced
/// monotonic.
fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let forced = prepare(&mut b);
    if b.len() < 2 {
        return (f64::NAN, false);
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 {
        return (f64::NAN, false);
    }
    let mut rank = q * observations;
    let idx = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if idx == b.len() - 1 {
        return (b[b.len() - 2].0, forced);
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return (b[0].0, forced);
    }
    let (mut start, end, mut count) = (0.0, b[idx].0, b[idx].1);
    if idx > 0 {
        start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// The fraction of observations in `(lower, upper]` of classic buckets, as Prometheus
/// computes it for histograms with custom buckets: linear interpolation inside a bucket,
/// the lowest bucket starting at 0 when its bound is positive, and no interpolation
/// inside a bucket of infinite width (a bound there counts as the bucket's finite edge).
fn bucket_fraction(lower: f64, upper: f64, mut b: Vec<(f64, f64)>) -> f64 {
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    if b.last().is_none_or(|l| l.0 != f64::INFINITY) {
        return f64::NAN;
    }
    prepare(&mut b);
    let total = b[b.len() - 1].1;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, None, None);
    let mut prev_upper = f64::NEG_INFINITY;
    let mut prev_count = 0.0;
    for (i, &(hi, cumulative)) in b.iter().enumerate() {
        let lo = if i == 0 {
            if hi > 0.0 { 0.0 } else { f64::NEG_INFINITY }
        } else {
            prev_upper
        };
        let count = cumulative - prev_count;
        let at = |v: f64| {
            if lo == f64::NEG_INFINITY {
                rank + count
            } else if hi == f64::INFINITY {
                rank
            } else {
                rank + count * (v - lo) / (hi - lo)
            }
        };
        if lower_rank.is_none() && lo >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && lo >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_none() && lo < lower && hi > lower {
            lower_rank = Some(at(lower));
        }
        if upper_rank.is_none() && lo < upper && hi > upper {
            upper_rank = Some(at(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += count;
        prev_upper = hi;
        prev_count = cumulative;
    }
    let lower_rank = lower_rank.map_or(total, |r: f64| r.min(total));
    let upper_rank = upper_rank.map_or(total, |r: f64| r.min(total));
    (upper_rank - lower_rank) / total
}

/// Prometheus's `labels.FormatOpenMetricsFloat`: Go's shortest `%g`, with `.0` added to
/// whole numbers (`0.0`, `1.0`, `0.25`, `1e-05`).
fn openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    let s = if (-4..21).contains(&exp) {
        format!("{f}")
    } else {
        // Go writes the exponent with a sign and at least two digits.
        let e = format!("{f:e}");
        match e.split_once('e') {
            Some((m, x)) => {
                let (sign, digits) = x.strip_prefix('-').map_or(("+", x), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => e,
        }
    };
    if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// One classic histogram of the input: its labels (without `le`) and its bucket series.
struct Histogram<'a> {
    labels: LabelSet,
    buckets: Vec<(f64, &'a StepSeries)>,
}

/// Groups bucket series by their labels without `le`; series whose `le` is not a
/// number are reported and left out.
fn classic<'a>(ev: &mut Evaluator<'_>, v: &'a [StepSeries]) -> Vec<Histogram<'a>> {
    let mut index: HashMap<LabelSet, usize> = HashMap::new();
    let mut out: Vec<Histogram<'a>> = Vec::new();
    for s in v {
        let le = s.labels.get("le").unwrap_or("");
        let Ok(upper) = le.parse::<f64>() else {
            let name = s
                .labels
                .metric_name()
                .map(|n| format!(" for metric name {n:?}"))
                .unwrap_or_default();
            ev.warnings.push(format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?}{name}"
            ));
            continue;
        };
        let mut key = s.labels.clone();
        key.remove("le");
        let i = *index.entry(key.clone()).or_insert_with(|| {
            out.push(Histogram {
                labels: key,
                buckets: Vec::new(),
            });
            out.len() - 1
        });
        out[i].buckets.push((upper, s));
    }
    out
}

impl Histogram<'_> {
    fn at(&self, t: usize) -> Vec<(f64, f64)> {
        self.buckets
            .iter()
            .filter_map(|(u, s)| s.points[t].map(|c| (*u, c)))
            .collect()
    }
}

fn check_quantile(ev: &mut Evaluator<'_>, q: f64) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ev.warnings.push(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {q}"
        ));
    }
}

fn forced_info(ev: &mut Evaluator<'_>, labels: &LabelSet) {
    let name = labels
        .metric_name()
        .map(|n| format!(" for metric name {n:?}"))
        .unwrap_or_default();
    ev.infos.push(format!(
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile){name}"
    ));
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
    let n = steps.len();
    let mut out: Vec<StepSeries> = Vec::new();
    match name {
        "histogram_quantile" => {
            let q = scalar_arg(ev, arg(0)?, steps)?;
            let v = vector_arg(ev, arg(1)?, steps)?;
            for &q in &q {
                check_quantile(ev, q);
            }
            for h in classic(ev, &v) {
                let mut points = vec![None; n];
                for (t, p) in points.iter_mut().enumerate() {
                    let b = h.at(t);
                    if b.is_empty() {
                        continue;
                    }
                    let (value, forced) = bucket_quantile(q[t], b);
                    if forced {
                        forced_info(ev, &h.labels);
                    }
                    *p = Some(value);
                }
                out.push(StepSeries {
                    labels: h.labels,
                    points,
                    drop_name: true,
                });
            }
        }
        "histogram_quantiles" => {
            let v = vector_arg(ev, arg(0)?, steps)?;
            let label = string_arg(arg(1)?)?;
            let mut qs = Vec::new();
            for e in &args[2..] {
                let q = scalar_arg(ev, e, steps)?;
                for &x in &q {
                    check_quantile(ev, x);
                }
                qs.push(q);
            }
            for h in classic(ev, &v) {
                for q in &qs {
                    // Series of one quantile take its value at the first step as their
                    // label, as the quantiles are literals.
                    let mut labels = h.labels.clone();
                    labels.set(&label, openmetrics_float(q[0]));
                    let mut points = vec![None; n];
                    for (t, p) in points.iter_mut().enumerate() {
                        let b = h.at(t);
                        if b.is_empty() {
                            continue;
                        }
                        let (value, forced) = bucket_quantile(q[t], b);
                        if forced {
                            forced_info(ev, &h.labels);
                        }
                        *p = Some(value);
                    }
                    out.push(StepSeries {
                        labels,
                        points,
                        drop_name: true,
                    });
                }
            }
        }
        "histogram_fraction" => {
            let lower = scalar_arg(ev, arg(0)?, steps)?;
            let upper = scalar_arg(ev, arg(1)?, steps)?;
            let v = vector_arg(ev, arg(2)?, steps)?;
            for h in classic(ev, &v) {
                let mut points = vec![None; n];
                for (t, p) in points.iter_mut().enumerate() {
                    let b = h.at(t);
                    if !b.is_empty() {
                        *p = Some(bucket_fraction(lower[t], upper[t], b));
                    }
                }
                out.push(StepSeries {
                    labels: h.labels,
                    points,
                    drop_name: true,
                });
            }
        }
        _ => {
            // Native-histogram statistics: float samples are not histograms.
            vector_arg(ev, arg(0)?, steps)?;
        }
    }
    out.retain(StepSeries::has_points);
    Ok(Val::Vector(out))
}
