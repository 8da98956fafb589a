//! Ingest metrics, and the error and transaction counts as series (per project, level and
//! issue) so that rules and dashboards can use them. Transaction names and issue ids come
//! from whoever holds a project's public key, so each project gets series of their own for
//! at most `limits.series` of each (the first seen since start); the rest are counted
//! under [`OTHER`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

use super::directory::ProjectInfo;
use pharos_store::errors::IngestOutcome;

/// The label value that counts every transaction name or issue past a project's cap.
pub const OTHER: &str = "<other>";

/// Which label values have series of their own, per project and label.
#[derive(Default)]
struct NamedSeries {
    names: Mutex<HashMap<(i64, &'static str), HashSet<String>>>,
}

impl NamedSeries {
    /// `value` itself while the project has fewer than `cap` values for `label` (or already
    /// has this one), [`OTHER`] after.
    fn label<'a>(&self, project: i64, label: &'static str, value: &'a str, cap: u32) -> &'a str {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let seen = names.entry((project, label)).or_default();
        if seen.contains(value) {
            return value;
        }
        if seen.len() < cap as usize {
            seen.insert(value.to_owned());
            return value;
        }
        OTHER
    }
}

#[derive(Clone)]
pub struct IngestMetrics {
    envelopes: IntCounterVec,
    items: IntCounterVec,
    events: IntCounterVec,
    issue_events: IntCounterVec,
    transactions: IntCounterVec,
    transaction_duration: HistogramVec,
    discarded: IntCounterVec,
    sessions_started: IntCounterVec,
    sessions_crashed: IntCounterVec,
    latency: Histogram,
    decoded_bytes: IntCounter,
    named: Arc<NamedSeries>,
}

impl IngestMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<IngestMetrics> {
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let transaction_duration = HistogramVec::new(
            HistogramOpts::new(
                "pharos_transaction_duration_seconds",
                "Duration of transactions reported by SDKs.",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
            ]),
            &["project", "transaction"],
        )?;
        registry.register(Box::new(transaction_duration.clone()))?;
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "pharos_sentry_ingest_duration_seconds",
                "Time from receiving an envelope to answering it (stored and grouped).",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )?;
        registry.register(Box::new(latency.clone()))?;
        let decoded_bytes = IntCounter::new(
            "pharos_sentry_decoded_bytes_total",
            "Bytes of compressed Sentry bodies decoded (only ever after their key was checked).",
        )?;
        registry.register(Box::new(decoded_bytes.clone()))?;
        Ok(IngestMetrics {
            envelopes: counter(
                "pharos_sentry_envelopes_total",
                "Envelopes and store requests by outcome.",
                &["outcome"],
            )?,
            items: counter(
                "pharos_sentry_items_total",
                "Envelope items by type and outcome (accepted, skipped, invalid, rate_limited, filtered).",
                &["type", "outcome"],
            )?,
            events: counter(
                "pharos_error_events_total",
                "Error and message events stored, by project and level.",
                &["project", "level"],
            )?,
            issue_events: counter(
                "pharos_issue_events_total",
                "Events stored per issue.",
                &["project", "issue"],
            )?,
            transactions: counter(
                "pharos_transactions_total",
                "Transactions stored, by project, name and status (ok or failed).",
                &["project", "transaction", "status"],
            )?,
            transaction_duration,
            discarded: counter(
                "pharos_sdk_discarded_events_total",
                "What SDKs report having dropped (client reports).",
                &["project"],
            )?,
            sessions_started: counter(
                "pharos_sessions_started_total",
                "Release-health sessions counted, by project (what crash-free rates divide by).",
                &["project"],
            )?,
            sessions_crashed: counter(
                "pharos_sessions_crashed_total",
                "Release-health sessions that crashed or ended abnormally, by project.",
                &["project"],
            )?,
            latency,
            decoded_bytes,
            named: Arc::default(),
        })
    }

    pub fn envelope(&self, outcome: &str) {
        self.envelopes.with_label_values(&[outcome]).inc();
    }

    pub fn item(&self, ty: &str, outcome: &str) {
        // Unknown item types are bounded by what SDKs send; cap the label anyway.
        let ty = if ty.len() > 32 { "other" } else { ty };
        self.items.with_label_values(&[ty, outcome]).inc();
    }

    pub fn decoded(&self, bytes: usize) {
        self.decoded_bytes.inc_by(bytes as u64);
    }

    pub fn latency(&self, secs: f64) {
        self.latency.observe(secs);
    }

    /// Starts a project's session counters at 0, so the first sessions show as an increase
    /// (a counter first seen at 10 has a `rate` of 0 until it moves again).
    pub fn known_project(&self, name: &str) {
        self.sessions_started.with_label_values(&[name]);
        self.sessions_crashed.with_label_values(&[name]);
    }

    /// Sessions stored: how many, and how many of them crashed or ended abnormally (the
    /// series a crash-free SLO reads).
    pub fn sessions(&self, project: &ProjectInfo, started: u64, crashed: u64) {
        let p = project.name.as_str();
        self.sessions_started
            .with_label_values(&[p])
            .inc_by(started);
        self.sessions_crashed
            .with_label_values(&[p])
            .inc_by(crashed);
    }

    pub fn record(
        &self,
        project: &ProjectInfo,
        o: &IngestOutcome,
        labels: &[(&'static str, String)],
    ) {
        let p = project.name.as_str();
        let cap = project.limits.series;
        for e in o.events.iter().filter(|e| !e.duplicate) {
            self.events.with_label_values(&[p, e.level.as_str()]).inc();
            let issue = e.issue_id.to_string();
            let issue = self.named.label(project.id, "issue", &issue, cap);
            self.issue_events.with_label_values(&[p, issue]).inc();
        }
        for (name, duration_ms, failed) in &o.transactions {
            let name = self.named.label(project.id, "transaction", name, cap);
            let status = if *failed { "failed" } else { "ok" };
            self.transactions
                .with_label_values(&[p, name, status])
                .inc();
            self.transaction_duration
                .with_label_values(&[p, name])
                .observe(duration_ms / 1000.0);
        }
        for (ty, n) in labels {
            if *ty == "client_report" {
                let n: u64 = n.parse().unwrap_or(0);
                self.discarded.with_label_values(&[p]).inc_by(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_cap_share_one_series() {
        let n = NamedSeries::default();
        assert_eq!(n.label(1, "transaction", "/a", 2), "/a");
        assert_eq!(n.label(1, "transaction", "/b", 2), "/b");
        assert_eq!(n.label(1, "transaction", "/c", 2), OTHER);
        assert_eq!(n.label(1, "transaction", "/a", 2), "/a");
        // Each project and label has its own cap.
        assert_eq!(n.label(2, "transaction", "/c", 2), "/c");
        assert_eq!(n.label(1, "issue", "7", 2), "7");
    }
}
