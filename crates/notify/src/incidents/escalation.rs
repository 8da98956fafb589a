//! Escalation policies: who is told when an incident stays unacknowledged. The
//! `escalation_policies:` section of `pharos.yaml` (a Pharos extension) as written, its
//! checked form, and the schedule of steps — pure, with time passed in.
//!
//! A policy's steps are laid out from the incident's opening (`after: 0m` is at once,
//! `after: 5m` five minutes later). When the policy has no `0m` step, the route's own
//! receiver is level 1: the dispatcher already told it, so the first pass skips it. After
//! the last step the policy starts again, `repeat` more times; a pass lasts until the last
//! step plus the gap before it (steps at 0m and 5m repeat every 10 minutes), so every
//! level gets the same time to answer.

use std::time::Duration;

use chrono::{DateTime, Utc};
use pharos_model::HumanDuration;
use serde::{Deserialize, Serialize};

/// `escalation_policies[]` as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicyConfig {
    pub name: String,
    pub steps: Vec<EscalationStepConfig>,
    /// How many more times the steps run when nobody acknowledges (0: once).
    #[serde(default)]
    pub repeat: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EscalationStepConfig {
    /// Time since the incident opened.
    pub after: HumanDuration,
    /// Receiver names, or `oncall:<schedule>` for whoever is on call then.
    pub receivers: Vec<String>,
}

/// A policy config error: the field at fault (relative to the policy) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EscalationStep {
    pub after: Duration,
    pub receivers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EscalationPolicy {
    pub name: String,
    /// In order of `after`.
    pub steps: Vec<EscalationStep>,
    pub repeat: u32,
}

/// The policy as one incident runs it: the route's receiver added as level 1 when the
/// policy has no `0m` step.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub steps: Vec<EscalationStep>,
    /// Step 0 is the route's receiver, already notified by the dispatcher in the first pass.
    pub implicit_first: bool,
    pub passes: u32,
    pub pass_length: Duration,
}

/// One entry of the sequence that is due.
#[derive(Clone, Debug, PartialEq)]
pub struct DueStep {
    /// Index in the whole sequence (pass × steps + step); the incident records `index + 1`.
    pub index: u32,
    pub pass: u32,
    pub level: usize,
    pub receivers: Vec<String>,
    /// Nothing to send: the dispatcher's own first notification.
    pub already_sent: bool,
}

/// A receiver reference of an escalation step.
pub const ONCALL_PREFIX: &str = "oncall:";

