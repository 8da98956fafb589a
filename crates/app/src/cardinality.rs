//! Where the series come from: the report behind `/api/v1/status/tsdb` and
//! `/metrics/cardinality`, including growth. The store tells how many series each metric
//! has and how many were created in the last hour; [`CardinalityHistory`] adds a
//! snapshot a minute, kept in memory, so a label whose values explode (a `user_id` on a
//! counter) shows up within a minute of it starting.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pharos_model::series::{LabelMatcher, METRIC_NAME, SeriesSource};
use pharos_tsdb::{Cardinality, Tsdb};

/// Snapshots kept: one a minute for a quarter of an hour.
const SNAPSHOTS: usize = 16;
/// Metrics whose labels are examined for the one that explodes.
const SUSPECTS: usize = 5;

struct Snapshot {
    at: Instant,
    total: usize,
    metrics: HashMap<String, usize>,
    labels: HashMap<String, usize>,
}

/// How long after start a snapshot is too early to be a baseline: the one taken at start
/// comes before the first scrapes, and growth against it is only the targets' first
/// series coming in.
const WARM_UP: Duration = Duration::from_secs(30);

/// Series counts per metric and value counts per label, once a minute.
pub struct CardinalityHistory {
    started: Instant,
    snapshots: Mutex<VecDeque<Snapshot>>,
}

impl Default for CardinalityHistory {
    fn default() -> Self {
        CardinalityHistory {
            started: Instant::now(),
            snapshots: Mutex::default(),
        }
    }
}

impl CardinalityHistory {
    /// Takes a snapshot a minute until the process ends.
    pub async fn run(self: Arc<Self>, db: Arc<Tsdb>) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let (me, db) = (self.clone(), db.clone());
            let _ = tokio::task::spawn_blocking(move || me.record(&db)).await;
        }
    }

    pub fn record(&self, db: &Tsdb) {
        self.record_from(&db.cardinality(usize::MAX));
    }

    fn record_from(&self, c: &Cardinality) {
        let snap = Snapshot {
            at: Instant::now(),
            total: c.total_series,
            metrics: c.metrics.iter().cloned().collect(),
            labels: c.labels.iter().cloned().collect(),
        };
        let mut s = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        s.push_back(snap);
        while s.len() > SNAPSHOTS {
            s.pop_front();
        }
    }

    /// Records `c` unless a snapshot is less than a minute old (a page view between ticks).
    fn record_if_stale(&self, c: &Cardinality) {
        let fresh = self
            .snapshots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .back()
            .is_some_and(|s| s.at.elapsed() < Duration::from_secs(60));
        if !fresh {
            self.record_from(c);
        }
    }

    /// The oldest snapshot growth is measured against: taken after the warm-up, of a
    /// store that had series.
    fn baseline<'a>(&self, snaps: &'a VecDeque<Snapshot>) -> Option<&'a Snapshot> {
        snaps
            .iter()
            .find(|o| o.total > 0 && o.at.saturating_duration_since(self.started) >= WARM_UP)
    }
}

/// One row of a report: a name and a count, with growth where known.
#[derive(Clone, Debug, PartialEq)]
pub struct Count {
    pub name: String,
    pub value: usize,
    /// Change since the oldest snapshot, and how long ago that was.
    pub growth: Option<(i64, Duration)>,
}

/// A label that has many values on a metric that keeps gaining series.
#[derive(Clone, Debug, PartialEq)]
pub struct Suspect {
    pub metric: String,
    pub series: usize,
    pub new_series_last_hour: usize,
    /// (label, distinct values on this metric), most first.
    pub labels: Vec<(String, usize)>,
    /// Whether the metric really grows: more series than in the oldest snapshot that
    /// counted it, or, before there is one, new series in the last hour on top of series
    /// older than that. A metric first seen on a fresh install has nothing to grow from.
    pub growing: bool,
}

pub struct Report {
    pub total_series: usize,
    pub total_metrics: usize,
    pub total_growth: Option<(i64, Duration)>,
    pub metrics: Vec<Count>,
    pub labels: Vec<Count>,
    pub label_pairs: Vec<Count>,
    /// Metrics by series created in the last hour (the store's own count).
    pub new_last_hour: Vec<Count>,
    /// Metrics by series gained since the oldest snapshot.
    pub growing: Vec<Count>,
    /// The metrics whose labels are examined: the growing ones, then the ones with most
    /// new series.
    pub suspects: Vec<Suspect>,
}

