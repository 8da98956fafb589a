//! Reading: the [`SeriesSource`] implementation the query engine and the HTTP API use,
//! merging what matching series hold in the blocks and in the head. The series and label
//! APIs only look at chunk time ranges, so they never decode samples.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pharos_model::series::{
    LabelMatcher, LabelSet, LoadBudget, Sample, SelectError, SeriesSamples, SeriesSource,
};

use crate::block::Block;
use crate::head::MemSeries;
use crate::{Tsdb, TsdbError};

impl Tsdb {
    fn blocks_overlapping(&self, mint: i64, maxt: i64) -> Vec<Arc<Block>> {
        self.blocks
            .read()
            .expect("blocks lock")
            .iter()
            .filter(|b| b.overlaps(mint, maxt))
            .cloned()
            .collect()
    }

    /// Matching head series with data in `[mint, maxt]` (by chunk time ranges), with
    /// their labels.
    fn head_series(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<(LabelSet, Arc<MemSeries>)> {
        let idx = self.head.index.read().expect("head index lock");
        idx.select(matchers)
            .into_iter()
            .filter_map(|id| idx.series.get(&id))
            .filter(|s| s.data.lock().expect("series lock").overlaps(mint, maxt))
            .map(|s| (idx.labels(s), s.clone()))
            .collect()
    }

    /// Every matching series with its samples in `[mint, maxt]`, head and blocks merged
    /// (a sample in two places, as while a block is being cut, counts once). `budget` is
    /// charged as each series is decoded; a sample held twice is charged twice, which
    /// only matters while a block is being cut.
    fn select_samples(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
        budget: &mut dyn LoadBudget,
    ) -> Result<BTreeMap<LabelSet, Vec<Sample>>, SelectError> {
        let mut out: BTreeMap<LabelSet, Vec<Sample>> = BTreeMap::new();
        let blocks = self.blocks_overlapping(mint, maxt);
        let mut v = Vec::new();
        for b in &blocks {
            for id in b.select(matchers) {
                b.samples(id, mint, maxt, &mut v).map_err(storage)?;
                budget.charge(v.len())?;
                if !v.is_empty() {
                    out.entry(b.labels(id)).or_default().append(&mut v);
                }
            }
        }
        for (labels, s) in self.head_series(matchers, mint, maxt) {
            s.data
                .lock()
                .expect("series lock")
                .samples(mint, maxt, &self.head.files, &mut v)
                .map_err(storage)?;
            budget.charge(v.len())?;
            if !v.is_empty() {
                out.entry(labels).or_default().append(&mut v);
            }
        }
        if !blocks.is_empty() {
            for v in out.values_mut() {
                sort_dedup(v);
            }
        }
        Ok(out)
    }

    /// Label sets of the matching series with a chunk overlapping `[mint, maxt]`, as
    /// Prometheus answers the series and label APIs: no samples are decoded.
    fn select_series(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> BTreeSet<LabelSet> {
        let mut out = BTreeSet::new();
        for b in self.blocks_overlapping(mint, maxt) {
            for id in b.select(matchers) {
                if b.has_chunks_in(id, mint, maxt) {
                    out.insert(b.labels(id));
                }
            }
        }
        out.extend(
            self.head_series(matchers, mint, maxt)
                .into_iter()
                .map(|(l, _)| l),
        );
        out
    }
}

/// Sorts by time and keeps one sample per timestamp: samples gathered from more than one
/// place (head and blocks, or the blocks of a merge) may hold the same one twice.
pub(crate) fn sort_dedup(v: &mut Vec<Sample>) {
    v.sort_by_key(|s| s.t);
    v.dedup_by_key(|s| s.t);
}

fn storage(e: TsdbError) -> SelectError {
    SelectError::Storage(e.to_string())
}

/// The budget of a plain [`SeriesSource::select`]: callers outside a query bound
/// their selections themselves.
struct Unlimited;

impl LoadBudget for Unlimited {
    fn charge(&mut self, _: usize) -> Result<(), SelectError> {
        Ok(())
    }
}

impl SeriesSource for Tsdb {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        self.select_within(matchers, mint, maxt, &mut Unlimited)
    }

    fn select_within(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
        budget: &mut dyn LoadBudget,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        Ok(self
            .select_samples(matchers, mint, maxt, budget)?
            .into_iter()
            .map(|(labels, samples)| SeriesSamples { labels, samples })
            .collect())
    }

    fn series(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<LabelSet>, SelectError> {
        Ok(self
            .select_series(matchers, mint, maxt)
            .into_iter()
            .collect())
    }

    fn label_names(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError> {
        let names: BTreeSet<String> = self
            .series(matchers, mint, maxt)?
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()))
            .collect();
        Ok(names.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError> {
        let values: BTreeSet<String> = self
            .series(matchers, mint, maxt)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        Ok(values.into_iter().collect())
    }
}
