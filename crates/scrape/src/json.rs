//! JSON targets: endpoints that answer JSON (a `/health` with `queue_size`, a `/metrics`
//! that returns an object of counters) turned into series by paths written in the job's
//! `json:` list.
//!
//! A path is dot-separated keys (array elements by index); `*` matches every key or
//! element, and `{name}` does too while putting the key (or index) into label `name`:
//! `endpoints.{endpoint}.requests` gives one series per endpoint. Numbers are taken as
//! they are, booleans as 1 / 0, numeric strings parsed, other strings through `values:`.

use std::collections::BTreeMap;

use pharos_model::series::LabelSet;
use serde::Deserialize;
use serde_json::Value;

use pharos_ingest::prometheus::exposition::{is_label_name, is_metric_name};

use crate::ScrapeError;
use crate::metadata::MetricMetadata;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMetricSpec {
    pub path: String,
    /// The metric name; defaults to the path's fixed keys joined with `_`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: JsonMetricKind,
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Numbers for string values (`healthy: 1`, `degraded: 0.5`).
    #[serde(default)]
    pub values: BTreeMap<String, f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonMetricKind {
    #[default]
    Gauge,
    Counter,
}

enum Segment<'a> {
    Key(&'a str),
    Any,
    Capture(&'a str),
}

fn segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split('.').map(|s| {
        if s == "*" {
            Segment::Any
        } else if let Some(name) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            Segment::Capture(name)
        } else {
            Segment::Key(s)
        }
    })
}

impl JsonMetricSpec {
    pub fn metric_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => {
                let mut n: String = segments(&self.path)
                    .filter_map(|s| match s {
                        Segment::Key(k) => Some(k),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("_")
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                if n.starts_with(|c: char| c.is_ascii_digit()) {
                    n.insert(0, '_');
                }
                n
            }
        }
    }

    pub fn validate(&self) -> Result<(), ScrapeError> {
        if self.path.is_empty() || self.path.split('.').any(str::is_empty) {
            return Err(ScrapeError::JsonEmptyKey {
                path: self.path.clone(),
            });
        }
        for s in segments(&self.path) {
            if let Segment::Capture(name) = s
                && !is_label_name(name)
            {
                return Err(ScrapeError::JsonCaptureName {
                    path: self.path.clone(),
                    capture: name.to_string(),
                });
            }
        }
        let name = self.metric_name();
        if !is_metric_name(&name) {
            return Err(ScrapeError::JsonMetricName(name));
        }
        for l in self.labels.keys() {
            if !is_label_name(l) {
                return Err(ScrapeError::JsonLabelName(l.clone()));
            }
        }
        Ok(())
    }

    /// The series this spec finds in a document: (labels from captures and `labels:`,
    /// without the metric name; value). Values that are not numbers are skipped.
    pub fn extract(&self, doc: &Value) -> Vec<(Vec<(String, String)>, f64)> {
        let segs: Vec<Segment<'_>> = segments(&self.path).collect();
        let mut out = Vec::new();
        walk(doc, &segs, &mut Vec::new(), &mut |captures, v| {
            if let Some(x) = self.number(v) {
                let mut labels: Vec<(String, String)> = self
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                labels.extend(captures.iter().cloned());
                out.push((labels, x));
            }
        });
        out
    }

    fn number(&self, v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::String(s) => self
                .values
                .get(s)
                .copied()
                .or_else(|| s.trim().parse::<f64>().ok()),
            _ => None,
        }
    }

    /// What `/api/v1/metadata` shows for this spec's metric.
    pub fn metadata(&self) -> MetricMetadata {
        MetricMetadata {
            kind: match self.kind {
                JsonMetricKind::Gauge => "gauge",
                JsonMetricKind::Counter => "counter",
            }
            .to_string(),
            help: self.help.clone().unwrap_or_default(),
            unit: String::new(),
        }
    }

    /// The full label set of one extracted series.
    pub fn series_labels(&self, labels: Vec<(String, String)>) -> LabelSet {
        LabelSet::new(
            labels
                .into_iter()
                .chain([("__name__".to_string(), self.metric_name())]),
        )
    }
}

/// Told of every value a path reaches, with the `{label}` captures on the way.
type Visit<'f, 'v> = dyn FnMut(&[(String, String)], &'v Value) + 'f;

fn walk<'v>(
    v: &'v Value,
    segs: &[Segment<'_>],
    caps: &mut Vec<(String, String)>,
    f: &mut Visit<'_, 'v>,
) {
    let Some((first, rest)) = segs.split_first() else {
        f(caps, v);
        return;
    };
    let mut visit = |key: String, child: &'v Value, caps: &mut Vec<(String, String)>| match first {
        Segment::Capture(name) => {
            caps.push((name.to_string(), key));
            walk(child, rest, caps, f);
            caps.pop();
        }
        _ => walk(child, rest, caps, f),
    };
    match (first, v) {
        (Segment::Key(k), Value::Object(m)) => {
            if let Some(c) = m.get(*k) {
                walk(c, rest, caps, f);
            }
        }
        (Segment::Key(k), Value::Array(a)) => {
            if let Some(c) = k.parse::<usize>().ok().and_then(|i| a.get(i)) {
                walk(c, rest, caps, f);
            }
        }
        (Segment::Any | Segment::Capture(_), Value::Object(m)) => {
            for (k, c) in m {
                visit(k.clone(), c, caps);
            }
        }
        (Segment::Any | Segment::Capture(_), Value::Array(a)) => {
            for (i, c) in a.iter().enumerate() {
                visit(i.to_string(), c, caps);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> JsonMetricSpec {
        let s: JsonMetricSpec = serde_norway::from_str(yaml).unwrap();
        s.validate().unwrap();
        s
    }

    #[test]
    fn seed_002_metrics_document() {
        let doc: Value = serde_json::from_str(
            r#"{"application": {"requests": {"total": 1523, "errors": 12}},
                "endpoints": {"/api/leads": {"requests": 450}, "/api/customers": {"requests": 320}},
                "status": "healthy", "workers": [{"busy": true}, {"busy": false}]}"#,
        )
        .unwrap();
        let total = spec("path: application.requests.total\ntype: counter\n");
        assert_eq!(total.metric_name(), "application_requests_total");
        assert_eq!(total.extract(&doc), vec![(vec![], 1523.0)]);
        let per = spec("path: endpoints.{endpoint}.requests\nname: app_endpoint_requests\n");
        let mut got = per.extract(&doc);
        got.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(got[1].0, vec![("endpoint".into(), "/api/leads".into())]);
        let status = spec("path: status\nname: app_status\nvalues: {healthy: 1, degraded: 0.5}\n");
        assert_eq!(status.extract(&doc)[0].1, 1.0);
        let busy = spec("path: workers.{worker}.busy\nname: worker_busy\nlabels: {pool: main}\n");
        let b = busy.extract(&doc);
        assert_eq!(b.len(), 2);
        assert_eq!(
            busy.series_labels(b[0].0.clone()).to_string(),
            r#"worker_busy{pool="main", worker="0"}"#
        );
    }

    #[test]
    fn bad_specs_are_refused() {
        for yaml in [
            "path: a..b\n",
            "path: a.{1x}\n",
            "path: x\nname: 'bad name'\n",
        ] {
            let s: JsonMetricSpec = serde_norway::from_str(yaml).unwrap();
            assert!(s.validate().is_err(), "{yaml}");
        }
    }
}
