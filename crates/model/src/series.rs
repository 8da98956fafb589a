//! Series: the label sets, samples and selectors shared by the sources that produce
//! numbers (scrapes, remote_write, probes, error counts), the time-series store that keeps
//! them, and the PromQL engine that reads them. Times are Unix milliseconds, as in
//! Prometheus.

use std::fmt;

use regex::Regex;

/// The label holding a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// The NaN bit pattern Prometheus writes as a staleness marker: "this series ended here".
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker value.
pub fn stale_marker() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether a value is a staleness marker (not any NaN: a NaN sample is a real value).
pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One label pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A series' identity: label pairs sorted by name, names unique, no empty values (an
/// empty value means "no such label", as in Prometheus).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSet(Vec<Label>);

impl LabelSet {
    /// Builds a label set from pairs in any order; empty values are dropped and, for a
    /// repeated name, the last pair wins.
    pub fn new<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .collect();
        // Stable sort keeps input order among equal names, so "last wins" below holds.
        v.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(v.len());
        for l in v {
            match out.last_mut() {
                Some(last) if last.name == l.name => *last = l,
                _ => out.push(l),
            }
        }
        out.retain(|l| !l.value.is_empty());
        LabelSet(out)
    }

    /// Wraps pairs already sorted by name with unique names and no empty values.
    /// Debug builds check that promise.
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        debug_assert!(labels.iter().all(|l| !l.value.is_empty()));
        LabelSet(labels)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Sets (or with an empty value removes) one label.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].value = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(
                i,
                Label {
                    name: name.to_string(),
                    value,
                },
            ),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.set(name, "");
    }

    /// The same labels without the metric name.
    pub fn without_metric_name(&self) -> LabelSet {
        LabelSet(
            self.0
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }
}

/// Prometheus's notation: `name{a="b", c="d"}`, values escaped as Go's `%q` does for the
/// characters that occur in practice.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        f.write_str(name)?;
        let rest: Vec<&Label> = self.0.iter().filter(|l| l.name != METRIC_NAME).collect();
        if rest.is_empty() && !name.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, l) in rest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// One sample: a time in Unix milliseconds and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// How a matcher compares a label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// A label matcher as in a PromQL selector. A missing label has the value "", so
/// `{job=""}` selects series without `job`. Regexes are anchored at both ends.
#[derive(Clone, Debug)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl LabelMatcher {
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(Regex::new(&format!("^(?s:{value})$"))?),
            _ => None,
        };
        Ok(LabelMatcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        LabelMatcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (`""` for a missing label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == value,
            MatchOp::NotEqual => self.value != value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the matcher selects series that do not have the label at all.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    pub fn matches_labels(&self, labels: &LabelSet) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

/// A series and its samples within a selected time range, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSamples {
    pub labels: LabelSet,
    pub samples: Vec<Sample>,
}

/// Why a selection failed.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// A limit protecting the process was reached; the message names the limit.
    #[error("{0}")]
    Limit(String),
    #[error("storage: {0}")]
    Storage(String),
}

/// What a query may still load. A store charges it with each series' samples as it
/// decodes them, so a selection over the query's limits stops there instead of being
/// loaded whole first.
pub trait LoadBudget {
    /// Takes `samples` more from the budget; an error stops the selection.
    fn charge(&mut self, samples: usize) -> Result<(), SelectError>;
}

/// What the PromQL engine, the HTTP API and the UI read series through. The
/// time-series store implements it; tests implement it over plain vectors.
pub trait SeriesSource: Send + Sync {
    /// Series matching every matcher, with their samples whose time lies in
    /// `[mint, maxt]` (both inclusive). Series with no sample in the range are left out.
    /// Staleness markers are returned as samples (the engine interprets them).
    fn select(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesSamples>, SelectError>;

    /// [`SeriesSource::select`], charging `budget` as samples are loaded. A source
    /// that holds little (a test's vectors) may keep this default, which charges once
    /// everything is loaded; a store overrides it to charge series by series.
    fn select_within(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
        budget: &mut dyn LoadBudget,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        let r = self.select(matchers, mint, maxt)?;
        budget.charge(r.iter().map(|s| s.samples.len()).sum())?;
        Ok(r)
    }

    /// Label sets of the series matching every matcher that have samples in `[mint, maxt]`.
    fn series(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<LabelSet>, SelectError>;

    /// Label names, sorted, of series with samples in `[mint, maxt]` that match every
    /// matcher (all series when `matchers` is empty).
    fn label_names(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError>;

    /// Values, sorted, of one label over the same selection as `label_names`.
    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError>;
}

/// A sample of a series, for sources that write outside a scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSample {
    pub labels: LabelSet,
    /// Unix milliseconds.
    pub t: i64,
    pub v: f64,
}

/// Where sources that make numbers outside a scrape (probe results, host metrics) hand
/// them to the time-series store. Writing is best effort for the caller: the sink
/// reports its own failures, a probe never fails because a series could not be kept.
pub trait SampleSink: Send + Sync {
    fn write(&self, samples: Vec<SeriesSample>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_sort_drop_empty_and_print_as_prometheus() {
        let l = LabelSet::new([
            ("job", "api"),
            ("__name__", "up"),
            ("zone", ""),
            ("instance", "a:1"),
        ]);
        assert_eq!(l.to_string(), r#"up{instance="a:1", job="api"}"#);
        assert_eq!(l.get("job"), Some("api"));
        assert_eq!(l.get("zone"), None);
        let mut m = l.clone();
        m.set("path", "/x\"y");
        m.remove("job");
        assert_eq!(m.to_string(), r#"up{instance="a:1", path="/x\"y"}"#);
        assert_eq!(LabelSet::new([("__name__", "up")]).to_string(), "up");
        assert_eq!(LabelSet::new([("a", "b")]).to_string(), r#"{a="b"}"#);
    }

    #[test]
    fn matchers_treat_missing_as_empty_and_anchor_regexes() {
        let l = LabelSet::new([("job", "api-server")]);
        assert!(
            LabelMatcher::new("job", MatchOp::Regex, "api.*")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            !LabelMatcher::new("job", MatchOp::Regex, "api")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            LabelMatcher::new("zone", MatchOp::Equal, "")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            !LabelMatcher::new("zone", MatchOp::NotEqual, "")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(
            LabelMatcher::new("job", MatchOp::NotRegex, "x|y")
                .unwrap()
                .matches_labels(&l)
        );
        assert!(is_stale_marker(stale_marker()) && !is_stale_marker(f64::NAN));
    }
}