/// Growth against the oldest snapshot, the baseline; pure, for the report and its tests.
struct Growth {
    metrics: Vec<Count>,
    labels: Vec<Count>,
    growing: Vec<Count>,
    total_growth: Option<(i64, Duration)>,
}

/// A count compared with nothing is no growth: a metric or label the baseline did not
/// have gets no growth, and a baseline of an empty store (the snapshot taken at start,
/// before the first scrape) is none at all.
fn growth(full: &Cardinality, baseline: Option<(&Snapshot, Duration)>, limit: usize) -> Growth {
    // A snapshot taken by this very view says nothing about growth yet.
    let baseline = baseline.filter(|(o, d)| *d >= Duration::from_secs(5) && o.total > 0);
    let growth_of = |now: usize, then: Option<usize>| -> Option<(i64, Duration)> {
        let (_, d) = baseline?;
        Some((now as i64 - then? as i64, d))
    };
    let top = |list: &[(String, usize)], pick: &dyn Fn(&Snapshot) -> &HashMap<String, usize>| {
        list.iter()
            .take(limit)
            .map(|(name, value)| Count {
                name: name.clone(),
                value: *value,
                growth: growth_of(
                    *value,
                    baseline.and_then(|(o, _)| pick(o).get(name).copied()),
                ),
            })
            .collect::<Vec<_>>()
    };
    let mut growing: Vec<Count> = full
        .metrics
        .iter()
        .filter_map(|(name, now)| {
            let then = baseline.and_then(|(o, _)| o.metrics.get(name).copied())?;
            let g = growth_of(*now, Some(then))?;
            (g.0 > 0).then(|| Count {
                name: name.clone(),
                value: *now,
                growth: Some(g),
            })
        })
        .collect();
    growing.sort_by(|a, b| {
        b.growth
            .map(|g| g.0)
            .cmp(&a.growth.map(|g| g.0))
            .then(a.name.cmp(&b.name))
    });
    growing.truncate(limit);
    Growth {
        metrics: top(&full.metrics, &|s| &s.metrics),
        labels: top(&full.labels, &|s| &s.labels),
        growing,
        total_growth: baseline.map(|(o, d)| (full.total_series as i64 - o.total as i64, d)),
    }
}

/// Builds the report (blocking: it reads the store's index). Growth is now against the
/// oldest snapshot kept that is a baseline ([`CardinalityHistory::baseline`]).
pub fn report(db: &Tsdb, history: &CardinalityHistory, limit: usize) -> Report {
    let full = db.cardinality(usize::MAX);
    history.record_if_stale(&full);
    let snaps = history.snapshots.lock().unwrap_or_else(|p| p.into_inner());
    let Growth {
        metrics,
        labels,
        growing,
        total_growth,
    } = growth(
        &full,
        history.baseline(&snaps).map(|o| (o, o.at.elapsed())),
        limit,
    );
    drop(snaps);
    let plain = |list: &[(String, usize)]| {
        list.iter()
            .take(limit)
            .map(|(name, value)| Count {
                name: name.clone(),
                value: *value,
                growth: None,
            })
            .collect::<Vec<_>>()
    };
    let new_last_hour = plain(&full.growing);
    // Suspects: the metrics gaining most series (by the snapshots, else by the hour).
    let mut seen = std::collections::HashSet::new();
    let suspects = growing
        .iter()
        .map(|g| g.name.clone())
        .chain(new_last_hour.iter().map(|n| n.name.clone()))
        .filter(|n| seen.insert(n.clone()))
        .take(SUSPECTS)
        .map(|metric| {
            let mut s = suspect(db, &metric, &full);
            s.growing = growing.iter().any(|g| g.name == metric)
                || (total_growth.is_none()
                    && s.new_series_last_hour > 0
                    && s.new_series_last_hour < s.series);
            s
        })
        .collect();
    Report {
        total_series: full.total_series,
        total_metrics: full.metrics.len(),
        total_growth,
        metrics,
        labels,
        label_pairs: plain(&full.label_pairs),
        new_last_hour,
        growing,
        suspects,
    }
}

