//! On-call schedules: who is on call now and when the next handoff is. The `oncall:`
//! section of `pharos.yaml` (a Pharos extension) lists rotations of people in a time zone
//! with overrides; [`Schedule`] is its checked form, and `oncall:<schedule>` in an
//! escalation step is resolved at send time to the receivers of whoever is on call.
//!
//! Rotations of whole days hand off at the same local time of day whatever daylight
//! saving does (a weekly Monday 09:00 handoff stays 09:00 in Berlin in summer and winter);
//! rotations in hours are fixed lengths of real time.

use chrono::{
    DateTime, Datelike, Duration as ChronoDuration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Utc, Weekday,
};
use chrono_tz::Tz;
use pharos_model::HumanDuration;
use serde::{Deserialize, Serialize};

/// `oncall[]` as written.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: String,
    /// IANA time zone of the handoff time and of overrides written without an offset;
    /// UTC when left out.
    #[serde(default)]
    pub timezone: Option<String>,
    pub rotation: RotationConfig,
    /// In rotation order.
    pub people: Vec<PersonConfig>,
    #[serde(default)]
    pub overrides: Vec<OverrideConfig>,
}

/// `rotation: {every: 1w, handoff: "mon 09:00", start: "2025-01-06"}`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RotationConfig {
    /// How long each person is on call: whole days (`1d`, `1w`) or hours (`12h`).
    pub every: HumanDuration,
    /// `"mon 09:00"`, or `"09:00"` for the time of day only; `"00:00"` when left out.
    #[serde(default)]
    pub handoff: Option<String>,
    /// The date (`YYYY-MM-DD`, in the schedule's zone) from which the first person's first
    /// shift is counted (the first handoff on or after it); `2024-01-01` when left out.
    #[serde(default)]
    pub start: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    pub name: String,
    /// Receiver names (`receivers[].name`) that reach this person.
    #[serde(default)]
    pub receivers: Vec<String>,
}

/// `{person: bob, from: "2025-03-01 09:00", to: "2025-03-03 09:00"}`: RFC 3339 times, or
/// `YYYY-MM-DD HH:MM` in the schedule's zone.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OverrideConfig {
    pub person: String,
    pub from: String,
    pub to: String,
}

/// A schedule config error: the field at fault (relative to the schedule) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScheduleError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ScheduleError {
    ScheduleError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Every {
    /// Whole local days: the handoff keeps its local time across DST changes.
    Days(i64),
    Fixed(ChronoDuration),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Person {
    pub name: String,
    pub receivers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Override {
    pub person: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A checked schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub zone: Tz,
    every: Every,
    handoff: NaiveTime,
    /// The local date of handoff 0 (people[0] starts).
    anchor: NaiveDate,
    pub people: Vec<Person>,
    pub overrides: Vec<Override>,
}

/// Someone's stretch on call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shift {
    pub person: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Set by an override rather than the rotation.
    pub overridden: bool,
}

const DEFAULT_START: (i32, u32, u32) = (2024, 1, 1);

fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.to_ascii_lowercase();
    let days = [
        ("mon", Weekday::Mon),
        ("tue", Weekday::Tue),
        ("wed", Weekday::Wed),
        ("thu", Weekday::Thu),
        ("fri", Weekday::Fri),
        ("sat", Weekday::Sat),
        ("sun", Weekday::Sun),
    ];
    days.iter()
        .find(|(short, day)| {
            s == *short || s == day.to_string().to_ascii_lowercase() || full_name(*day) == s
        })
        .map(|(_, d)| *d)
}

fn full_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// Local time to UTC: a time skipped by a DST change falls an hour later, an ambiguous
/// one takes its first occurrence.
fn local_to_utc(zone: &Tz, at: NaiveDateTime) -> DateTime<Utc> {
    zone.from_local_datetime(&at)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(at + ChronoDuration::hours(1)))
                .earliest()
        })
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&at))
}

fn parse_time(zone: &Tz, s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN))
        })
        .map(|n| local_to_utc(zone, n))
}

