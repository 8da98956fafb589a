//! Prometheus rule files as they run: each group and rule with its health, last error,
//! evaluation time and alerts. The evaluator itself is `pharos_evaluate::rules`.

pub use pharos_evaluate::rules::group::RuleAlert;
pub use pharos_evaluate::rules::template_funcs::go_float;
pub use pharos_evaluate::rules::{GroupStatus, RuleStatus};

use crate::App;

impl App {
    /// Every rule group as of its last evaluation, in the order of the rule files.
    pub fn rule_groups(&self) -> Vec<GroupStatus> {
        self.rules.groups()
    }

    /// Every pending and firing alert of the alerting rules, in rule file order, as
    /// Prometheus's `/api/v1/alerts` lists them.
    pub fn active_rule_alerts(&self) -> Vec<RuleAlert> {
        self.rules
            .groups()
            .into_iter()
            .flat_map(|g| g.rules)
            .filter(|r| r.alerting)
            .flat_map(|r| r.alerts)
            .collect()
    }
}
