//! What the API and UI show of a rule group: a copy taken after each evaluation, so a
//! reader never waits for a running evaluation.

use std::collections::BTreeMap;
use std::time::Duration;

use super::file::RuleKind;
use super::group::{GroupState, Health, RuleAlert, RuleAlertState};

#[derive(Clone, Debug, Default)]
pub struct GroupStatus {
    pub file: String,
    pub name: String,
    pub interval: Duration,
    pub limit: usize,
    pub query_offset: Duration,
    /// Unix ms.
    pub last_evaluation: Option<i64>,
    pub evaluation_time: Duration,
    pub rules: Vec<RuleStatus>,
}

#[derive(Clone, Debug)]
pub struct RuleStatus {
    pub name: String,
    /// The expression, formatted by the parser as Prometheus shows it.
    pub query: String,
    pub alerting: bool,
    /// `for` of an alerting rule.
    pub hold: Duration,
    pub keep_firing_for: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub health: Health,
    pub last_error: Option<String>,
    /// Selectors that match no series at all when the query came back empty: the UI's
    /// "no data" hint (the API keeps Prometheus's health).
    pub missing_series: Vec<String>,
    pub last_evaluation: Option<i64>,
    pub evaluation_time: Duration,
    /// Pending and firing alerts (resolved ones still held are left out, as Prometheus does).
    pub alerts: Vec<RuleAlert>,
    /// The rule's state: the most severe of its alerts.
    pub state: RuleAlertState,
}

impl GroupState {
    pub fn status(&self) -> GroupStatus {
        GroupStatus {
            file: self.spec.file.clone(),
            name: self.spec.name.clone(),
            interval: self.interval,
            limit: self.spec.limit,
            query_offset: self.spec.query_offset,
            last_evaluation: self.last_evaluation,
            evaluation_time: self.evaluation_time,
            rules: self
                .rules
                .iter()
                .map(|r| {
                    let alerts: Vec<RuleAlert> = r
                        .active
                        .values()
                        .filter(|a| a.state != RuleAlertState::Inactive)
                        .cloned()
                        .collect();
                    let state = if alerts.iter().any(|a| a.state == RuleAlertState::Firing) {
                        RuleAlertState::Firing
                    } else if alerts.is_empty() {
                        RuleAlertState::Inactive
                    } else {
                        RuleAlertState::Pending
                    };
                    let (hold, keep_firing_for, annotations) = match &r.spec.kind {
                        RuleKind::Alerting {
                            hold,
                            keep_firing_for,
                            annotations,
                            ..
                        } => (*hold, *keep_firing_for, annotations.clone()),
                        RuleKind::Recording => (Duration::ZERO, Duration::ZERO, BTreeMap::new()),
                    };
                    RuleStatus {
                        name: r.spec.name.clone(),
                        query: r.spec.expr.to_string(),
                        alerting: r.spec.is_alerting(),
                        hold,
                        keep_firing_for,
                        labels: r.spec.labels.clone(),
                        annotations,
                        health: r.health,
                        last_error: r.last_error.clone(),
                        missing_series: r.missing_series.clone(),
                        last_evaluation: r.last_evaluation,
                        evaluation_time: r.evaluation_time,
                        alerts,
                        state,
                    }
                })
                .collect(),
        }
    }
}

/// Rule health on `/metrics`, read from the groups' statuses when scraped, with
/// Prometheus's metric shapes under Pharos's prefix (`rule_group="<file>;<group>"`), so
/// the alerts people write on Prometheus's own rule metrics carry over.
pub struct RuleMetrics(pub std::sync::Arc<super::RuleEvaluator>);

const RULE_METRICS: &[(&str, &str)] = &[
    (
        "pharos_rule_group_last_duration_seconds",
        "How long the group's last evaluation took.",
    ),
    (
        "pharos_rule_group_last_evaluation_timestamp_seconds",
        "When the group was last evaluated (Unix seconds).",
    ),
    (
        "pharos_rule_group_interval_seconds",
        "The group's evaluation interval.",
    ),
    ("pharos_rule_group_rules", "Rules in the group."),
    (
        "pharos_rule_group_rules_failing",
        "Rules of the group whose last evaluation failed.",
    ),
    (
        "pharos_rule_group_alerts",
        "Pending and firing alerts of the group's rules.",
    ),
];

impl RuleMetrics {
    fn gauges() -> Vec<prometheus::GaugeVec> {
        RULE_METRICS
            .iter()
            .filter_map(|(name, help)| {
                prometheus::GaugeVec::new(prometheus::Opts::new(*name, *help), &["rule_group"]).ok()
            })
            .collect()
    }
}

impl prometheus::core::Collector for RuleMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        // The families are built at each scrape; described as unchecked, as a collector
        // whose label values come and go with the rule files may be.
        Vec::new()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let gauges = Self::gauges();
        if gauges.len() != RULE_METRICS.len() {
            return Vec::new();
        }
        for g in self.0.groups() {
            let key = format!("{};{}", g.file, g.name);
            let failing = g.rules.iter().filter(|r| r.last_error.is_some()).count();
            let alerts: usize = g.rules.iter().map(|r| r.alerts.len()).sum();
            let values = [
                g.evaluation_time.as_secs_f64(),
                g.last_evaluation.map_or(0.0, |ms| ms as f64 / 1000.0),
                g.interval.as_secs_f64(),
                g.rules.len() as f64,
                failing as f64,
                alerts as f64,
            ];
            for (gauge, v) in gauges.iter().zip(values) {
                gauge.with_label_values(&[key.as_str()]).set(v);
            }
        }
        gauges
            .iter()
            .flat_map(prometheus::core::Collector::collect)
            .collect()
    }
}
