//! Answering LogQL from the store: the index narrows (selector equalities, positive line
//! filters), each candidate is read and checked with LogQL's exact semantics, then log
//! queries become streams (here) and metric queries series evaluated at every step
//! (`metric.rs`); label names, values, series and the size estimate read the same way.
//! Every query is bounded: lines returned, candidates and lines read, series, points and
//! time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pharos_model::LogEntry;
use tantivy::TantivyDocument;

use super::labels::{entry_labels, narrowing, selector_holds};
use super::metric::{Evaluator, Steps};
use super::pipeline::{self, Processed};
use super::{Expr, Labels, LineTest, LogExpr, Logql, Stage};
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
pub(super) fn too_much(message: String) -> LogStoreError {
    LogStoreError::TooExpensive(message)
}

pub(super) struct Budget<'a> {
    pub limits: &'a LogqlLimits,
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
    pub(super) fn scan(
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
        let QueryAnswer::Matrix(m) = range(
            r#"sum by (level) (count_over_time({service="api"}[1m])) > 1"#,
            60,
            60,
            1,
        ) else {
            panic!()
        };
        assert_eq!(m.len(), 1, "a comparison drops what does not hold");
        assert_eq!(m[0].points[0].1, 2.0, "and keeps the value");
        let QueryAnswer::Matrix(m) = range(
            r#"sum by (level) (count_over_time({service="api"}[1m])) > bool 2"#,
            60,
            60,
            1,
        ) else {
            panic!()
        };
        assert_eq!(
            m[0].points[0].1, 0.0,
            "bool answers 0 where it does not hold"
        );
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
