//! The incident sections of `pharos.yaml` checked together: `escalation_policies`,
//! `oncall`, `runbooks` and `runbooks_dir`, against each other and the receivers.

use std::collections::BTreeMap;
use std::path::Path;

use super::escalation::{EscalationPolicy, EscalationPolicyConfig, ONCALL_PREFIX};
use super::runbooks::Runbooks;
use crate::oncall::{Schedule, ScheduleConfig};

/// `escalation_policies`, `oncall`, `runbooks` and `runbooks_dir`, checked; swapped whole
/// on reload.
#[derive(Clone, Debug, Default)]
pub struct IncidentSettings {
    pub policies: BTreeMap<String, EscalationPolicy>,
    pub schedules: BTreeMap<String, Schedule>,
    pub runbooks: Runbooks,
}

/// A config error in these sections: the full field path and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct IncidentConfigError {
    pub field: String,
    pub message: String,
}

impl IncidentSettings {
    /// Checks the sections against each other and the receivers' names; relative runbook
    /// paths are taken from `base_dir` (the config file's directory).
    pub fn from_config(
        policies: &[EscalationPolicyConfig],
        schedules: &[ScheduleConfig],
        runbooks: &BTreeMap<String, String>,
        runbooks_dir: Option<&str>,
        base_dir: &Path,
        receivers: &[String],
    ) -> Result<IncidentSettings, IncidentConfigError> {
        let err = |field: String, message: String| IncidentConfigError { field, message };
        let mut checked_schedules = BTreeMap::new();
        for (i, c) in schedules.iter().enumerate() {
            let s = Schedule::from_config(c)
                .map_err(|e| err(format!("oncall[{i}].{}", e.field), e.message))?;
            for (p, person) in c.people.iter().enumerate() {
                for (j, r) in person.receivers.iter().enumerate() {
                    if !receivers.contains(r) {
                        return Err(err(
                            format!("oncall[{i}].people[{p}].receivers[{j}]"),
                            format!("receiver {r:?} is not defined in `receivers`"),
                        ));
                    }
                }
            }
            if checked_schedules.insert(s.name.clone(), s).is_some() {
                return Err(err(
                    format!("oncall[{i}].name"),
                    format!("a schedule named {:?} is defined twice", c.name),
                ));
            }
        }
        let known = |r: &str| -> Result<(), String> {
            match r.strip_prefix(ONCALL_PREFIX) {
                Some(s) if checked_schedules.contains_key(s) => Ok(()),
                Some(s) => Err(format!("on-call schedule {s:?} is not defined in `oncall`")),
                None if receivers.iter().any(|n| n == r) => Ok(()),
                None => Err(format!(
                    "receiver {r:?} is not defined in `receivers` (or write oncall:<schedule>)"
                )),
            }
        };
        let mut checked_policies = BTreeMap::new();
        for (i, c) in policies.iter().enumerate() {
            let p = EscalationPolicy::from_config(c, &known)
                .map_err(|e| err(format!("escalation_policies[{i}].{}", e.field), e.message))?;
            if checked_policies.insert(p.name.clone(), p).is_some() {
                return Err(err(
                    format!("escalation_policies[{i}].name"),
                    format!("a policy named {:?} is defined twice", c.name),
                ));
            }
        }
        let mut files = BTreeMap::new();
        for (name, path) in runbooks {
            let full = base_dir.join(path);
            if !full.is_file() {
                return Err(err(
                    format!("runbooks.{name}"),
                    format!("{} is not a file", full.display()),
                ));
            }
            files.insert(name.clone(), full);
        }
        let dir = match runbooks_dir {
            None => None,
            Some(d) => {
                let full = base_dir.join(d);
                if !full.is_dir() {
                    return Err(err(
                        "runbooks_dir".into(),
                        format!("{} is not a directory", full.display()),
                    ));
                }
                Some(full)
            }
        };
        Ok(IncidentSettings {
            policies: checked_policies,
            schedules: checked_schedules,
            runbooks: Runbooks { files, dir },
        })
    }
}