fn suspect(db: &Tsdb, metric: &str, full: &Cardinality) -> Suspect {
    let m = [LabelMatcher::equal(METRIC_NAME, metric)];
    let (lo, hi) = (i64::MIN / 2, i64::MAX / 2);
    let mut labels: Vec<(String, usize)> = db
        .label_names(&m, lo, hi)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n != METRIC_NAME)
        .map(|n| {
            let count = db
                .label_values(&n, &m, lo, hi)
                .map(|v| v.len())
                .unwrap_or(0);
            (n, count)
        })
        .collect();
    labels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    labels.truncate(4);
    Suspect {
        metric: metric.to_string(),
        series: full
            .metrics
            .iter()
            .find(|(n, _)| n == metric)
            .map_or(0, |(_, v)| *v),
        new_series_last_hour: full
            .growing
            .iter()
            .find(|(n, _)| n == metric)
            .map_or(0, |(_, v)| *v),
        labels,
        growing: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cardinality(metrics: &[(&str, usize)]) -> Cardinality {
        let metrics: Vec<(String, usize)> =
            metrics.iter().map(|(n, c)| (n.to_string(), *c)).collect();
        Cardinality {
            total_series: metrics.iter().map(|m| m.1).sum(),
            growing: metrics.clone(),
            labels: vec![("__name__".into(), metrics.len())],
            metrics,
            label_pairs: Vec::new(),
        }
    }

    fn snapshot(c: &Cardinality) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            total: c.total_series,
            metrics: c.metrics.iter().cloned().collect(),
            labels: c.labels.iter().cloned().collect(),
        }
    }

    /// Issue 16: on a fresh install the first snapshot is taken before the first scrape,
    /// and every metric then showed as growing by all its series.
    #[test]
    fn a_fresh_install_grows_nothing() {
        let empty = snapshot(&Cardinality::default());
        let now = cardinality(&[("up", 1), ("http_requests_total", 12)]);
        let g = growth(&now, Some((&empty, Duration::from_secs(60))), 20);
        assert!(g.growing.is_empty(), "{:?}", g.growing);
        assert_eq!(g.total_growth, None);
        assert!(
            g.metrics.iter().all(|c| c.growth.is_none()),
            "{:?}",
            g.metrics
        );
    }

    /// Issue 16, as seen on a fresh install: the snapshot at start held a probe's two
    /// series, and the self-scrape's 300 then showed as "+314 in 8 s".
    #[test]
    fn snapshots_of_the_first_seconds_are_no_baseline() {
        let history = CardinalityHistory::default();
        history.record_from(&cardinality(&[("probe_success", 2)]));
        let snaps = history.snapshots.lock().unwrap();
        assert!(history.baseline(&snaps).is_none());
        drop(snaps);
        let history = CardinalityHistory {
            started: Instant::now() - Duration::from_secs(120),
            snapshots: Mutex::default(),
        };
        history.record_from(&Cardinality::default());
        history.record_from(&cardinality(&[("probe_success", 2)]));
        let snaps = history.snapshots.lock().unwrap();
        let b = history
            .baseline(&snaps)
            .expect("a snapshot after the warm-up");
        assert_eq!(b.total, 2, "the empty one is skipped");
    }

    #[test]
    fn a_metric_absent_from_the_baseline_is_new_not_growing() {
        let then = snapshot(&cardinality(&[("up", 1)]));
        let now = cardinality(&[("up", 1), ("late_metric", 40)]);
        let g = growth(&now, Some((&then, Duration::from_secs(120))), 20);
        assert!(g.growing.is_empty(), "{:?}", g.growing);
        let late = g.metrics.iter().find(|c| c.name == "late_metric").unwrap();
        assert_eq!(late.growth, None);
        let up = g.metrics.iter().find(|c| c.name == "up").unwrap();
        assert_eq!(up.growth, Some((0, Duration::from_secs(120))));
    }

    #[test]
    fn more_series_than_a_real_baseline_is_growth() {
        let then = snapshot(&cardinality(&[("up", 1), ("views_total", 10)]));
        let now = cardinality(&[("up", 1), ("views_total", 250)]);
        let g = growth(&now, Some((&then, Duration::from_secs(300))), 20);
        assert_eq!(g.growing.len(), 1);
        assert_eq!(g.growing[0].name, "views_total");
        assert_eq!(g.growing[0].growth, Some((240, Duration::from_secs(300))));
        assert_eq!(g.total_growth, Some((240, Duration::from_secs(300))));
        // A baseline taken by this very view is none yet.
        let g = growth(&now, Some((&then, Duration::from_secs(1))), 20);
        assert!(g.growing.is_empty() && g.total_growth.is_none());
    }
}
