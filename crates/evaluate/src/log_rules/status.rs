//! What the API and UI show of each log rule: its patterns, how many lines matched in its
//! window and in all, what is firing, and the last matching line.

use chrono::{DateTime, Utc};
use pharos_model::HumanDuration;
use serde::Serialize;

use super::config::LogRuleKind;
use super::state::RuleState;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogRuleStatus {
    pub name: String,
    pub kind: LogRuleKind,
    /// `firing` while any of its alerts is; count rules are always `inactive`.
    pub state: &'static str,
    /// `per`, or `resolve_after` for forbidden rules.
    pub window: HumanDuration,
    /// The limit of rate_limited and threshold rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// Empty for threshold rules.
    pub patterns: Vec<PatternStatus>,
    /// Matches in the window, over every pattern and service.
    pub matches_in_window: u64,
    /// The engine stopped counting a key at its cap: the true number is higher.
    pub matches_in_window_capped: bool,
    /// Since Pharos started or the rule last changed.
    pub matches_total: u64,
    pub firing: Vec<FiringKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_match: Option<LastMatch>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatternStatus {
    pub pattern: String,
    pub severity: String,
    pub matches_in_window: u64,
    pub matches_total: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FiringKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    pub service: String,
    pub severity: String,
    pub since: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastMatch {
    pub time: DateTime<Utc>,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Cut at [`super::alert::LINE_LIMIT`] bytes.
    pub line: String,
}

/// The status of `r` as of `now_ms` (the last tick).
pub(crate) fn rule_status(r: &RuleState, now_ms: i64) -> LogRuleStatus {
    let rule = &r.rule;
    let cutoff = now_ms - rule.window.as_millis() as i64;
    let mut patterns: Vec<PatternStatus> = rule
        .patterns
        .iter()
        .map(|p| PatternStatus {
            pattern: p.text.clone(),
            severity: p.severity.clone(),
            matches_in_window: 0,
            matches_total: 0,
        })
        .collect();
    let mut s = LogRuleStatus {
        name: rule.name().to_string(),
        kind: rule.kind,
        state: "inactive",
        window: HumanDuration(rule.window),
        max: matches!(rule.kind, LogRuleKind::RateLimited | LogRuleKind::Threshold)
            .then_some(rule.max),
        patterns: Vec::new(),
        matches_in_window: 0,
        matches_in_window_capped: false,
        matches_total: 0,
        firing: Vec::new(),
        last_match: None,
    };
    let mut last: Option<(i64, &str, usize, &str)> = None;
    for (slot, keys) in r.slots.iter().enumerate() {
        let pattern = rule.patterns.get(slot).map(|p| p.text.clone());
        for (service, m) in keys {
            let n = m.count_since(cutoff);
            s.matches_in_window += n as u64;
            s.matches_in_window_capped |= n >= r.cap();
            s.matches_total += m.total;
            if let Some(p) = patterns.get_mut(slot) {
                p.matches_in_window += n as u64;
                p.matches_total += m.total;
            }
            if let Some(a) = &m.alert {
                s.firing.push(FiringKey {
                    pattern: pattern.clone(),
                    service: service.clone(),
                    severity: a.labels.get("severity").cloned().unwrap_or_default(),
                    since: a.starts_at,
                });
            }
            if let Some(t) = m.last_ms
                && last.is_none_or(|(l, ..)| t > l)
            {
                last = Some((t, service, slot, &m.last_line));
            }
        }
    }
    if !s.firing.is_empty() {
        s.state = "firing";
    }
    s.firing
        .sort_by(|a, b| (&a.pattern, &a.service).cmp(&(&b.pattern, &b.service)));
    s.patterns = patterns;
    s.last_match = last.and_then(|(t, service, slot, line)| {
        Some(LastMatch {
            time: DateTime::from_timestamp_millis(t)?,
            service: service.to_string(),
            pattern: rule.patterns.get(slot).map(|p| p.text.clone()),
            line: line.to_string(),
        })
    });
    s
}
