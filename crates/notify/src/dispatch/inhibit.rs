//! `inhibit_rules`: a firing source alert mutes the target alerts that follow from it
//! (a database that is down mutes the errors of everything using it), as Alertmanager
//! decides it.

use pharos_model::series::MatchOp;
use pharos_model::{Alert, AlertState, Labels};

use super::config::{InhibitRuleConfig, RoutingError};
use super::matchers::{Matchers, parse_matchers};

#[derive(Clone, Debug)]
pub struct InhibitRule {
    pub source: Matchers,
    pub target: Matchers,
    pub equal: Vec<String>,
}

impl InhibitRule {
    pub fn from_config(c: &InhibitRuleConfig) -> Result<InhibitRule, RoutingError> {
        let side = |list: &[String],
                    equal: &std::collections::BTreeMap<String, String>,
                    re: &std::collections::BTreeMap<String, String>,
                    prefix: &str|
         -> Result<Matchers, RoutingError> {
            let mut m = Matchers::default();
            for (i, s) in list.iter().enumerate() {
                m.0.extend(parse_matchers(s).map_err(|e| RoutingError {
                    field: format!("{prefix}_matchers[{i}]"),
                    message: e.to_string(),
                })?);
            }
            for (k, v) in equal {
                m.push(k, MatchOp::Equal, v).map_err(|e| RoutingError {
                    field: format!("{prefix}_match"),
                    message: e.to_string(),
                })?;
            }
            for (k, v) in re {
                m.push(k, MatchOp::Regex, v).map_err(|e| RoutingError {
                    field: format!("{prefix}_match_re.{k}"),
                    message: e.to_string(),
                })?;
            }
            Ok(m)
        };
        Ok(InhibitRule {
            source: side(
                &c.source_matchers,
                &c.source_match,
                &c.source_match_re,
                "source",
            )?,
            target: side(
                &c.target_matchers,
                &c.target_match,
                &c.target_match_re,
                "target",
            )?,
            equal: c.equal.clone(),
        })
    }

    fn equal_on(&self, a: &Labels, b: &Labels) -> bool {
        self.equal.iter().all(|n| {
            a.get(n).map(String::as_str).unwrap_or("") == b.get(n).map(String::as_str).unwrap_or("")
        })
    }
}

/// The fingerprints of the firing alerts that inhibit `target`, empty when none does.
/// An alert matching both sides of a rule is not inhibited by another alert that also
/// matches both (Alertmanager's rule, so such alerts do not mute each other).
pub fn inhibited_by<'a>(
    rules: &[InhibitRule],
    target: &Alert,
    alerts: impl Iterator<Item = &'a Alert> + Clone,
) -> Vec<String> {
    let mut out = Vec::new();
    for rule in rules {
        if !rule.target.matches(&target.labels) {
            continue;
        }
        let target_is_source = rule.source.matches(&target.labels);
        for source in alerts.clone() {
            if source.state != AlertState::Firing
                || source.fingerprint == target.fingerprint
                || !rule.source.matches(&source.labels)
                || !rule.equal_on(&source.labels, &target.labels)
                || (target_is_source && rule.target.matches(&source.labels))
            {
                continue;
            }
            if !out.contains(&source.fingerprint) {
                out.push(source.fingerprint.clone());
            }
        }
    }
    out
}
