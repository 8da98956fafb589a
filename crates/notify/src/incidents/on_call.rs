//! Who is on call in each schedule, with the coming shifts and overrides, as the API and
//! the on-call page show it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Incidents;
use crate::oncall::{Schedule, Shift};

/// A schedule as the API and page show it.
#[derive(Clone, Debug, Serialize)]
pub struct OnCallView {
    pub name: String,
    pub timezone: String,
    pub current: Shift,
    pub receivers: Vec<String>,
    pub next_handoff: DateTime<Utc>,
    pub upcoming: Vec<Shift>,
    pub overrides: Vec<crate::oncall::Override>,
    pub people: Vec<crate::oncall::Person>,
}

impl Incidents {
    /// Who is on call in each schedule, with the next `weeks` of shifts.
    pub fn on_call(&self, weeks: i64) -> Vec<OnCallView> {
        let now = self.now();
        self.settings()
            .schedules
            .values()
            .map(|s| view_of(s, now, weeks))
            .collect()
    }

    pub fn on_call_of(&self, name: &str, weeks: i64) -> Option<OnCallView> {
        let now = self.now();
        self.settings()
            .schedules
            .get(name)
            .map(|s| view_of(s, now, weeks))
    }
}

fn view_of(s: &Schedule, now: DateTime<Utc>, weeks: i64) -> OnCallView {
    let current = s.on_call_at(now);
    let receivers = s
        .person(&current.person)
        .map(|p| p.receivers.clone())
        .unwrap_or_default();
    let upcoming = s.shifts(now, now + chrono::Duration::weeks(weeks.clamp(1, 26)));
    OnCallView {
        name: s.name.clone(),
        timezone: s.zone.name().to_string(),
        next_handoff: current.until,
        current,
        receivers,
        upcoming,
        overrides: s.overrides.iter().filter(|o| o.to > now).cloned().collect(),
        people: s.people.clone(),
    }
}