impl Schedule {
    pub fn from_config(c: &ScheduleConfig) -> Result<Schedule, ScheduleError> {
        if c.name.trim().is_empty() {
            return Err(err("name", "must not be empty"));
        }
        let zone: Tz = match c.timezone.as_deref() {
            None | Some("") | Some("UTC") => chrono_tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| err("timezone", format!("unknown time zone {name:?}")))?,
        };
        let every = c.rotation.every.as_duration();
        let secs = every.as_secs() as i64;
        if secs < 3600 || every.subsec_nanos() != 0 || secs % 3600 != 0 {
            return Err(err(
                "rotation.every",
                "must be whole hours or days, at least 1h (e.g. 12h, 1d, 1w)",
            ));
        }
        let every = if secs % 86_400 == 0 {
            Every::Days(secs / 86_400)
        } else {
            Every::Fixed(ChronoDuration::seconds(secs))
        };
        let handoff_text = c.rotation.handoff.as_deref().unwrap_or("00:00").trim();
        let (weekday, time) = match handoff_text.split_once(char::is_whitespace) {
            Some((day, time)) => (
                Some(parse_weekday(day).ok_or_else(|| {
                    err(
                        "rotation.handoff",
                        format!("{day:?} is not a day of the week (mon, tue, ...)"),
                    )
                })?),
                time.trim(),
            ),
            None => (None, handoff_text),
        };
        let handoff = NaiveTime::parse_from_str(time, "%H:%M").map_err(|_| {
            err(
                "rotation.handoff",
                format!("{handoff_text:?} is not \"HH:MM\" or \"<day> HH:MM\""),
            )
        })?;
        let start = match c.rotation.start.as_deref() {
            None => NaiveDate::from_ymd_opt(DEFAULT_START.0, DEFAULT_START.1, DEFAULT_START.2)
                .unwrap_or_default(),
            Some(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                err(
                    "rotation.start",
                    format!("{s:?} is not a date (YYYY-MM-DD)"),
                )
            })?,
        };
        let mut anchor = start;
        if let Some(day) = weekday {
            while anchor.weekday() != day {
                anchor = anchor.succ_opt().unwrap_or(anchor);
            }
        }
        if c.people.is_empty() {
            return Err(err("people", "a schedule needs at least one person"));
        }
        let mut people = Vec::new();
        for (i, p) in c.people.iter().enumerate() {
            if p.name.trim().is_empty() {
                return Err(err(format!("people[{i}].name"), "must not be empty"));
            }
            if people.iter().any(|q: &Person| q.name == p.name) {
                return Err(err(
                    format!("people[{i}].name"),
                    format!("{:?} is listed twice", p.name),
                ));
            }
            people.push(Person {
                name: p.name.clone(),
                receivers: p.receivers.clone(),
            });
        }
        let mut overrides = Vec::new();
        for (i, o) in c.overrides.iter().enumerate() {
            if !people.iter().any(|p| p.name == o.person) {
                return Err(err(
                    format!("overrides[{i}].person"),
                    format!("{:?} is not one of this schedule's people", o.person),
                ));
            }
            let from = parse_time(&zone, &o.from).ok_or_else(|| {
                err(
                    format!("overrides[{i}].from"),
                    format!("{:?} is not a time (RFC 3339 or YYYY-MM-DD HH:MM)", o.from),
                )
            })?;
            let to = parse_time(&zone, &o.to).ok_or_else(|| {
                err(
                    format!("overrides[{i}].to"),
                    format!("{:?} is not a time (RFC 3339 or YYYY-MM-DD HH:MM)", o.to),
                )
            })?;
            if to <= from {
                return Err(err(format!("overrides[{i}].to"), "must be after `from`"));
            }
            overrides.push(Override {
                person: o.person.clone(),
                from,
                to,
            });
        }
        Ok(Schedule {
            name: c.name.clone(),
            zone,
            every,
            handoff,
            anchor,
            people,
            overrides,
        })
    }

    /// The time of rotation handoff `k` (handoff 0 starts `people[0]`).
    fn handoff_at(&self, k: i64) -> DateTime<Utc> {
        match &self.every {
            Every::Days(d) => {
                let date = self.anchor + ChronoDuration::days(k.saturating_mul(*d));
                local_to_utc(&self.zone, date.and_time(self.handoff))
            }
            Every::Fixed(len) => {
                local_to_utc(&self.zone, self.anchor.and_time(self.handoff)) + *len * (k as i32)
            }
        }
    }

    /// The last rotation handoff at or before `t`.
    fn handoff_index(&self, t: DateTime<Utc>) -> i64 {
        let mut k = match &self.every {
            Every::Days(d) => {
                let local = t.with_timezone(&self.zone).date_naive();
                (local - self.anchor).num_days().div_euclid(*d)
            }
            Every::Fixed(len) => {
                let zero = self.handoff_at(0);
                (t - zero)
                    .num_seconds()
                    .div_euclid(len.num_seconds().max(1))
            }
        };
        while self.handoff_at(k) > t {
            k -= 1;
        }
        while self.handoff_at(k + 1) <= t {
            k += 1;
        }
        k
    }

    /// Who the rotation (without overrides) has on call at `t`.
    pub fn rotation_at(&self, t: DateTime<Utc>) -> Shift {
        let k = self.handoff_index(t);
        let n = self.people.len().max(1) as i64;
        Shift {
            person: self
                .people
                .get(k.rem_euclid(n) as usize)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            from: self.handoff_at(k),
            until: self.handoff_at(k + 1),
            overridden: false,
        }
    }

    /// The override in force at `t`: the last listed one covering it.
    fn override_at(&self, t: DateTime<Utc>) -> Option<&Override> {
        self.overrides
            .iter()
            .rev()
            .find(|o| o.from <= t && t < o.to)
    }

    /// Who is on call from `from` to `to`, overrides applied, adjacent stretches of the
    /// same person joined.
    pub fn shifts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
        let mut cuts = vec![from];
        let mut k = self.handoff_index(from) + 1;
        while self.handoff_at(k) < to && cuts.len() < 10_000 {
            cuts.push(self.handoff_at(k));
            k += 1;
        }
        for o in &self.overrides {
            for t in [o.from, o.to] {
                if t > from && t < to {
                    cuts.push(t);
                }
            }
        }
        cuts.sort();
        cuts.dedup();
        let mut out: Vec<Shift> = Vec::new();
        for (i, start) in cuts.iter().enumerate() {
            let end = cuts.get(i + 1).copied().unwrap_or(to);
            let (person, overridden) = match self.override_at(*start) {
                Some(o) => (o.person.clone(), true),
                None => (self.rotation_at(*start).person, false),
            };
            match out.last_mut() {
                Some(last) if last.person == person && last.overridden == overridden => {
                    last.until = end;
                }
                _ => out.push(Shift {
                    person,
                    from: *start,
                    until: end,
                    overridden,
                }),
            }
        }
        // The first and last stretch run to the real change, not to the window's edges.
        if let Some(first) = out.first_mut()
            && !first.overridden
        {
            first.from = first.from.min(self.rotation_at(from).from);
        }
        out
    }

    /// Who is on call at `t` and until when (the next change of person).
    pub fn on_call_at(&self, t: DateTime<Utc>) -> Shift {
        let horizon = t + ChronoDuration::days(366);
        let shifts = self.shifts(t, horizon);
        let mut current = shifts
            .into_iter()
            .next()
            .unwrap_or_else(|| self.rotation_at(t));
        if let Some(o) = self.override_at(t) {
            current.from = o.from;
        }
        current
    }

    pub fn person(&self, name: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.name == name)
    }

    /// The receivers of whoever is on call at `t`.
    pub fn receivers_at(&self, t: DateTime<Utc>) -> (String, Vec<String>) {
        let shift = self.on_call_at(t);
        let receivers = self
            .person(&shift.person)
            .map(|p| p.receivers.clone())
            .unwrap_or_default();
        (shift.person, receivers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(yaml: &str) -> Schedule {
        let c: ScheduleConfig = serde_norway::from_str(yaml).unwrap();
        Schedule::from_config(&c).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const WEEKLY: &str = "
name: primary
timezone: Europe/Berlin
rotation: {every: 1w, handoff: 'mon 09:00', start: '2025-03-01'}
people:
  - {name: alice, receivers: [alice-telegram]}
  - {name: bob, receivers: [bob-sms]}
  - {name: carol}
";

    #[test]
    fn weekly_rotation_hands_off_at_local_time_across_dst() {
        let s = schedule(WEEKLY);
        // 2025-03-03 is the first Monday on or after the start: alice from 09:00 CET.
        assert_eq!(s.rotation_at(t("2025-03-03T07:59:00Z")).person, "carol");
        assert_eq!(s.rotation_at(t("2025-03-03T08:00:00Z")).person, "alice");
        assert_eq!(s.rotation_at(t("2025-03-10T08:00:00Z")).person, "bob");
        // Berlin moves to summer time on 2025-03-30: Monday 09:00 CEST is 07:00 UTC.
        let before = s.rotation_at(t("2025-03-31T06:59:00Z"));
        assert_eq!(before.person, "alice");
        assert_eq!(before.from, t("2025-03-24T08:00:00Z"));
        assert_eq!(before.until, t("2025-03-31T07:00:00Z"));
        assert_eq!(s.rotation_at(t("2025-03-31T07:00:00Z")).person, "bob");
        // And back in October (winter time from 2025-10-26).
        let shift = s.rotation_at(t("2025-10-27T08:00:00Z"));
        assert_eq!(shift.from, t("2025-10-27T08:00:00Z"));
        assert_eq!(s.receivers_at(t("2025-03-10T12:00:00Z")).1, ["bob-sms"]);
    }

    #[test]
    fn hourly_rotation_is_fixed_real_time() {
        let s = schedule(
            "
name: follow-the-sun
timezone: America/New_York
rotation: {every: 12h, handoff: '08:00', start: '2025-03-08'}
people: [{name: east}, {name: west}]
",
        );
        // 08:00 EST on 2025-03-08 is 13:00 UTC; New York moves to EDT on 2025-03-09,
        // but a 12h rotation keeps real 12-hour shifts.
        assert_eq!(s.rotation_at(t("2025-03-08T13:00:00Z")).person, "east");
        assert_eq!(s.rotation_at(t("2025-03-09T01:00:00Z")).person, "west");
        assert_eq!(s.rotation_at(t("2025-03-09T13:00:00Z")).person, "east");
        assert_eq!(s.rotation_at(t("2025-03-08T12:59:59Z")).person, "west");
    }

    #[test]
    fn overrides_take_precedence_and_split_shifts() {
        let mut c: ScheduleConfig = serde_norway::from_str(WEEKLY).unwrap();
        c.overrides = vec![
            OverrideConfig {
                person: "carol".into(),
                from: "2025-03-12 18:00".into(),
                to: "2025-03-13 09:00".into(),
            },
            OverrideConfig {
                person: "alice".into(),
                from: "2025-03-12T20:00:00Z".into(),
                to: "2025-03-12T21:00:00Z".into(),
            },
        ];
        let s = Schedule::from_config(&c).unwrap();
        // 18:00 CET = 17:00 UTC.
        assert_eq!(s.on_call_at(t("2025-03-12T16:59:00Z")).person, "bob");
        let o = s.on_call_at(t("2025-03-12T17:00:00Z"));
        assert_eq!((o.person.as_str(), o.overridden), ("carol", true));
        assert_eq!(o.until, t("2025-03-12T20:00:00Z"));
        // The later listed override wins where they overlap.
        assert_eq!(s.on_call_at(t("2025-03-12T20:30:00Z")).person, "alice");
        let back = s.on_call_at(t("2025-03-13T08:00:00Z"));
        assert_eq!((back.person.as_str(), back.overridden), ("bob", false));
        assert_eq!(back.until, t("2025-03-17T08:00:00Z"));
        let week: Vec<String> = s
            .shifts(t("2025-03-10T08:00:00Z"), t("2025-03-17T08:00:00Z"))
            .into_iter()
            .map(|x| x.person)
            .collect();
        assert_eq!(week, ["bob", "carol", "alice", "carol", "bob"]);
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut c: ScheduleConfig = serde_norway::from_str(WEEKLY).unwrap();
        c.rotation.handoff = Some("someday 09:00".into());
        assert_eq!(
            Schedule::from_config(&c).unwrap_err().field,
            "rotation.handoff"
        );
        let mut c: ScheduleConfig = serde_norway::from_str(WEEKLY).unwrap();
        c.overrides.push(OverrideConfig {
            person: "dave".into(),
            from: "2025-01-01".into(),
            to: "2025-01-02".into(),
        });
        assert_eq!(
            Schedule::from_config(&c).unwrap_err().field,
            "overrides[0].person"
        );
        let mut c: ScheduleConfig = serde_norway::from_str(WEEKLY).unwrap();
        c.rotation.every = HumanDuration::from_secs(90 * 60);
        assert_eq!(
            Schedule::from_config(&c).unwrap_err().field,
            "rotation.every"
        );
    }
}
