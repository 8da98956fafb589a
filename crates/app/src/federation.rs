//! Federation (`/federate`), as Prometheus's `web/federate.go`: the latest sample of
//! every series matching any `match[]` selector within the lookback (5 minutes), sorted
//! by metric name, with the external labels (and an empty `instance`) added where the
//! series has none of its own, so a Prometheus scraping it with `honor_labels: true`
//! keeps each series' `job` and `instance`. Stale series are left out. Bounded: at least
//! one selector, and at most [`MAX_FEDERATED_SERIES`] series in one answer.

use std::collections::BTreeMap;

use pharos_model::series::{
    Label, LabelMatcher, LabelSet, SelectError, SeriesSource, is_stale_marker,
};

use crate::App;
use crate::metrics_store::MetricsError;

/// The most series one federation answer holds; a broader request is refused with
/// this limit named, so a `{__name__=~".+"}` cannot make the server load everything.
pub const MAX_FEDERATED_SERIES: usize = 100_000;

/// How far back the latest sample of a series may be (Prometheus's lookback delta).
pub const FEDERATION_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// One federated series: its metric name, its labels in the order they are written (its
/// own, then the external labels it lacks, `instance=""` among them), and latest sample.
#[derive(Clone, Debug, PartialEq)]
pub struct FederatedSample {
    pub name: String,
    pub labels: Vec<Label>,
    pub value: f64,
    pub timestamp_ms: i64,
}

impl App {
    /// The latest sample at `now_ms` of every series matching any of `selectors`.
    pub async fn federate(
        &self,
        selectors: Vec<Vec<LabelMatcher>>,
        now_ms: i64,
    ) -> Result<Vec<FederatedSample>, MetricsError> {
        if selectors.is_empty() {
            return Err(MetricsError::BadData(
                "federation needs at least one match[] selector".into(),
            ));
        }
        let m = self.metrics()?;
        let external = m.scrape.global().external_labels;
        // A query slot, as a PromQL query takes one: a federation loads as much.
        let slot = m.queries.admit().await?;
        crate::blocking(move || {
            let _slot = slot;
            latest_samples(m.db.as_ref(), &selectors, now_ms, &external)
        })
        .await
        .map_err(|e| MetricsError::Internal(e.to_string()))?
    }
}

fn select_error(e: SelectError) -> MetricsError {
    MetricsError::Execution(e.to_string())
}

/// Federation over any series source (the store, or a test's vectors).
pub fn latest_samples(
    source: &dyn SeriesSource,
    selectors: &[Vec<LabelMatcher>],
    now_ms: i64,
    external_labels: &BTreeMap<String, String>,
) -> Result<Vec<FederatedSample>, MetricsError> {
    let mint = now_ms - FEDERATION_LOOKBACK_MS;
    // The index is asked first, so an over-broad request is refused before any chunk
    // is decoded.
    let mut matched = std::collections::BTreeSet::new();
    for ms in selectors {
        matched.extend(source.series(ms, mint, now_ms).map_err(select_error)?);
        if matched.len() > MAX_FEDERATED_SERIES {
            return Err(MetricsError::Execution(format!(
                "federation would return more than {MAX_FEDERATED_SERIES} series; narrow the match[] selectors"
            )));
        }
    }
    let mut latest: BTreeMap<LabelSet, (i64, f64)> = BTreeMap::new();
    for ms in selectors {
        for s in source.select(ms, mint, now_ms).map_err(select_error)? {
            // The newest sample at or before now; a staleness marker means the series
            // has ended and is left out, as Prometheus leaves it out.
            let Some(last) = s.samples.iter().rev().find(|x| x.t <= now_ms) else {
                continue;
            };
            latest.insert(s.labels, (last.t, last.v));
        }
    }
    let mut instance_and_external = external_labels.clone();
    instance_and_external
        .entry("instance".to_string())
        .or_default();
    let mut out: Vec<FederatedSample> = latest
        .into_iter()
        .filter(|(_, (_, v))| !is_stale_marker(*v))
        .filter_map(|(labels, (t, v))| {
            let name = labels.metric_name().filter(|n| !n.is_empty())?.to_string();
            Some(FederatedSample {
                name,
                labels: with_external_labels(&labels, &instance_and_external),
                value: v,
                timestamp_ms: t,
            })
        })
        .collect();
    // By metric name, as Prometheus sorts them (stable: series order within a name).
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The series' own labels but its name, empty ones dropped, then the external labels it
/// does not carry, in name order.
fn with_external_labels(labels: &LabelSet, external: &BTreeMap<String, String>) -> Vec<Label> {
    let mut out: Vec<Label> = labels
        .iter()
        .filter(|l| !l.value.is_empty() && l.name != "__name__")
        .cloned()
        .collect();
    for (name, value) in external {
        if labels.get(name).is_none_or(|v| v.is_empty()) {
            out.push(Label {
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::series::{Sample, stale_marker};
    use pharos_promql::memory::MemorySource;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample { t, v }).collect()
    }

    #[test]
    fn the_latest_sample_of_live_series_with_external_labels_where_missing() {
        let now = 1_000_000;
        let mut src = MemorySource::new();
        src.add(
            LabelSet::new([("__name__", "up"), ("job", "a"), ("instance", "h:1")]),
            samples(&[(now - 20_000, 0.0), (now - 5_000, 1.0), (now + 5_000, 7.0)]),
        );
        // Ended: its last sample is a staleness marker.
        src.add(
            LabelSet::new([("__name__", "up"), ("job", "b")]),
            samples(&[(now - 10_000, 1.0), (now - 1_000, stale_marker())]),
        );
        // Older than the lookback.
        src.add(
            LabelSet::new([("__name__", "up"), ("job", "c")]),
            samples(&[(now - FEDERATION_LOOKBACK_MS - 1, 1.0)]),
        );
        src.add(
            LabelSet::new([("__name__", "a_first"), ("site", "own")]),
            samples(&[(now, 3.0)]),
        );
        let external = BTreeMap::from([("site".to_string(), "lab".to_string())]);
        let all = vec![
            vec![LabelMatcher::equal("__name__", "up")],
            vec![LabelMatcher::equal("__name__", "a_first")],
        ];
        let out = latest_samples(&src, &all, now, &external).unwrap();
        let label = |n: &str, v: &str| Label {
            name: n.into(),
            value: v.into(),
        };
        assert_eq!(
            out,
            vec![
                FederatedSample {
                    name: "a_first".into(),
                    // Its own site is kept; it has no instance, so an empty one is added.
                    labels: vec![label("site", "own"), label("instance", "")],
                    value: 3.0,
                    timestamp_ms: now,
                },
                FederatedSample {
                    name: "up".into(),
                    labels: vec![
                        label("instance", "h:1"),
                        label("job", "a"),
                        label("site", "lab")
                    ],
                    value: 1.0,
                    timestamp_ms: now - 5_000,
                },
            ]
        );
    }
}
