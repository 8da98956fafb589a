//! Silences in force: a stored [`SilenceRecord`] with its matchers compiled and its
//! recurring schedule (Pharos's `time_intervals` on a silence) checked.

use chrono::{DateTime, Utc};
use pharos_model::Labels;
use pharos_model::series::MatchOp;
use pharos_store::{SilenceMatcher, SilenceRecord};

use super::matchers::Matchers;
use super::time_intervals::{TimeIntervalConfig, TimeIntervals};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Silence {
    pub record: SilenceRecord,
    matchers: Matchers,
    schedule: TimeIntervals,
}

pub fn op_of(m: &SilenceMatcher) -> MatchOp {
    match (m.is_regex, m.is_equal) {
        (false, true) => MatchOp::Equal,
        (false, false) => MatchOp::NotEqual,
        (true, true) => MatchOp::Regex,
        (true, false) => MatchOp::NotRegex,
    }
}

impl Silence {
    /// Checks a silence as Alertmanager does before storing it; errors name the field.
    pub fn new(record: SilenceRecord) -> Result<Silence, (String, String)> {
        let mut matchers = Matchers::default();
        if record.matchers.is_empty() {
            return Err((
                "matchers".into(),
                "a silence needs at least one matcher".into(),
            ));
        }
        for (i, m) in record.matchers.iter().enumerate() {
            matchers
                .push(&m.name, op_of(m), &m.value)
                .map_err(|e| (format!("matchers[{i}]"), e.to_string()))?;
        }
        if matchers.0.iter().all(|m| m.matches("")) {
            return Err((
                "matchers".into(),
                "at least one matcher must not match the empty string (it would silence every alert)"
                    .into(),
            ));
        }
        if record.ends_at <= record.starts_at {
            return Err(("endsAt".into(), "must be after startsAt".into()));
        }
        let schedule = match &record.time_intervals {
            None => TimeIntervals::default(),
            Some(v) => {
                let list: Vec<TimeIntervalConfig> = serde_json::from_value(v.clone())
                    .map_err(|e| ("timeIntervals".to_string(), e.to_string()))?;
                TimeIntervals::from_config(&list)
                    .map_err(|e| ("timeIntervals".to_string(), e.to_string()))?
            }
        };
        Ok(Silence {
            record,
            matchers,
            schedule,
        })
    }

    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.record.starts_at {
            SilenceState::Pending
        } else if now >= self.record.ends_at {
            SilenceState::Expired
        } else {
            SilenceState::Active
        }
    }

    pub fn is_recurring(&self) -> bool {
        !self.schedule.0.is_empty()
    }

    /// Whether the silence mutes these labels now: active, matching, and (when recurring)
    /// inside its schedule.
    pub fn mutes(&self, labels: &Labels, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active
            && self.matchers.matches(labels)
            && (self.schedule.0.is_empty() || self.schedule.contains(now))
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.matches(labels)
    }
}
