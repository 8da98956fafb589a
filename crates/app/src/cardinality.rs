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

/// Series counts per metric and value counts per label, once a minute.
#[derive(Default)]
pub struct CardinalityHistory {
    snapshots: Mutex<VecDeque<Snapshot>>,
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
    pub suspects: Vec<Suspect>,
}

/// Builds the report (blocking: it reads the store's index). Growth is now against the
/// oldest snapshot kept.
pub fn report(db: &Tsdb, history: &CardinalityHistory, limit: usize) -> Report {
    let full = db.cardinality(usize::MAX);
    history.record_if_stale(&full);
    let snaps = history.snapshots.lock().unwrap_or_else(|p| p.into_inner());
    let oldest = snaps.front();
    // A snapshot taken by this very view says nothing about growth yet.
    let span = oldest
        .map(|o| o.at.elapsed())
        .filter(|d| *d >= Duration::from_secs(5));
    let growth_of =
        |now: usize, then: Option<usize>| span.map(|d| (now as i64 - then.unwrap_or(0) as i64, d));
    let top = |list: &[(String, usize)], pick: &dyn Fn(&Snapshot) -> &HashMap<String, usize>| {
        list.iter()
            .take(limit)
            .map(|(name, value)| Count {
                name: name.clone(),
                value: *value,
                growth: growth_of(
                    *value,
                    oldest.map(|o| pick(o).get(name).copied().unwrap_or(0)),
                ),
            })
            .collect::<Vec<_>>()
    };
    let metrics = top(&full.metrics, &|s| &s.metrics);
    let labels = top(&full.labels, &|s| &s.labels);
    let mut growing: Vec<Count> = match (oldest, span) {
        (Some(o), Some(d)) => full
            .metrics
            .iter()
            .filter_map(|(name, now)| {
                let g = *now as i64 - o.metrics.get(name).copied().unwrap_or(0) as i64;
                (g > 0).then(|| Count {
                    name: name.clone(),
                    value: *now,
                    growth: Some((g, d)),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    growing.sort_by(|a, b| {
        b.growth
            .map(|g| g.0)
            .cmp(&a.growth.map(|g| g.0))
            .then(a.name.cmp(&b.name))
    });
    growing.truncate(limit);
    let total_growth = match (oldest, span) {
        (Some(o), Some(d)) => Some((full.total_series as i64 - o.total as i64, d)),
        _ => None,
    };
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
        .map(|metric| suspect(db, &metric, &full))
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
    }
}
