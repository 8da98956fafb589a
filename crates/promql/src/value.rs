//! The values an expression evaluates to while a query runs over all its steps at once
//! (as Prometheus's range evaluation does): scalars and instant vectors hold one value per
//! step, range vectors keep raw samples.

use pharos_model::series::{LabelSet, SeriesSamples};

/// An instant-vector series over the steps of the evaluation: `None` where it has no
/// value at that step.
#[derive(Clone, Debug)]
pub struct StepSeries {
    pub labels: LabelSet,
    pub points: Vec<Option<f64>>,
}

#[derive(Clone, Debug)]
pub enum Val {
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<StepSeries>),
    /// A range vector; only an instant query returns one as its result.
    Matrix(Vec<SeriesSamples>),
}

/// The steps of an evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Steps {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Steps {
    pub fn len(&self) -> usize {
        if self.step <= 0 {
            return 1;
        }
        ((self.end - self.start) / self.step) as usize + 1
    }

    pub fn at(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.at(i))
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)` as the Prometheus API prints values:
/// the shortest decimal that reads back to the same float, never an exponent.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display prints the shortest round-trip digits without an exponent.
    format!("{v}")
}
