//! Answering LogQL from the store: the index narrows (selector equalities, positive line
//! filters), each candidate is read and checked with LogQL's exact semantics, then log
//! queries become streams and metric queries series evaluated at every step. Every query
//! is bounded: lines returned, candidates and lines read, series, points and time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pharos_model::LogEntry;
use tantivy::TantivyDocument;

use super::labels::{entry_labels, narrowing, selector_holds};
use super::pipeline::{self, Processed};
use super::{
    AggregateOp, BinaryOp, Expr, Grouping, Labels, LineTest, LogExpr, Logql, MatchOp, MetricExpr,
    RangeFunc, Stage,
};
use crate::collect::AllHits;
use crate::error::LogStoreError;
use crate::query::{IndexQuery, Node};
use crate::search::{TimeRange, decode_entry, within};
use crate::store::LogStore;

/// Which end of the range a log query starts from (`direction=backward` is newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// What every LogQL request may cost.
#[derive(Debug, Clone)]
pub struct LogqlLimits {
    /// Lines a log query returns at most (the request's `limit` is capped to it).
    pub max_lines: usize,
    /// Candidates the index may return for one day of one selector.
    pub max_candidates: usize,
    /// Lines read and checked per query.
    pub max_lines_read: usize,
    /// Series in an answer, and in any step of a metric query.
    pub max_series: usize,
    /// Steps of a range query (Loki's and Prometheus's 11,000).
    pub max_points: usize,
    pub timeout: Duration,
}

impl Default for LogqlLimits {
    fn default() -> Self {
        LogqlLimits {
            max_lines: 5000,
            max_candidates: 2_000_000,
            max_lines_read: 1_000_000,
            max_series: 5000,
            max_points: 11_000,
            timeout: Duration::from_secs(60),
        }
    }
}

/// One query: `[start, end]` in Unix nanoseconds; a range query evaluates metric queries
/// every `step_ns`, an instant query once at `end`.
#[derive(Debug, Clone)]
pub struct LogqlRequest {
    pub start_ns: i64,
    pub end_ns: i64,
    pub step_ns: i64,
    pub instant: bool,
    pub limit: usize,
    pub direction: Direction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogqlStream {
    pub labels: Labels,
    /// `(time ns, line)` in the request's direction.
    pub values: Vec<(i64, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub labels: Labels,
    /// `(time ns, value)`, oldest first; steps without a value are left out.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryAnswer {
    Streams(Vec<LogqlStream>),
    /// An instant metric query: each series has one point.
    Vector(Vec<MetricSeries>),
    Matrix(Vec<MetricSeries>),
    /// `(time ns, value)`.
    Scalar(i64, f64),
}

/// What a query read, for Loki's `stats` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryStats {
    pub lines_read: u64,
    pub bytes_read: u64,
    pub exec_seconds: f64,
}

/// `index/stats`: what a selector matches in a range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexStats {
    pub streams: u64,
    pub chunks: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// Lines `index/stats` counts at most: an estimate must come back while the user types.
pub const INDEX_STATS_LINES: usize = 100_000;

/// A query that went over one of its bounds; the message says which and what to do.
fn too_much(message: String) -> LogStoreError {
    LogStoreError::TooExpensive(message)
}

struct Budget<'a> {
    limits: &'a LogqlLimits,
    deadline: Instant,
    stats: QueryStats,
}

impl Budget<'_> {
    fn read(&mut self, entry: &LogEntry) -> Result<(), LogStoreError> {
        self.stats.lines_read += 1;
        self.stats.bytes_read += entry.message.len() as u64;
        if self.stats.lines_read > self.limits.max_lines_read as u64 {
            return Err(too_much(format!(
                "the query reads more than {} lines; narrow the selector, add a line filter or shorten the range",
                self.limits.max_lines_read
            )));
        }
        if self.stats.lines_read.is_multiple_of(256) && Instant::now() > self.deadline {
            return Err(LogStoreError::Timeout(self.limits.timeout));
        }
        Ok(())
    }
}

impl LogStore {
    /// Answers a LogQL query. Blocking: call it from `spawn_blocking`.
    pub fn logql(
        &self,
        query: &Logql,
        req: &LogqlRequest,
        limits: &LogqlLimits,
    ) -> Result<(QueryAnswer, QueryStats), LogStoreError> {
        let started = Instant::now();
        if req.end_ns < req.start_ns {
            return Err(LogStoreError::BadRange);
        }
        let mut budget = Budget {
            limits,
            deadline: started + limits.timeout,
            stats: QueryStats::default(),
        };
        let answer = match &query.expr {
            Expr::Log(log) => {
                QueryAnswer::Streams(self.log_query(log, req, limits, &mut budget)?)
            }
            Expr::Metric(m) => {
                let steps = Steps::of(req, limits)?;
                let value = Evaluator {
                    store: self,
                    steps: &steps,
                    budget: &mut budget,
                }
                .eval(m, None)?;
                steps.answer(value, req.instant, limits)?
            }
        };
        budget.stats.exec_seconds = started.elapsed().as_secs_f64();
        Ok((answer, budget.stats))
    }

