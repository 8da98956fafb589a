//! Where the series come from: `/api/v1/status/tsdb` in Prometheus's shape (Grafana and
//! `promtool tsdb analyze`-style scripts read it) and the report behind
//! `/metrics/cardinality`, including growth. The store tells how many series each metric
//! has and how many were created in the last hour; [`CardinalityHistory`] adds a
//! snapshot a minute, kept in memory, so a label whose values explode (a `user_id` on a
//! counter) shows up within a minute of it starting.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use pharos_model::series::{LabelMatcher, METRIC_NAME, SeriesSource};
use pharos_tsdb::Tsdb;
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use crate::SharedState;

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
        let c = db.cardinality(usize::MAX);
        let snap = Snapshot {
            at: Instant::now(),
            total: c.total_series,
            metrics: c.metrics.into_iter().collect(),
            labels: c.labels.into_iter().collect(),
        };
        let mut s = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        s.push_back(snap);
        while s.len() > SNAPSHOTS {
            s.pop_front();
        }
    }

    /// Records now unless a snapshot is less than a minute old (a page view between ticks).
    pub fn record_if_stale(&self, db: &Tsdb) {
        let fresh = self
            .snapshots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .back()
            .is_some_and(|s| s.at.elapsed() < Duration::from_secs(60));
        if !fresh {
            self.record(db);
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
    pub new_series_last_hour: usize,
    /// (label, distinct values on this metric), most first.
    pub labels: Vec<(String, usize)>,
}

pub struct Report {
    pub total_series: usize,
    pub total_growth: Option<(i64, Duration)>,
    pub metrics: Vec<Count>,
    pub labels: Vec<Count>,
    pub label_pairs: Vec<Count>,
    /// Metrics by series created in the last hour (the store's own count).
    pub new_last_hour: Vec<Count>,
    /// Metrics by series gained since the oldest snapshot.
    pub growing: Vec<Count>,
    pub suspects: Vec<Suspect>,
    pub snapshots: usize,
}

/// Builds the report (blocking: it reads the store's index).
pub fn report(db: &Tsdb, history: &CardinalityHistory, limit: usize) -> Report {
    history.record_if_stale(db);
    let c = db.cardinality(limit);
    let snaps = history.snapshots.lock().unwrap_or_else(|p| p.into_inner());
    let (oldest, newest) = (snaps.front(), snaps.back());
    let span = match (oldest, newest) {
        (Some(o), Some(n)) if n.at > o.at => Some(n.at - o.at),
        _ => None,
    };
    let delta = |now: usize, then: Option<usize>| -> Option<(i64, Duration)> {
        span.map(|d| (now as i64 - then.unwrap_or(0) as i64, d))
    };
    let with_growth = |list: Vec<(String, usize)>,
                       pick: &dyn Fn(&Snapshot) -> &HashMap<String, usize>| {
        list.into_iter()
            .map(|(name, value)| {
                let then = oldest.map(|o| pick(o).get(&name).copied().unwrap_or(0));
                let growth = if span.is_some() {
                    delta(value, then)
                } else {
                    None
                };
                Count {
                    name,
                    value,
                    growth,
                }
            })
            .collect::<Vec<_>>()
    };
    let metrics = with_growth(c.metrics, &|s| &s.metrics);
    let labels = with_growth(c.labels, &|s| &s.labels);
    let mut growing: Vec<Count> = match (oldest, newest, span) {
        (Some(o), Some(n), Some(d)) => n
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
        (Some(o), Some(d)) => Some((c.total_series as i64 - o.total as i64, d)),
        _ => None,
    };
    let snapshots = snaps.len();
    drop(snaps);
    let new_last_hour: Vec<Count> = c
        .growing
        .into_iter()
        .map(|(name, value)| Count {
            name,
            value,
            growth: None,
        })
        .collect();
    // Suspects: the metrics gaining most series (by the minute snapshots, else the hour).
    let mut candidates: Vec<(String, usize)> = growing
        .iter()
        .map(|g| (g.name.clone(), 0))
        .chain(new_last_hour.iter().map(|n| (n.name.clone(), n.value)))
        .collect();
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|(n, _)| seen.insert(n.clone()));
    let suspects = candidates
        .into_iter()
        .take(SUSPECTS)
        .map(|(metric, _)| suspect(db, &metric, &new_last_hour))
        .collect();
    Report {
        total_series: c.total_series,
        total_growth,
        metrics,
        labels,
        label_pairs: c
            .label_pairs
            .into_iter()
            .map(|(name, value)| Count {
                name,
                value,
                growth: None,
            })
            .collect(),
        new_last_hour,
        growing,
        suspects,
        snapshots,
    }
}

fn suspect(db: &Tsdb, metric: &str, new_last_hour: &[Count]) -> Suspect {
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
        new_series_last_hour: new_last_hour
            .iter()
            .find(|n| n.name == metric)
            .map_or(0, |n| n.value),
        labels,
    }
}

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v1/status/tsdb`, as Prometheus answers it.
pub async fn tsdb_status(
    State(state): State<SharedState>,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let limit = q
        .ok()
        .and_then(|q| q.0.limit)
        .filter(|l| *l > 0)
        .unwrap_or(10)
        .min(10_000);
    let Some(m) = state.metrics_store.clone() else {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the metrics store is not enabled",
        )
        .into_response();
    };
    let data = tokio::task::spawn_blocking(move || {
        let db = m.db.as_ref();
        let st = db.stats();
        // One pass over the index: every label is needed for the pair count.
        let mut c = db.cardinality(usize::MAX);
        let all_labels = c.labels.clone();
        c.metrics.truncate(limit);
        c.labels.truncate(limit);
        c.label_pairs.truncate(limit);
        let pairs: usize = all_labels.iter().map(|(_, n)| n).sum();
        let (lo, hi) = (i64::MIN / 2, i64::MAX / 2);
        // Prometheus sums the bytes of each label's values; the store reports counts, so
        // the values are read for the labels with the most (bounded for huge label sets).
        let mut memory: Vec<(String, usize)> = all_labels
            .iter()
            .take(200)
            .map(|(n, _)| {
                let bytes = db
                    .label_values(n, &[], lo, hi)
                    .map(|v| v.iter().map(String::len).sum())
                    .unwrap_or(0);
                (n.clone(), bytes)
            })
            .collect();
        memory.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        memory.truncate(limit);
        let list = |v: &[(String, usize)]| {
            v.iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect::<Vec<_>>()
        };
        json!({
            "headStats": {
                "numSeries": st.head_series,
                "numLabelPairs": pairs,
                "chunkCount": st.head_chunks,
                "minTime": st.head_min_time.unwrap_or(0),
                "maxTime": st.head_max_time.unwrap_or(0),
            },
            "seriesCountByMetricName": list(&c.metrics),
            "labelValueCountByLabelName": list(&c.labels),
            "memoryInBytesByLabelName": list(&memory),
            "seriesCountByLabelValuePair": list(&c.label_pairs),
        })
    })
    .await;
    match data {
        Ok(d) => Json(json!({"status": "success", "data": d})).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}
