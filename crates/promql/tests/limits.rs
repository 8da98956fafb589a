//! The engine's limits: samples a query may load, and its time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pharos_model::series::{
    LabelMatcher, LabelSet, LoadBudget, Sample, SelectError, SeriesSamples, SeriesSource,
};
use pharos_promql::memory::MemorySource;
use pharos_promql::{Engine, EngineOptions, ErrorType};

/// A store stand-in that decodes series one by one, counting the samples it decoded.
struct CountingStore {
    inner: MemorySource,
    decoded: AtomicUsize,
}

impl SeriesSource for CountingStore {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        let r = self.inner.select(matchers, mint, maxt)?;
        let n: usize = r.iter().map(|s| s.samples.len()).sum();
        self.decoded.fetch_add(n, Ordering::Relaxed);
        Ok(r)
    }

    fn select_within(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
        budget: &mut dyn LoadBudget,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        let mut out = Vec::new();
        for s in self.inner.select(matchers, mint, maxt)? {
            self.decoded.fetch_add(s.samples.len(), Ordering::Relaxed);
            budget.charge(s.samples.len())?;
            out.push(s);
        }
        Ok(out)
    }

    fn series(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<LabelSet>, SelectError> {
        self.inner.series(matchers, mint, maxt)
    }

    fn label_names(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError> {
        self.inner.label_names(matchers, mint, maxt)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError> {
        self.inner.label_values(name, matchers, mint, maxt)
    }
}

fn series(name: &str, i: usize) -> LabelSet {
    LabelSet::new([("__name__", name.to_string()), ("i", i.to_string())])
}

#[test]
fn a_query_over_max_samples_stops_loading_at_the_limit() {
    let mut inner = MemorySource::new();
    for i in 0..100 {
        inner.add(
            series("x", i),
            (0..100).map(|k| Sample {
                t: k * 1000,
                v: k as f64,
            }),
        );
    }
    let store = CountingStore {
        inner,
        decoded: AtomicUsize::new(0),
    };
    let engine = Engine::new(EngineOptions {
        max_samples: 1000,
        ..EngineOptions::default()
    });
    let err = engine
        .instant_query(&store, "count_over_time(x[5m])", 100_000)
        .expect_err("a query over max_samples fails");
    assert_eq!(err.kind, ErrorType::Execution);
    assert_eq!(
        err.message,
        "query processing would load too many samples into memory in query execution"
    );
    let decoded = store.decoded.load(Ordering::Relaxed);
    assert!(
        decoded <= 1000 + 100,
        "the store decoded {decoded} samples for a query limited to 1000"
    );
}

#[test]
fn a_long_range_query_with_a_costly_function_stops_at_the_timeout() {
    // One sample a second for three hours; the range query has a step per second and
    // sorts a half-hour window at each (about 10,000 × 1,800 values).
    let mut src = MemorySource::new();
    let hours3 = 3 * 3600;
    src.add(
        series("x", 0),
        (0..hours3).map(|k| Sample {
            t: k * 1000,
            v: (k % 97) as f64,
        }),
    );
    let engine = Engine::new(EngineOptions {
        timeout: Duration::from_millis(200),
        ..EngineOptions::default()
    });
    let started = Instant::now();
    let err = engine
        .range_query(
            &src,
            "quantile_over_time(0.5, x[30m])",
            0,
            (hours3 - 1) * 1000,
            1000,
        )
        .err();
    let took = started.elapsed();
    let err = err.unwrap_or_else(|| panic!("answered after {took:?} instead of stopping"));
    assert_eq!(err.kind, ErrorType::Timeout, "{}", err.message);
    assert_eq!(err.message, "query timed out in expression evaluation");
    assert!(took < Duration::from_secs(2), "stopped only after {took:?}");
}

#[test]
fn a_costly_subquery_stops_at_the_timeout() {
    let mut src = MemorySource::new();
    for i in 0..50 {
        src.add(
            series("x", i),
            (0..3600).map(|k| Sample {
                t: k * 1000,
                v: k as f64,
            }),
        );
    }
    let engine = Engine::new(EngineOptions {
        timeout: Duration::from_millis(200),
        ..EngineOptions::default()
    });
    let started = Instant::now();
    let err = engine
        .range_query(
            &src,
            "max_over_time(sum(rate(x[5m]))[30m:1s])",
            1_800_000,
            3_600_000,
            1000,
        )
        .err();
    let took = started.elapsed();
    let err = err.unwrap_or_else(|| panic!("answered after {took:?} instead of stopping"));
    assert_eq!(err.kind, ErrorType::Timeout, "{}", err.message);
    assert!(took < Duration::from_secs(2), "stopped only after {took:?}");
}

#[test]
fn a_query_within_its_limits_is_answered() {
    let mut src = MemorySource::new();
    src.add(
        series("x", 0),
        (0..100).map(|k| Sample {
            t: k * 1000,
            v: 1.0,
        }),
    );
    let engine = Engine::new(EngineOptions {
        max_samples: 1000,
        timeout: Duration::from_secs(10),
        ..EngineOptions::default()
    });
    let r = engine
        .instant_query(&src, "count_over_time(x[5m])", 100_000)
        .unwrap();
    assert_eq!(r.value.to_api_json()["result"][0]["value"][1], "100");
}