    fn log_query(
        &self,
        log: &LogExpr,
        req: &LogqlRequest,
        limits: &LogqlLimits,
        budget: &mut Budget<'_>,
    ) -> Result<Vec<LogqlStream>, LogStoreError> {
        let limit = req.limit.clamp(1, limits.max_lines);
        let mut streams: BTreeMap<Labels, Vec<(i64, String)>> = BTreeMap::new();
        let mut n = 0;
        // Loki's range for lines is [start, end).
        self.scan(
            log,
            req.start_ns,
            req.end_ns,
            req.direction,
            budget,
            &mut |t, _, p| {
                streams.entry(p.labels).or_default().push((t, p.line));
                n += 1;
                n < limit
            },
        )?;
        Ok(streams
            .into_iter()
            .map(|(labels, values)| LogqlStream { labels, values })
            .collect())
    }

    /// Reads every entry of `[start_ns, end_ns)` the selector and pipeline keep, in the
    /// given order, until `visit` says stop.
    fn scan(
        &self,
        log: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        budget: &mut Budget<'_>,
        visit: &mut dyn FnMut(i64, &LogEntry, Processed) -> bool,
    ) -> Result<(), LogStoreError> {
        if end_ns <= start_ns {
            return Ok(());
        }
        let schema = &self.shared.schema;
        let narrow = narrowing(&log.selector, leading_line_filters(&log.stages));
        let iq = IndexQuery::build(&narrow, schema);
        let mut partitions = self.partitions_between(start_ns, end_ns);
        if direction == Direction::Forward {
            partitions.reverse();
        }
        let cap = budget.limits.max_candidates;
        for p in partitions {
            let searcher = p.reader.searcher();
            let q = within(iq.query.box_clone(), schema, start_ns, end_ns);
            let seen = Arc::new(AtomicUsize::new(0));
            let mut hits = searcher.search(
                &q,
                &AllHits {
                    cap,
                    seen: seen.clone(),
                },
            )?;
            if seen.load(Ordering::Relaxed) > cap {
                return Err(too_much(format!(
                    "the selector matches more than {cap} lines in one day; narrow it (an equality on service or level) or shorten the range"
                )));
            }
            match direction {
                Direction::Forward => hits.sort_unstable_by_key(|h| (h.0, h.1)),
                Direction::Backward => hits.sort_unstable_by_key(|h| std::cmp::Reverse((h.0, h.1))),
            }
            for (t, _, addr) in hits {
                let doc: TantivyDocument = searcher.doc(addr)?;
                let Some(entry) = decode_entry(&doc, schema.raw) else {
                    continue;
                };
                budget.read(&entry)?;
                let labels = entry_labels(&entry);
                if !log
                    .selector
                    .iter()
                    .all(|m| selector_holds(m, &labels, &entry))
                {
                    continue;
                }
                let Some(processed) = pipeline::run(&log.stages, &entry, labels) else {
                    continue;
                };
                if !visit(t, &entry, processed) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Label names of the lines a selector matches (every line when `None`), read from
    /// the newest `sample` of them in the range.
    pub fn logql_label_names(
        &self,
        selector: Option<&Logql>,
        range: TimeRange,
        sample: usize,
    ) -> Result<Vec<String>, LogStoreError> {
        let mut names = std::collections::BTreeSet::new();
        self.sample_labels(selector, range, sample, &mut |labels| {
            names.extend(labels.keys().cloned());
        })?;
        Ok(names.into_iter().collect())
    }

    /// Values of one label among the newest `sample` matching lines, sorted.
    pub fn logql_label_values(
        &self,
        name: &str,
        selector: Option<&Logql>,
        range: TimeRange,
        sample: usize,
    ) -> Result<Vec<String>, LogStoreError> {
        let mut values = std::collections::BTreeSet::new();
        self.sample_labels(selector, range, sample, &mut |labels| {
            if let Some(v) = labels.get(name) {
                values.insert(v.clone());
            }
        })?;
        Ok(values.into_iter().collect())
    }

    /// Distinct label sets among the newest `sample` lines each selector matches.
    pub fn logql_series(
        &self,
        selectors: &[Logql],
        range: TimeRange,
        sample: usize,
        max_series: usize,
    ) -> Result<Vec<Labels>, LogStoreError> {
        let mut seen = std::collections::BTreeSet::new();
        let all = [None];
        let list: Vec<Option<&Logql>> = if selectors.is_empty() {
            all.to_vec()
        } else {
            selectors.iter().map(Some).collect()
        };
        for sel in list {
            self.sample_labels(sel, range, sample, &mut |labels| {
                if seen.len() < max_series {
                    seen.insert(labels.clone());
                }
            })?;
        }
        Ok(seen.into_iter().collect())
    }

    /// Lines, bytes and streams a selector matches in a range (Grafana's query size
    /// estimate, asked on every edit of a query), counted over the newest
    /// [`INDEX_STATS_LINES`] at most.
    pub fn logql_index_stats(
        &self,
        selector: Option<&Logql>,
        range: TimeRange,
        limits: &LogqlLimits,
    ) -> Result<IndexStats, LogStoreError> {
        let mut stats = IndexStats::default();
        let mut streams = std::collections::HashSet::new();
        let everything = LogExpr {
            selector: Vec::new(),
            stages: Vec::new(),
        };
        let log = match selector {
            Some(q) => q.log_expr()?,
            None => &everything,
        };
        let mut budget = Budget {
            limits,
            deadline: Instant::now() + limits.timeout,
            stats: QueryStats::default(),
        };
        let (start, end) = range_ns(range);
        let reach = limits.max_lines_read.min(INDEX_STATS_LINES);
        let mut n = 0;
        self.scan(
            log,
            start,
            end,
            Direction::Backward,
            &mut budget,
            &mut |_, e, p| {
                stats.entries += 1;
                stats.bytes += e.message.len() as u64;
                streams.insert(stream_key(&p.labels));
                n += 1;
                n < reach
            },
        )?;
        stats.streams = streams.len() as u64;
        stats.chunks = self.partitions_between(start, end).len() as u64;
        Ok(stats)
    }

    fn sample_labels(
        &self,
        selector: Option<&Logql>,
        range: TimeRange,
        sample: usize,
        f: &mut dyn FnMut(&Labels),
    ) -> Result<(), LogStoreError> {
        let everything = LogExpr {
            selector: Vec::new(),
            stages: Vec::new(),
        };
        let log = match selector {
            Some(q) => q.log_expr()?,
            None => &everything,
        };
        let limits = LogqlLimits::default();
        let mut budget = Budget {
            limits: &limits,
            deadline: Instant::now() + limits.timeout,
            stats: QueryStats::default(),
        };
        let (start, end) = range_ns(range);
        let mut n = 0;
        self.scan(
            log,
            start,
            end,
            Direction::Backward,
            &mut budget,
            &mut |_, _, p| {
                f(&p.labels);
                n += 1;
                n < sample
            },
        )
    }
}

/// The built-in part of a label set (what Loki would call the stream, without fields).
fn stream_key(labels: &Labels) -> Vec<(String, String)> {
    ["service", "level", "logger", "host", "source"]
        .iter()
        .filter_map(|k| labels.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

fn range_ns(range: TimeRange) -> (i64, i64) {
    (
        crate::partition::time_ns(range.start),
        crate::partition::time_ns(range.end),
    )
}

/// The line filters before the first parser or formatter test the stored message, so
/// the positive ones can narrow the index search (a superset: re-checked exactly).
fn leading_line_filters(stages: &[Stage]) -> Vec<Node> {
    let mut out = Vec::new();
    for s in stages {
        let Stage::LineFilter { negated, tests } = s else {
            break;
        };
        if *negated {
            continue;
        }
        let nodes: Vec<Node> = tests
            .iter()
            .filter_map(|t| {
                let pattern = match t {
                    LineTest::Contains(s) => regex::escape(s),
                    LineTest::Regex(r) => r.as_str().to_string(),
                };
                regex::RegexBuilder::new(&pattern)
                    .size_limit(1 << 20)
                    .build()
                    .ok()
                    .map(Node::MessageRegex)
            })
            .collect();
        if nodes.len() == tests.len() {
            out.push(if nodes.len() == 1 {
                nodes.into_iter().next().unwrap_or_default()
            } else {
                Node::Or(nodes)
            });
        }
    }
    out
}

// ---- metric queries ----

struct Steps {
    start_ns: i64,
    step_ns: i64,
    count: usize,
}

impl Steps {
    fn of(req: &LogqlRequest, limits: &LogqlLimits) -> Result<Steps, LogStoreError> {
        if req.instant {
            return Ok(Steps {
                start_ns: req.end_ns,
                step_ns: 1,
                count: 1,
            });
        }
        if req.step_ns <= 0 {
            return Err(LogStoreError::BadRequest(
                "zero or negative query resolution step widths are not accepted; use a positive step".into(),
            ));
        }
        let count = ((req.end_ns - req.start_ns) / req.step_ns) as u128 + 1;
        if count > limits.max_points as u128 {
            return Err(LogStoreError::BadRequest(format!(
                "exceeded maximum resolution of {} points per time series; try increasing the value of the step parameter",
                limits.max_points
            )));
        }
        Ok(Steps {
            start_ns: req.start_ns,
            step_ns: req.step_ns,
            count: count as usize,
        })
    }

    fn at(&self, i: usize) -> i64 {
        self.start_ns + self.step_ns * i as i64
    }

    fn answer(
        &self,
        value: Value,
        instant: bool,
        limits: &LogqlLimits,
    ) -> Result<QueryAnswer, LogStoreError> {
        let series = match value {
            Value::Scalar(v) if instant => return Ok(QueryAnswer::Scalar(self.at(0), v[0])),
            Value::Scalar(v) => vec![Series {
                labels: Labels::new(),
                points: v.into_iter().enumerate().collect(),
            }],
            Value::Vector(s) => s,
        };
        if series.len() > limits.max_series {
            return Err(too_much(format!(
                "the query answers more than {} series; aggregate with sum by (…) or narrow the selector",
                limits.max_series
            )));
        }
        let mut out: Vec<MetricSeries> = series
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .map(|s| MetricSeries {
                labels: s.labels,
                points: s.points.into_iter().map(|(i, v)| (self.at(i), v)).collect(),
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(if instant {
            QueryAnswer::Vector(out)
        } else {
            QueryAnswer::Matrix(out)
        })
    }
}

/// Values of a series by step index, only the steps that have one, in step order.
#[derive(Debug, Clone)]
struct Series {
    labels: Labels,
    points: Vec<(usize, f64)>,
}

enum Value {
    /// One value per step.
    Scalar(Vec<f64>),
    Vector(Vec<Series>),
}

struct Evaluator<'a, 'b> {
    store: &'a LogStore,
    steps: &'a Steps,
    budget: &'a mut Budget<'b>,
}

impl Evaluator<'_, '_> {
    /// `project`: the grouping of a `sum` right above a range aggregation, applied while
    /// counting so lines with many distinct labels never become series of their own.
    fn eval(&mut self, e: &MetricExpr, project: Option<&Grouping>) -> Result<Value, LogStoreError> {
        match e {
            MetricExpr::Number(n) => Ok(Value::Scalar(vec![*n; self.steps.count])),
            MetricExpr::Vector(n) => Ok(Value::Vector(vec![Series {
                labels: Labels::new(),
                points: (0..self.steps.count).map(|i| (i, *n)).collect(),
            }])),
            MetricExpr::Range {
                func,
                log,
                range_ns,
                offset_ns,
                param,
                grouping,
            } => {
                let window = Window {
                    func: *func,
                    range_ns: *range_ns,
                    offset_ns: *offset_ns,
                    param: *param,
                };
                self.range(window, log, grouping.as_ref(), project)
            }
            MetricExpr::Aggregate {
                op,
                param,
                grouping,
                inner,
            } => {
                let push = match (op, inner.as_ref()) {
                    (AggregateOp::Sum, MetricExpr::Range { func, .. })
                        if *func != RangeFunc::AbsentOverTime && !func.over_values() =>
                    {
                        Some(grouping.clone().unwrap_or(Grouping {
                            without: false,
                            labels: Vec::new(),
                        }))
                    }
                    _ => None,
                };
                let v = self.eval(inner, push.as_ref())?;
                let Value::Vector(series) = v else {
                    return Err(LogStoreError::BadRequest(
                        "an aggregation needs a vector inside, not a number".into(),
                    ));
                };
                Ok(Value::Vector(aggregate(
                    *op,
                    *param,
                    grouping.as_ref(),
                    series,
                    self.steps.count,
                )))
            }
            MetricExpr::Binary { op, lhs, rhs } => {
                let l = self.eval(lhs, None)?;
                let r = self.eval(rhs, None)?;
                Ok(binary(*op, l, r))
            }
        }
    }

    fn range(
        &mut self,
        w: Window,
        log: &LogExpr,
        own_grouping: Option<&Grouping>,
        project: Option<&Grouping>,
    ) -> Result<Value, LogStoreError> {
        let Window {
            func,
            range_ns,
            offset_ns,
            param,
        } = w;
        let first = self.steps.at(0).saturating_sub(offset_ns);
        let last = self
            .steps
            .at(self.steps.count - 1)
            .saturating_sub(offset_ns);
        // Each step's window is (t - range, t].
        let scan_start = first.saturating_sub(range_ns).saturating_add(1);
        let scan_end = last.saturating_add(1);
        let max_series = self.budget.limits.max_series;
        let mut groups: HashMap<Labels, Vec<(i64, u64, f64)>> = HashMap::new();
        let values = func.over_values();
        let mut too_many = false;
        self.store.scan(
            log,
            scan_start,
            scan_end,
            Direction::Forward,
            self.budget,
            &mut |t, _, p| {
                let value = match (values, p.value) {
                    (true, None) => return true,
                    (_, v) => v.unwrap_or(0.0),
                };
                let mut labels = p.labels;
                if let Some(g) = own_grouping {
                    labels = group_labels(&labels, Some(g));
                }
                if let Some(g) = project {
                    labels = group_labels(&labels, Some(g));
                }
                let sample = (t, p.line.len() as u64, value);
                let n = groups.len();
                match groups.get_mut(&labels) {
                    Some(v) => v.push(sample),
                    None if n >= max_series => {
                        too_many = true;
                        return false;
                    }
                    None => {
                        groups.insert(labels, vec![sample]);
                    }
                }
                true
            },
        )?;
        if too_many {
            return Err(too_much(format!(
                "the range aggregation makes more than {max_series} series; aggregate with sum by (…) or narrow the selector"
            )));
        }
        let secs = range_ns as f64 / 1e9;
        if func == RangeFunc::AbsentOverTime {
            return Ok(Value::Vector(self.absent(log, groups, range_ns, offset_ns)));
        }
        let mut out = Vec::with_capacity(groups.len());
        let mut work = 0usize;
        for (labels, mut lines) in groups {
            lines.sort_unstable_by_key(|l| l.0);
            let mut points = Vec::new();
            let (mut lo, mut hi) = (0usize, 0usize);
            let mut bytes: u64 = 0;
            for i in 0..self.steps.count {
                let t = self.steps.at(i).saturating_sub(offset_ns);
                while hi < lines.len() && lines[hi].0 <= t {
                    bytes += lines[hi].1;
                    hi += 1;
                }
                while lo < hi && lines[lo].0 <= t.saturating_sub(range_ns) {
                    bytes -= lines[lo].1;
                    lo += 1;
                }
                let count = hi - lo;
                if count == 0 {
                    continue;
                }
                let v = match func {
                    RangeFunc::CountOverTime => count as f64,
                    RangeFunc::Rate => count as f64 / secs,
                    RangeFunc::BytesOverTime => bytes as f64,
                    RangeFunc::BytesRate => bytes as f64 / secs,
                    RangeFunc::AbsentOverTime => 1.0,
                    _ => {
                        work += count;
                        if work > MAX_WINDOW_WORK {
                            return Err(too_much(format!(
                                "the query visits more than {MAX_WINDOW_WORK} samples across its steps; use a larger step or a shorter range"
                            )));
                        }
                        over_values(func, param, &lines[lo..hi])
                    }
                };
                points.push((i, v));
            }
            out.push(Series { labels, points });
        }
        Ok(Value::Vector(out))
    }

    /// `absent_over_time`: 1 at the steps where no line was in the window, labelled with
    /// the selector's equality matchers, as in Loki.
    fn absent(
        &self,
        log: &LogExpr,
        groups: HashMap<Labels, Vec<(i64, u64, f64)>>,
        range_ns: i64,
        offset_ns: i64,
    ) -> Vec<Series> {
        let mut times: Vec<i64> = groups.values().flatten().map(|l| l.0).collect();
        times.sort_unstable();
        let mut points = Vec::new();
        for i in 0..self.steps.count {
            let t = self.steps.at(i).saturating_sub(offset_ns);
            let from = times.partition_point(|x| *x <= t.saturating_sub(range_ns));
            let to = times.partition_point(|x| *x <= t);
            if to == from {
                points.push((i, 1.0));
            }
        }
        let labels = log
            .selector
            .iter()
            .filter(|m| m.op == MatchOp::Eq)
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect();
        vec![Series { labels, points }]
    }
}

/// The samples a range function over values reads, summed over every step of a query
/// (a 1 h window at a 1 s step reads each sample 3,600 times).
const MAX_WINDOW_WORK: usize = 50_000_000;

#[derive(Clone, Copy)]
struct Window {
    func: RangeFunc,
    range_ns: i64,
    offset_ns: i64,
    param: Option<f64>,
}

/// A function over the unwrapped values of one window, oldest first.
fn over_values(func: RangeFunc, param: Option<f64>, window: &[(i64, u64, f64)]) -> f64 {
    let n = window.len() as f64;
    let values = window.iter().map(|s| s.2);
    let sum: f64 = values.clone().sum();
    let mean = sum / n;
    let var = values.clone().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    match func {
        RangeFunc::SumOverTime => sum,
        RangeFunc::AvgOverTime => mean,
        RangeFunc::MinOverTime => values.fold(f64::INFINITY, f64::min),
        RangeFunc::MaxOverTime => values.fold(f64::NEG_INFINITY, f64::max),
        RangeFunc::FirstOverTime => window[0].2,
        RangeFunc::LastOverTime => window[window.len() - 1].2,
        RangeFunc::StdvarOverTime => var,
        RangeFunc::StddevOverTime => var.sqrt(),
        RangeFunc::QuantileOverTime => {
            let q = param.unwrap_or(0.5);
            if q < 0.0 {
                return f64::NEG_INFINITY;
            }
            if q > 1.0 {
                return f64::INFINITY;
            }
            let mut sorted: Vec<f64> = values.collect();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            // Prometheus's quantile: linear between the two closest ranks.
            let rank = q * (n - 1.0);
            let lo = rank.floor() as usize;
            let hi = (lo + 1).min(sorted.len() - 1);
            let w = rank - rank.floor();
            sorted[lo] * (1.0 - w) + sorted[hi] * w
        }
        _ => n,
    }
}

fn group_labels(labels: &Labels, g: Option<&Grouping>) -> Labels {
    match g {
        None => Labels::new(),
        Some(g) if g.without => labels
            .iter()
            .filter(|(k, _)| !g.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(g) => labels
            .iter()
            .filter(|(k, _)| g.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn aggregate(
    op: AggregateOp,
    param: Option<f64>,
    grouping: Option<&Grouping>,
    series: Vec<Series>,
    steps: usize,
) -> Vec<Series> {
    if matches!(op, AggregateOp::Topk | AggregateOp::Bottomk) {
        return top(
            op == AggregateOp::Topk,
            param.unwrap_or(1.0) as usize,
            grouping,
            series,
            steps,
        );
    }
    // Group index per series, then per step fold the values of each group.
    let mut keys: Vec<Labels> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut member: Vec<usize> = Vec::with_capacity(series.len());
    for s in &series {
        let key = group_labels(&s.labels, grouping);
        let i = *index.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            keys.len() - 1
        });
        member.push(i);
    }
    // (count, sum, min, max, sum of squares) per group and step.
    let mut acc: Vec<HashMap<usize, [f64; 5]>> = vec![HashMap::new(); keys.len()];
    for (s, g) in series.iter().zip(&member) {
        for (i, v) in &s.points {
            let a = acc[*g]
                .entry(*i)
                .or_insert([0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, 0.0]);
            a[0] += 1.0;
            a[1] += v;
            a[2] = a[2].min(*v);
            a[3] = a[3].max(*v);
            a[4] += v * v;
        }
    }
    keys.into_iter()
        .zip(acc)
        .map(|(labels, steps_acc)| {
            let mut points: Vec<(usize, f64)> = steps_acc
                .into_iter()
                .map(|(i, a)| {
                    let mean = a[1] / a[0];
                    let var = (a[4] / a[0] - mean * mean).max(0.0);
                    let v = match op {
                        AggregateOp::Sum => a[1],
                        AggregateOp::Avg => mean,
                        AggregateOp::Min => a[2],
                        AggregateOp::Max => a[3],
                        AggregateOp::Count => a[0],
                        AggregateOp::Stdvar => var,
                        AggregateOp::Stddev => var.sqrt(),
                        AggregateOp::Topk | AggregateOp::Bottomk => a[1],
                    };
                    (i, v)
                })
                .collect();
            points.sort_unstable_by_key(|p| p.0);
            Series { labels, points }
        })
        .collect()
}

fn top(
    highest: bool,
    k: usize,
    grouping: Option<&Grouping>,
    series: Vec<Series>,
    steps: usize,
) -> Vec<Series> {
    let groups: Vec<Labels> = series
        .iter()
        .map(|s| group_labels(&s.labels, grouping))
        .collect();
    let mut kept: Vec<Vec<(usize, f64)>> = vec![Vec::new(); series.len()];
    let mut by_step: Vec<Vec<(usize, f64)>> = vec![Vec::new(); steps];
    for (si, s) in series.iter().enumerate() {
        for (i, v) in &s.points {
            by_step[*i].push((si, *v));
        }
    }
    for (i, mut members) in by_step.into_iter().enumerate() {
        members.sort_by(|a, b| {
            let o = a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal);
            if highest { o.reverse() } else { o }
        });
        let mut taken: HashMap<&Labels, usize> = HashMap::new();
        for (si, v) in members {
            let n = taken.entry(&groups[si]).or_insert(0);
            if *n < k {
                *n += 1;
                kept[si].push((i, v));
            }
        }
    }
    series
        .into_iter()
        .zip(kept)
        .map(|(s, points)| Series {
            labels: s.labels,
            points,
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

fn apply(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => a % b,
        BinaryOp::Pow => a.powf(b),
    }
}

/// Arithmetic: number with number, a vector with a number (each point), and vector with
/// vector on identical label sets (one-to-one, as Prometheus matches without `on`).
fn binary(op: BinaryOp, l: Value, r: Value) -> Value {
    match (l, r) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            Value::Scalar(a.iter().zip(&b).map(|(x, y)| apply(op, *x, *y)).collect())
        }
        (Value::Vector(v), Value::Scalar(s)) => Value::Vector(
            v.into_iter()
                .map(|mut series| {
                    for p in &mut series.points {
                        p.1 = apply(op, p.1, s[p.0]);
                    }
                    series
                })
                .collect(),
        ),
        (Value::Scalar(s), Value::Vector(v)) => Value::Vector(
            v.into_iter()
                .map(|mut series| {
                    for p in &mut series.points {
                        p.1 = apply(op, s[p.0], p.1);
                    }
                    series
                })
                .collect(),
        ),
        (Value::Vector(a), Value::Vector(b)) => {
            let right: HashMap<&Labels, &Series> = b.iter().map(|s| (&s.labels, s)).collect();
            Value::Vector(
                a.iter()
                    .filter_map(|ls| {
                        let rs = right.get(&ls.labels)?;
                        let rp: HashMap<usize, f64> = rs.points.iter().copied().collect();
                        let points = ls
                            .points
                            .iter()
                            .filter_map(|(i, x)| rp.get(i).map(|y| (*i, apply(op, *x, *y))))
                            .collect();
                        Some(Series {
                            labels: ls.labels.clone(),
                            points,
                        })
                    })
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LogSettings;
    use chrono::{DateTime, Utc};
    use pharos_model::{LogLevel, LogSource};
    use std::sync::Arc;

    const T0: i64 = 1_780_000_000_000_000_000;
    const SEC: i64 = 1_000_000_000;

    fn at(ns: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(ns)
    }

    fn line(service: &str, level: LogLevel, secs: i64, msg: &str) -> LogEntry {
        let mut e = LogEntry::new(service, LogSource::Loki, at(T0 + secs * SEC), msg);
        e.level = Some(level);
        e
    }

    fn store_with(lines: Vec<LogEntry>) -> (tempfile::TempDir, Arc<LogStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), LogSettings::default()).unwrap();
        store.append_blocking(lines).unwrap();
        store.flush().unwrap();
        (dir, store)
    }

    fn sample() -> Vec<LogEntry> {
        vec![
            line("api", LogLevel::Info, 0, "GET /a took 12ms"),
            line(
                "api",
                LogLevel::Error,
                10,
                r#"{"status": 503, "path": "/b"}"#,
            ),
            line("api", LogLevel::Error, 20, "connection timeout to db"),
            line("web", LogLevel::Warning, 30, "slow Timeout render"),
            line("api", LogLevel::Info, 70, "GET /c took 900ms"),
        ]
    }

    fn range(q: &str, start: i64, end: i64, step: i64) -> QueryAnswer {
        let (_d, store) = store_with(sample());
        let req = LogqlRequest {
            start_ns: T0 + start * SEC,
            end_ns: T0 + end * SEC,
            step_ns: step * SEC,
            instant: false,
            limit: 100,
            direction: Direction::Backward,
        };
        store
            .logql(&Logql::parse(q).unwrap(), &req, &LogqlLimits::default())
            .unwrap()
            .0
    }

    fn lines(a: &QueryAnswer) -> Vec<String> {
        let QueryAnswer::Streams(s) = a else {
            panic!("not streams: {a:?}")
        };
        let mut all: Vec<(i64, String)> = s.iter().flat_map(|s| s.values.clone()).collect();
        all.sort_by_key(|v| std::cmp::Reverse(v.0));
        all.into_iter().map(|v| v.1).collect()
    }

    #[test]
    fn log_queries_select_filter_and_group_into_streams() {
        let a = range(r#"{service="api", level="error"}"#, 0, 100, 1);
        assert_eq!(
            lines(&a),
            vec![
                "connection timeout to db",
                r#"{"status": 503, "path": "/b"}"#
            ]
        );
        let a = range(r#"{level=~"error|warning"} |= "timeout""#, 0, 100, 1);
        assert_eq!(
            lines(&a),
            vec!["connection timeout to db"],
            "|= is case-sensitive"
        );
        let a = range(r#"{job="api"} | json | status >= 500"#, 0, 100, 1);
        assert_eq!(lines(&a).len(), 1);
        let a = range(
            r#"{service="api"} | regexp "took (?P<ms>\\d+)ms" | ms > 100 | line_format "{{.ms}}""#,
            0,
            100,
            1,
        );
        assert_eq!(lines(&a), vec!["900"]);
        let QueryAnswer::Streams(s) = range(r#"{service=~"api|web"}"#, 0, 100, 1) else {
            panic!()
        };
        assert_eq!(
            s.len(),
            3,
            "streams by label set: api/info, api/error, web/warning"
        );
    }

    #[test]
    fn forward_and_limit_take_the_oldest() {
        let (_d, store) = store_with(sample());
        let req = LogqlRequest {
            start_ns: T0,
            end_ns: T0 + 100 * SEC,
            step_ns: SEC,
            instant: false,
            limit: 2,
            direction: Direction::Forward,
        };
        let (a, _) = store
            .logql(
                &Logql::parse(r#"{source="loki"}"#).unwrap(),
                &req,
                &LogqlLimits::default(),
            )
            .unwrap();
        let mut l = lines(&a);
        l.reverse();
        assert_eq!(
            l,
            vec!["GET /a took 12ms", r#"{"status": 503, "path": "/b"}"#]
        );
    }

    #[test]
    fn metric_queries_count_per_window_and_aggregate() {
        let QueryAnswer::Matrix(m) = range(
            r#"sum by (level) (count_over_time({service="api"}[1m]))"#,
            60,
            120,
            60,
        ) else {
            panic!()
        };
        // At t=60: (0, 60] holds 10s, 20s (errors; 0s is outside). At t=120: 70s (info).
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].labels["level"], "error");
        assert_eq!(m[0].points, vec![(T0 + 60 * SEC, 2.0)]);
        assert_eq!(m[1].labels["level"], "info");
        assert_eq!(m[1].points, vec![(T0 + 120 * SEC, 1.0)]);
        let QueryAnswer::Matrix(m) = range(r#"sum(rate({service="api"}[1m])) * 60"#, 60, 60, 1)
        else {
            panic!()
        };
        assert_eq!(m[0].points[0].1, 2.0);
        let QueryAnswer::Matrix(m) = range(
            r#"topk(1, sum by (service) (count_over_time({source="loki"}[2m])))"#,
            100,
            100,
            1,
        ) else {
            panic!()
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].labels["service"], "api");
        let QueryAnswer::Matrix(m) = range(r#"bytes_over_time({service="web"}[1m])"#, 31, 31, 1)
        else {
            panic!()
        };
        assert_eq!(m[0].points[0].1, "slow Timeout render".len() as f64);
    }

    #[test]
    fn unwrapped_values_feed_the_functions_over_values() {
        let q = |f: &str| {
            format!(r#"{f}({{service="api"}} | regexp "took (?P<ms>\\d+)ms" | unwrap ms [2m])"#)
        };
        let value = |query: String| {
            let QueryAnswer::Matrix(m) = range(&query, 100, 100, 1) else {
                panic!()
            };
            assert_eq!(m.len(), 1, "{query}: {m:?}");
            assert!(
                !m[0].labels.contains_key("ms"),
                "the unwrapped label is removed"
            );
            m[0].points[0].1
        };
        // (−20 s, 100 s] holds 12 ms (0 s) and 900 ms (70 s); the error lines have no `ms`.
        assert_eq!(value(q("avg_over_time")), 456.0);
        assert_eq!(value(q("max_over_time")), 900.0);
        assert_eq!(value(q("first_over_time")), 12.0);
        assert_eq!(
            value(q("quantile_over_time(0.5, ").replace("(0.5, (", "(0.5, ")),
            456.0
        );
        let QueryAnswer::Matrix(m) =
            range(&format!("{} by (level)", q("sum_over_time")), 100, 100, 1)
        else {
            panic!()
        };
        assert_eq!(m[0].labels.len(), 1);
        assert_eq!(m[0].labels["level"], "info");
        assert_eq!(m[0].points[0].1, 912.0);
    }

    #[test]
    fn grafanas_health_check_adds_two_vectors() {
        let (_d, store) = store_with(vec![]);
        let req = LogqlRequest {
            start_ns: 4 * SEC,
            end_ns: 4 * SEC,
            step_ns: SEC,
            instant: true,
            limit: 100,
            direction: Direction::Backward,
        };
        let (a, _) = store
            .logql(
                &Logql::parse("vector(1)+vector(1)").unwrap(),
                &req,
                &LogqlLimits::default(),
            )
            .unwrap();
        let QueryAnswer::Vector(v) = a else { panic!() };
        assert_eq!(v[0].points, vec![(4 * SEC, 2.0)]);
    }

    #[test]
    fn bounds_refuse_too_many_points_and_series() {
        let (_d, store) = store_with(sample());
        let req = LogqlRequest {
            start_ns: 0,
            end_ns: T0,
            step_ns: SEC,
            instant: false,
            limit: 100,
            direction: Direction::Backward,
        };
        let q = Logql::parse(r#"count_over_time({service="api"}[1m])"#).unwrap();
        let e = store.logql(&q, &req, &LogqlLimits::default()).unwrap_err();
        assert!(e.to_string().contains("11000 points"), "{e}");
        let req = LogqlRequest {
            start_ns: T0,
            end_ns: T0 + 100 * SEC,
            step_ns: 10 * SEC,
            ..req
        };
        let limits = LogqlLimits {
            max_series: 1,
            ..LogqlLimits::default()
        };
        let q = Logql::parse(r#"count_over_time({source="loki"}[1m])"#).unwrap();
        assert!(matches!(
            store.logql(&q, &req, &limits),
            Err(LogStoreError::TooExpensive(_))
        ));
        let limits = LogqlLimits {
            max_lines_read: 2,
            ..LogqlLimits::default()
        };
        assert!(matches!(
            store.logql(&q, &req, &limits),
            Err(LogStoreError::TooExpensive(_))
        ));
    }

    #[test]
    fn labels_and_values_come_from_matching_lines() {
        let (_d, store) = store_with(sample());
        let r = TimeRange::new(at(T0), at(T0 + 100 * SEC));
        let names = store.logql_label_names(None, r, 1000).unwrap();
        assert!(names.contains(&"service".to_string()) && names.contains(&"level".to_string()));
        let q = Logql::parse(r#"{service="api"}"#).unwrap();
        let values = store
            .logql_label_values("level", Some(&q), r, 1000)
            .unwrap();
        assert_eq!(values, vec!["error", "info"]);
        let series = store.logql_series(&[q], r, 1000, 100).unwrap();
        assert_eq!(series.len(), 2);
        let stats = store
            .logql_index_stats(None, r, &LogqlLimits::default())
            .unwrap();
        assert_eq!(stats.entries, 5);
    }
}
