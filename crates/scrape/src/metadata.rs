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

/// Metadata by metric family name and by the target (or pusher) that reported it: two
/// targets may declare the same family differently (one scraped as OpenMetrics, where an
/// enum is a `stateset`, one as text, where it is a `gauge`), and Prometheus lists each
/// distinct declaration.
#[derive(Default)]
pub struct MetadataStore {
    by_metric: RwLock<BTreeMap<String, BTreeMap<String, MetricMetadata>>>,
}

impl MetadataStore {
    /// What `source` (a target's key) declares for `metric`; its previous declaration
    /// is replaced.
    pub fn set(&self, metric: &str, source: &str, meta: MetricMetadata) {
        let mut m = self.by_metric.write().unwrap_or_else(|p| p.into_inner());
        let sources = m.entry(metric.to_string()).or_default();
        if sources.get(source) != Some(&meta) {
            sources.insert(source.to_string(), meta);
        }
    }

    /// Forgets what a target declared, when it goes away.
    pub fn forget(&self, source: &str) {
        let mut m = self.by_metric.write().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, sources| {
            sources.remove(source);
            !sources.is_empty()
        });
    }

    /// Up to `limit` families (all when `None`), optionally one metric only, each with its
    /// distinct declarations.
    pub fn list(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
    ) -> BTreeMap<String, Vec<MetricMetadata>> {
        let m = self.by_metric.read().unwrap_or_else(|p| p.into_inner());
        m.iter()
            .filter(|(k, _)| metric.is_none_or(|x| x == k.as_str()))
            .take(limit.unwrap_or(usize::MAX))
            .map(|(k, sources)| {
                let mut distinct: Vec<MetricMetadata> = Vec::new();
                for meta in sources.values() {
                    if !distinct.contains(meta) {
                        distinct.push(meta.clone());
                    }
                }
                (k.clone(), distinct)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: &str) -> MetricMetadata {
        MetricMetadata {
            kind: kind.into(),
            help: "State.".into(),
            unit: String::new(),
        }
    }

    #[test]
    fn each_distinct_declaration_is_listed_until_its_target_goes() {
        let m = MetadataStore::default();
        m.set("worker_state", "text-job", meta("gauge"));
        m.set("worker_state", "om-job", meta("stateset"));
        m.set("worker_state", "om-job-2", meta("stateset"));
        let kinds = |m: &MetadataStore| -> Vec<String> {
            m.list(Some("worker_state"), None)
                .get("worker_state")
                .map(|v| v.iter().map(|x| x.kind.clone()).collect())
                .unwrap_or_default()
        };
        assert_eq!(kinds(&m), vec!["stateset", "gauge"]);
        m.forget("text-job");
        assert_eq!(kinds(&m), vec!["stateset"]);
        m.forget("om-job");
        m.forget("om-job-2");
        assert!(m.list(None, None).is_empty());
    }
}
