//! A plain in-memory [`SeriesSource`] for tests and for checking rules without a store.

use std::collections::BTreeMap;

use pharos_model::series::{
    LabelMatcher, LabelSet, Sample, SelectError, SeriesSamples, SeriesSource,
};

#[derive(Default)]
pub struct MemorySource {
    series: BTreeMap<LabelSet, Vec<Sample>>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to a series (kept sorted by time; a repeated time replaces the value).
    pub fn add(&mut self, labels: LabelSet, samples: impl IntoIterator<Item = Sample>) {
        let s = self.series.entry(labels).or_default();
        s.extend(samples);
        s.sort_by_key(|x| x.t);
        s.dedup_by(|a, b| {
            if a.t == b.t {
                b.v = a.v;
                true
            } else {
                false
            }
        });
    }

    pub fn clear(&mut self) {
        self.series.clear();
    }

    fn matching<'a>(
        &'a self,
        matchers: &'a [LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = (&'a LabelSet, Vec<Sample>)> + 'a {
        self.series
            .iter()
            .filter(|(l, _)| matchers.iter().all(|m| m.matches_labels(l)))
            .filter_map(move |(l, s)| {
                let v: Vec<Sample> = s
                    .iter()
                    .filter(|x| x.t >= mint && x.t <= maxt)
                    .copied()
                    .collect();
                (!v.is_empty()).then_some((l, v))
            })
    }
}

impl SeriesSource for MemorySource {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        Ok(self
            .matching(matchers, mint, maxt)
            .map(|(l, samples)| SeriesSamples {
                labels: l.clone(),
                samples,
            })
            .collect())
    }

    fn series(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<LabelSet>, SelectError> {
        Ok(self
            .matching(matchers, mint, maxt)
            .map(|(l, _)| l.clone())
            .collect())
    }

    fn label_names(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError> {
        let mut n: Vec<String> = self
            .matching(matchers, mint, maxt)
            .flat_map(|(l, _)| l.iter().map(|x| x.name.clone()).collect::<Vec<_>>())
            .collect();
        n.sort();
        n.dedup();
        Ok(n)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError> {
        let mut n: Vec<String> = self
            .matching(matchers, mint, maxt)
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        n.sort();
        n.dedup();
        Ok(n)
    }
}
