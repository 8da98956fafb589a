//! The stores rules read from and write to: the metrics store in the binary, an in-memory
//! one in tests. Writes are synchronous so a recording rule's samples are there for the
//! next rule of the group.

use std::sync::{Arc, RwLock};

use pharos_model::series::{
    LabelMatcher, LabelSet, Sample, SelectError, SeriesSample, SeriesSamples, SeriesSource,
};
use pharos_promql::memory::MemorySource;
use pharos_tsdb::Tsdb;

use super::group::RuleStorage;

/// The metrics store.
pub struct TsdbRuleStorage(pub Arc<Tsdb>);

impl RuleStorage for TsdbRuleStorage {
    fn source(&self) -> &dyn SeriesSource {
        &*self.0
    }

    fn append(&self, samples: &[SeriesSample]) -> Result<(), String> {
        let mut app = self.0.appender();
        for s in samples {
            // Per-sample refusals (a repeated time after a restart) are not the rule's fault.
            let _ = app.append(&s.labels, s.t, s.v);
        }
        app.commit().map(|_| ()).map_err(|e| e.to_string())
    }
}

/// An in-memory store for tests and for trying rules without a metrics store.
#[derive(Default)]
pub struct MemoryRuleStorage {
    inner: RwLock<MemorySource>,
}

impl MemoryRuleStorage {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, labels: LabelSet, samples: impl IntoIterator<Item = Sample>) {
        self.inner
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add(labels, samples);
    }
}

impl RuleStorage for MemoryRuleStorage {
    fn source(&self) -> &dyn SeriesSource {
        self
    }

    fn append(&self, samples: &[SeriesSample]) -> Result<(), String> {
        let mut m = self.inner.write().unwrap_or_else(|p| p.into_inner());
        for s in samples {
            m.add(s.labels.clone(), [Sample { t: s.t, v: s.v }]);
        }
        Ok(())
    }
}

impl SeriesSource for MemoryRuleStorage {
    fn select(
        &self,
        m: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .select(m, mint, maxt)
    }

    fn series(
        &self,
        m: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<LabelSet>, SelectError> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .series(m, mint, maxt)
    }

    fn label_names(
        &self,
        m: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .label_names(m, mint, maxt)
    }

    fn label_values(
        &self,
        name: &str,
        m: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, SelectError> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .label_values(name, m, mint, maxt)
    }
}
