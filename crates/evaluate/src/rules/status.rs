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
