//! Metric metadata (type, help, unit) as scrapes and remote_write report it, for the
//! Prometheus API's `/api/v1/metadata` and the explorer's completion.

use std::collections::BTreeMap;
use std::sync::RwLock;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MetricMetadata {
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// Metadata by metric family name; the latest report for a family wins.
#[derive(Default)]
pub struct MetadataStore {
    by_metric: RwLock<BTreeMap<String, MetricMetadata>>,
}

impl MetadataStore {
    pub fn set(&self, metric: &str, meta: MetricMetadata) {
        let mut m = self.by_metric.write().unwrap_or_else(|p| p.into_inner());
        if m.get(metric) != Some(&meta) {
            m.insert(metric.to_string(), meta);
        }
    }

    /// Up to `limit` families (all when `None`), optionally one metric only.
    pub fn list(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
    ) -> BTreeMap<String, Vec<MetricMetadata>> {
        let m = self.by_metric.read().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .filter(|(k, _)| metric.is_none_or(|x| x == k.as_str()))
            .take(limit.unwrap_or(usize::MAX))
            .map(|(k, v)| (k.clone(), vec![v.clone()]))
            .collect()
    }
}
