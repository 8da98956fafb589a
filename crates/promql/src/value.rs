//! The values an expression evaluates to while a query runs over all its steps at once
//! (as Prometheus's range evaluation does): scalars and instant vectors hold one value per
//! step, range vectors keep raw samples.
//!
//! The metric name is removed lazily, as Prometheus 3 does ("delayed name removal"):
//! operations that change a series' meaning only mark it (`drop_name`), and the name is
//! removed when the query's result is assembled. Until then `label_replace` can still
//! read it, and `sum by (__name__)` can still group by it.

use pharos_model::series::{LabelSet, Sample, SeriesSamples};

/// An instant-vector series over the steps of the evaluation: `None` where it has no
/// value at that step.
#[derive(Clone, Debug)]
pub struct StepSeries {
    pub labels: LabelSet,
    pub points: Vec<Option<f64>>,
    /// The metric name is to be removed from the result.
    pub drop_name: bool,
}

impl StepSeries {
    pub fn new(labels: LabelSet, points: Vec<Option<f64>>) -> Self {
        StepSeries {
            labels,
            points,
            drop_name: false,
        }
    }

    pub fn has_points(&self) -> bool {
        self.points.iter().any(Option::is_some)
    }
}

/// A range vector over the steps of the evaluation: one series' samples (staleness
/// markers removed) and, per step, the index range of the samples in that step's window.
#[derive(Clone, Debug)]
pub struct WindowSeries {
    pub labels: LabelSet,
    pub samples: Vec<Sample>,
    pub bounds: Vec<(usize, usize)>,
    pub drop_name: bool,
}

impl WindowSeries {
    pub fn window(&self, step: usize) -> &[Sample] {
        let (a, b) = self.bounds[step];
        &self.samples[a..b]
    }

    /// Windows `(t - range, t]` for every `t` of `ends` (ascending or not).
    pub fn new(
        labels: LabelSet,
        samples: Vec<Sample>,
        ends: &[i64],
        range: i64,
        drop_name: bool,
    ) -> Self {
        let bounds = ends
            .iter()
            .map(|&t| {
                (
                    samples.partition_point(|x| x.t <= t - range),
                    samples.partition_point(|x| x.t <= t),
                )
            })
            .collect();
        WindowSeries {
            labels,
            samples,
            bounds,
            drop_name,
        }
    }
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
    // Rust's Display prints the shortest round-trip digits without an exponent. When the
    // value lies exactly halfway between two shortest candidates (values that came from
    // 32-bit floats do), Rust rounds the last digit up where Go rounds it to even; the
    // exact rounding at that many digits is Go's choice. Two candidates can both read
    // back to the same float only at 16 or more significant digits, so shorter values
    // take the plain path.
    let plain = format!("{v}");
    let significant = plain
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|d| *d == b'0')
        .count();
    if significant < 16 {
        return plain;
    }
    let shortest = format!("{v:e}");
    let Some((mantissa, _)) = shortest.split_once('e') else {
        return plain;
    };
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let exact = format!("{v:.*e}", digits.saturating_sub(1));
    if exact != shortest && exact.parse::<f64>() == Ok(v) {
        return plain_decimal(&exact);
    }
    plain
}

/// `-1.25e-3` as `-0.00125`: scientific notation written out without an exponent.
fn plain_decimal(scientific: &str) -> String {
    let (sign, rest) = match scientific.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", scientific),
    };
    let Some((mantissa, exp)) = rest.split_once('e') else {
        return scientific.to_string();
    };
    let Ok(exp) = exp.parse::<i64>() else {
        return scientific.to_string();
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // Where the decimal point goes, counted in digits from the left.
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Prometheus's `labels.String()`: every label, the name included, in braces, as the
/// engine's error messages print label sets.
pub fn labels_string(l: &LabelSet) -> String {
    let inner: Vec<String> = l
        .iter()
        .map(|x| format!("{}={}", x.name, go_quote(x.value.as_bytes())))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// Go's `strconv.Quote`: printable text as is, `"` and `\` escaped, control characters
/// and bytes that are not UTF-8 as escapes.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => {
                let (v, r) = rest.split_at(e.valid_up_to());
                (std::str::from_utf8(v).unwrap_or(""), Some(r))
            }
        };
        for c in valid.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    if (c as u32) < 0x100 {
                        out.push_str(&format!("\\x{:02x}", c as u32));
                    } else {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    }
                }
                c => out.push(c),
            }
        }
        match bad {
            Some(r) => {
                out.push_str(&format!("\\x{:02x}", r[0]));
                rest = &r[1..];
            }
            None => rest = &[],
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::format_value;

    #[test]
    fn values_print_as_go_prints_them() {
        for (v, want) in [
            (0.5, "0.5"),
            (1e21, "1000000000000000000000"),
            (123.456, "123.456"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-2.5e-7, "-0.00000025"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(format_value(v), want, "{v:e}");
        }
    }

    /// Regression: a counter summed from 32-bit floats held 104.504547119140625, exactly
    /// halfway between two 17-digit decimals; Prometheus answers ...062 (Go rounds to
    /// even), Pharos answered ...063, and the remote_write comparison with a real
    /// Prometheus failed on it now and then.
    #[test]
    // The literal is the exact binary value the regression is about, digits and all.
    #[allow(clippy::excessive_precision)]
    fn a_value_halfway_between_two_shortest_decimals_rounds_to_even() {
        assert_eq!(format_value(104.504547119140625), "104.50454711914062");
        assert_eq!(format_value(-104.504547119140625), "-104.50454711914062");
    }
}
