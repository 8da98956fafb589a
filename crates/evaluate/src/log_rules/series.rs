//! Log counts as series, so PromQL rules and dashboards cover logs too
//! (`rate(pharos_log_lines_total{level="ERROR"}[5m])`):
//!
//! - `pharos_log_lines_total{service, level}`: every line seen, `level` absent when the
//!   line has none;
//! - `pharos_log_rule_matches_total{rule, pattern, service}`: matches per rule (count
//!   rules included), `pattern` absent for threshold rules;
//! - `pharos_log_rules_lagged_batches_total`: batches the engine never saw because it fell
//!   behind the log store's broadcast (written from the first one on).
//!
//! All are counters from Pharos's start (a restart is a counter reset, which `rate`
//! handles). Services beyond [`super::state::MAX_SERVICES`] share `service="_other"`.

use pharos_model::LogLevel;
use pharos_model::series::{LabelSet, METRIC_NAME, SeriesSample, stale_marker};

use super::state::{LineCounts, RuleState};

pub const LINES_TOTAL: &str = "pharos_log_lines_total";
pub const RULE_MATCHES_TOTAL: &str = "pharos_log_rule_matches_total";
pub const LAGGED_BATCHES_TOTAL: &str = "pharos_log_rules_lagged_batches_total";

pub(crate) fn line_samples(lines: &LineCounts, t: i64, out: &mut Vec<SeriesSample>) {
    for (service, counts) in &lines.by_service {
        for (i, &n) in counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let level = i
                .checked_sub(1)
                .and_then(|r| LogLevel::from_rank(r as u8))
                .map_or("", LogLevel::as_str);
            out.push(SeriesSample {
                labels: LabelSet::new([
                    (METRIC_NAME, LINES_TOTAL),
                    ("service", service.as_str()),
                    ("level", level),
                ]),
                t,
                v: n as f64,
            });
        }
    }
}

pub(crate) fn rule_samples(rule: &RuleState, t: i64, out: &mut Vec<SeriesSample>) {
    for (slot, keys) in rule.slots.iter().enumerate() {
        for (service, m) in keys {
            out.push(SeriesSample {
                labels: rule_labels(rule, slot, service),
                t,
                v: m.total as f64,
            });
        }
    }
}

/// Staleness markers for a rule that is gone, so its series end now rather than linger
/// for the lookback window.
pub(crate) fn rule_stale(rule: &RuleState, t: i64, out: &mut Vec<SeriesSample>) {
    for (slot, keys) in rule.slots.iter().enumerate() {
        for service in keys.keys() {
            out.push(SeriesSample {
                labels: rule_labels(rule, slot, service),
                t,
                v: stale_marker(),
            });
        }
    }
}

fn rule_labels(rule: &RuleState, slot: usize, service: &str) -> LabelSet {
    let pattern = rule.rule.patterns.get(slot).map_or("", |p| p.text.as_str());
    LabelSet::new([
        (METRIC_NAME, RULE_MATCHES_TOTAL),
        ("rule", rule.rule.name()),
        ("pattern", pattern),
        ("service", service),
    ])
}

pub(crate) fn lagged_sample(lagged: u64, t: i64) -> SeriesSample {
    SeriesSample {
        labels: LabelSet::new([(METRIC_NAME, LAGGED_BATCHES_TOTAL)]),
        t,
        v: lagged as f64,
    }
}
