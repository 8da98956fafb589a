//! From discovered target groups to scrape targets, as Prometheus does it: discovery
//! labels plus `__address__`, `__scheme__`, `__metrics_path__`, `__param_*`, `job`, then
//! `relabel_configs`; `instance` defaults to the address; labels starting with `__` are
//! dropped from what the target's series carry.

use std::collections::BTreeMap;

use pharos_ingest::prometheus::relabel;
use pharos_model::series::LabelSet;

use crate::config::Job;
use crate::discovery::TargetGroup;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub job: String,
    /// The labels every series of the target gets (`job`, `instance`, group labels…).
    pub labels: LabelSet,
    /// The labels before relabelling, for the targets page.
    pub discovered: LabelSet,
    pub url: String,
}

impl Target {
    /// What identifies a target across config reloads.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.job, self.url, self.labels)
    }
}

/// The targets of one job from its groups; `dropped` counts those relabelling removed.
pub fn targets(job: &Job, groups: &[TargetGroup]) -> (Vec<Target>, usize) {
    let cfg = &job.config;
    let mut out = Vec::new();
    let mut dropped = 0;
    for g in groups {
        for addr in &g.targets {
            let mut pairs: BTreeMap<String, String> = g.labels.clone();
            pairs.insert("__address__".into(), addr.clone());
            pairs.insert("__scheme__".into(), cfg.scheme.clone());
            pairs.insert("__metrics_path__".into(), cfg.metrics_path.clone());
            pairs.insert(
                "__scrape_interval__".into(),
                pharos_model::HumanDuration::from_secs(job.interval.as_secs()).to_string(),
            );
            pairs.insert(
                "__scrape_timeout__".into(),
                pharos_model::HumanDuration::from_secs(job.timeout.as_secs()).to_string(),
            );
            pairs
                .entry("job".into())
                .or_insert_with(|| cfg.job_name.clone());
            for (k, v) in &cfg.params {
                if let Some(first) = v.first() {
                    pairs.insert(format!("__param_{k}"), first.clone());
                }
            }
            let discovered = LabelSet::new(pairs);
            let Some(mut l) = relabel::process(&discovered, &cfg.relabel_configs) else {
                dropped += 1;
                continue;
            };
            let Some(address) = l.get("__address__").map(str::to_string) else {
                dropped += 1;
                continue;
            };
            if l.get("instance").is_none() {
                l.set("instance", address.clone());
            }
            let scheme = l.get("__scheme__").unwrap_or("http").to_string();
            let path = l.get("__metrics_path__").unwrap_or("/metrics").to_string();
            let params: Vec<(String, String)> = l
                .iter()
                .filter_map(|x| {
                    x.name
                        .strip_prefix("__param_")
                        .map(|p| (p.to_string(), x.value.clone()))
                })
                .collect();
            let mut url = format!("{scheme}://{address}{path}");
            if !params.is_empty() {
                let q = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish();
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&q);
            }
            let labels = LabelSet::new(
                l.iter()
                    .filter(|x| !x.name.starts_with("__"))
                    .map(|x| (x.name.clone(), x.value.clone())),
            );
            out.push(Target {
                job: cfg.job_name.clone(),
                labels,
                discovered,
                url,
            });
        }
    }
    // Prometheus keeps one target per label set.
    out.sort_by_key(|a| a.key());
    out.dedup_by(|a, b| a.key() == b.key());
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GlobalConfig, ScrapeConfig};

    #[test]
    fn relabelled_targets_get_instance_url_and_params() {
        let sc: ScrapeConfig = serde_norway::from_str(
            r#"
job_name: blackbox
metrics_path: /probe
params: { module: [http_2xx] }
relabel_configs:
  - source_labels: [__address__]
    target_label: __param_target
  - source_labels: [__param_target]
    target_label: instance
  - target_label: __address__
    replacement: 127.0.0.1:9115
  - source_labels: [env]
    regex: skip
    action: drop
"#,
        )
        .unwrap();
        let job = sc.resolve(&GlobalConfig::default()).unwrap();
        let groups = vec![
            TargetGroup {
                targets: vec!["https://example.org".into()],
                labels: BTreeMap::from([("env".into(), "prod".into())]),
                source: "s".into(),
            },
            TargetGroup {
                targets: vec!["x".into()],
                labels: BTreeMap::from([("env".into(), "skip".into())]),
                source: "s".into(),
            },
        ];
        let (t, dropped) = targets(&job, &groups);
        assert_eq!(dropped, 1);
        assert_eq!(t.len(), 1);
        assert_eq!(
            t[0].url,
            "http://127.0.0.1:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.org"
        );
        assert_eq!(
            t[0].labels.to_string(),
            r#"{env="prod", instance="https://example.org", job="blackbox"}"#
        );
    }
}