impl EscalationPolicy {
    /// Checks a policy; `receiver_known` says whether a name (a receiver, or
    /// `oncall:<schedule>`) exists.
    pub fn from_config(
        c: &EscalationPolicyConfig,
        receiver_known: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<EscalationPolicy, PolicyError> {
        let e = |field: String, message: String| PolicyError { field, message };
        if c.name.trim().is_empty() {
            return Err(e("name".into(), "must not be empty".into()));
        }
        if c.steps.is_empty() {
            return Err(e("steps".into(), "a policy needs at least one step".into()));
        }
        let mut steps = Vec::new();
        for (i, s) in c.steps.iter().enumerate() {
            if s.receivers.is_empty() {
                return Err(e(
                    format!("steps[{i}].receivers"),
                    "a step needs at least one receiver".into(),
                ));
            }
            for (j, r) in s.receivers.iter().enumerate() {
                receiver_known(r).map_err(|m| e(format!("steps[{i}].receivers[{j}]"), m))?;
            }
            if let Some(prev) = steps.last().map(|p: &EscalationStep| p.after)
                && s.after.as_duration() <= prev
            {
                return Err(e(
                    format!("steps[{i}].after"),
                    "steps must be in order of `after`, each later than the one before".into(),
                ));
            }
            steps.push(EscalationStep {
                after: s.after.as_duration(),
                receivers: s.receivers.clone(),
            });
        }
        Ok(EscalationPolicy {
            name: c.name.clone(),
            steps,
            repeat: c.repeat,
        })
    }

    pub fn plan(&self, route_receiver: &str) -> Plan {
        let mut steps = self.steps.clone();
        let implicit_first = steps.first().is_none_or(|s| !s.after.is_zero());
        if implicit_first {
            steps.insert(
                0,
                EscalationStep {
                    after: Duration::ZERO,
                    receivers: vec![route_receiver.to_string()],
                },
            );
        }
        let last = steps.last().map(|s| s.after).unwrap_or_default();
        let gap = match steps.len() {
            0 | 1 => last,
            n => last - steps[n - 2].after,
        };
        let pass_length = last + gap;
        Plan {
            steps,
            implicit_first,
            // A pass of no length cannot repeat.
            passes: if pass_length.is_zero() {
                1
            } else {
                self.repeat.saturating_add(1)
            },
            pass_length,
        }
    }
}

impl Plan {
    pub fn len(&self) -> u32 {
        self.passes.saturating_mul(self.steps.len() as u32)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When sequence entry `index` is due for an incident opened at `opened_at`.
    pub fn at(&self, opened_at: DateTime<Utc>, index: u32) -> DateTime<Utc> {
        let n = self.steps.len().max(1) as u32;
        let (pass, step) = (index / n, (index % n) as usize);
        let offset = self.pass_length * pass + self.steps[step.min(self.steps.len() - 1)].after;
        opened_at + chrono::Duration::from_std(offset).unwrap_or(chrono::Duration::MAX)
    }

    /// The latest entry due at `now` that has not been handled (`reached` entries have).
    /// Entries passed over while Pharos was down are skipped: only the latest goes out.
    pub fn due(
        &self,
        opened_at: DateTime<Utc>,
        now: DateTime<Utc>,
        reached: u32,
    ) -> Option<DueStep> {
        if self.steps.is_empty() {
            return None;
        }
        let mut latest = None;
        for index in reached..self.len() {
            if self.at(opened_at, index) <= now {
                latest = Some(index);
            } else {
                break;
            }
        }
        let index = latest?;
        let n = self.steps.len() as u32;
        let (pass, level) = (index / n, (index % n) as usize);
        Some(DueStep {
            index,
            pass,
            level,
            receivers: self.steps[level].receivers.clone(),
            already_sent: self.implicit_first && index == 0,
        })
    }

    /// When the next entry after `reached` is due, if any.
    pub fn next_at(&self, opened_at: DateTime<Utc>, reached: u32) -> Option<DateTime<Utc>> {
        (reached < self.len()).then(|| self.at(opened_at, reached))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> EscalationPolicy {
        let c: EscalationPolicyConfig = serde_norway::from_str(yaml).unwrap();
        EscalationPolicy::from_config(&c, &|_| Ok(())).unwrap()
    }

    #[test]
    fn route_receiver_is_level_one_without_a_zero_step() {
        let p = policy("{name: p, steps: [{after: 5m, receivers: ['oncall:primary']}], repeat: 1}");
        let plan = p.plan("team-slack");
        assert!(plan.implicit_first);
        assert_eq!(plan.steps[0].receivers, ["team-slack"]);
        assert_eq!(plan.pass_length, Duration::from_secs(600));
        assert_eq!(plan.len(), 4);
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let first = plan.due(t0, t0, 0).unwrap();
        assert!(first.already_sent);
        assert_eq!(plan.due(t0, t0 + chrono::Duration::seconds(299), 1), None);
        let l2 = plan
            .due(t0, t0 + chrono::Duration::seconds(300), 1)
            .unwrap();
        assert_eq!((l2.index, l2.level, l2.pass), (1, 1, 0));
        // The repeat tells level 1 again, the dispatcher not being involved this time.
        let again = plan
            .due(t0, t0 + chrono::Duration::seconds(600), 2)
            .unwrap();
        assert_eq!((again.level, again.pass, again.already_sent), (0, 1, false));
        assert_eq!(plan.next_at(t0, 4), None);
    }

    #[test]
    fn missed_steps_send_only_the_latest() {
        let p = policy(
            "{name: p, steps: [{after: 0m, receivers: [a]}, {after: 5m, receivers: [b]}, {after: 15m, receivers: [c]}]}",
        );
        let plan = p.plan("route");
        assert!(!plan.implicit_first);
        assert_eq!(plan.len(), 3);
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let due = plan.due(t0, t0 + chrono::Duration::minutes(20), 0).unwrap();
        assert_eq!(
            (due.index, due.receivers.clone()),
            (2, vec!["c".to_string()])
        );
        assert_eq!(plan.due(t0, t0 + chrono::Duration::hours(5), 3), None);
    }

    #[test]
    fn steps_out_of_order_are_refused() {
        let c: EscalationPolicyConfig = serde_norway::from_str(
            "{name: p, steps: [{after: 5m, receivers: [a]}, {after: 1m, receivers: [b]}]}",
        )
        .unwrap();
        let e = EscalationPolicy::from_config(&c, &|_| Ok(())).unwrap_err();
        assert_eq!(e.field, "steps[1].after");
        let e = EscalationPolicy::from_config(&c, &|r| {
            if r == "a" {
                Err("unknown".into())
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(e.field, "steps[0].receivers[0]");
    }
}
