//! Alertmanager's `time_intervals` (and the older `mute_time_intervals`): named sets of
//! `times`, `weekdays`, `days_of_month`, `months`, `years` in a `location`. Routes mute or
//! activate themselves by name; a recurring silence carries its own list.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::{DispatchError, invalid};

/// `time_intervals[]`: a name and the intervals it covers (any one matching is enough).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeIntervalConfig {
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalConfig>,
}

/// One interval as Alertmanager writes it; every field left out matches always.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<TimeRangeConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_of_month: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<String>,
    /// An IANA time zone (`Europe/Berlin`), `Local`, or UTC when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeConfig {
    /// `HH:MM`, inclusive.
    pub start_time: String,
    /// `HH:MM`, exclusive; `24:00` is the end of the day.
    pub end_time: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Location {
    Utc,
    Local,
    Zone(chrono_tz::Tz),
}

/// A checked interval: minutes of the day and inclusive numeric ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeInterval {
    times: Vec<(u32, u32)>,
    weekdays: Vec<(i32, i32)>,
    days_of_month: Vec<(i32, i32)>,
    months: Vec<(i32, i32)>,
    years: Vec<(i32, i32)>,
    location: Location,
}

/// Checks one interval; errors name the field (`weekdays[0]`).
pub fn time_interval(c: &TimeIntervalConfig) -> Result<TimeInterval, DispatchError> {
    let mut times = Vec::new();
    for (i, t) in c.times.iter().enumerate() {
        let start = clock_minutes(&t.start_time)
            .map_err(|e| invalid(format!("times[{i}].start_time"), e))?;
        let end =
            clock_minutes(&t.end_time).map_err(|e| invalid(format!("times[{i}].end_time"), e))?;
        if start >= end {
            return Err(invalid(
                format!("times[{i}]"),
                "start_time must be before end_time",
            ));
        }
        times.push((start, end));
    }
    let ranges = |field: &str,
                  items: &[String],
                  one: &dyn Fn(&str) -> Result<i32, String>|
     -> Result<Vec<(i32, i32)>, DispatchError> {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let err = |e: String| invalid(format!("{field}[{i}]"), e);
            let (a, b) = match item.split_once(':') {
                Some((a, b)) => (one(a.trim()).map_err(err)?, one(b.trim()).map_err(err)?),
                None => {
                    let v = one(item.trim()).map_err(err)?;
                    (v, v)
                }
            };
            out.push((a, b));
        }
        Ok(out)
    };
    let weekdays = ranges("weekdays", &c.weekdays, &weekday)?;
    for (i, (a, b)) in weekdays.iter().enumerate() {
        if a > b {
            return Err(invalid(
                format!("weekdays[{i}]"),
                "start day is after end day",
            ));
        }
    }
    let days_of_month = ranges("days_of_month", &c.days_of_month, &|s| {
        let v: i32 = s
            .parse()
            .map_err(|_| format!("{s:?} is not a day of the month"))?;
        if v == 0 || !(-31..=31).contains(&v) {
            return Err(format!(
                "{v} is not a day of the month (1 to 31, or -1 to -31 from the end)"
            ));
        }
        Ok(v)
    })?;
    for (i, (a, b)) in days_of_month.iter().enumerate() {
        if (a.signum() == b.signum()) && a > b {
            return Err(invalid(
                format!("days_of_month[{i}]"),
                "start day is after end day",
            ));
        }
    }
    let months = ranges("months", &c.months, &month)?;
    for (i, (a, b)) in months.iter().enumerate() {
        if a > b {
            return Err(invalid(
                format!("months[{i}]"),
                "start month is after end month",
            ));
        }
    }
    let years = ranges("years", &c.years, &|s| {
        s.parse::<i32>().map_err(|_| format!("{s:?} is not a year"))
    })?;
    let location = match c.location.as_deref() {
        None | Some("UTC") | Some("") => Location::Utc,
        Some("Local") => Location::Local,
        Some(name) => Location::Zone(
            name.parse::<chrono_tz::Tz>()
                .map_err(|_| invalid("location", format!("unknown time zone {name:?}")))?,
        ),
    };
    Ok(TimeInterval {
        times,
        weekdays,
        days_of_month,
        months,
        years,
        location,
    })
}

fn clock_minutes(s: &str) -> Result<u32, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not a time of day (HH:MM)"))?;
    let (h, m) = match (h.parse::<u32>(), m.parse::<u32>()) {
        (Ok(h), Ok(m)) if m < 60 && (h < 24 || (h == 24 && m == 0)) => (h, m),
        _ => {
            return Err(format!(
                "{s:?} is not a time of day (HH:MM, 00:00 to 24:00)"
            ));
        }
    };
    Ok(h * 60 + m)
}

fn weekday(s: &str) -> Result<i32, String> {
    const DAYS: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .map(|i| i as i32)
        .ok_or_else(|| format!("{s:?} is not a weekday"))
}

fn month(s: &str) -> Result<i32, String> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=12).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is not a month (1 to 12)"))
        };
    }
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as i32 + 1)
        .ok_or_else(|| format!("{s:?} is not a month"))
}

/// The wall-clock fields of an instant in a location.
struct Wall {
    minute_of_day: u32,
    weekday: i32,
    day: i32,
    month: i32,
    year: i32,
    days_in_month: i32,
}

fn wall<T: chrono::TimeZone>(t: DateTime<T>) -> Wall {
    let days_in_month = {
        let (y, m) = (t.year(), t.month());
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        next.and_then(|n| n.pred_opt())
            .map_or(31, |d| d.day() as i32)
    };
    Wall {
        minute_of_day: t.hour() * 60 + t.minute(),
        weekday: t.weekday().num_days_from_sunday() as i32,
        day: t.day() as i32,
        month: t.month() as i32,
        year: t.year(),
        days_in_month,
    }
}

impl TimeInterval {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let w = match self.location {
            Location::Utc => wall(at),
            Location::Local => wall(at.with_timezone(&chrono::Local)),
            Location::Zone(tz) => wall(at.with_timezone(&tz)),
        };
        let any = |ranges: &[(i32, i32)], v: i32| {
            ranges.is_empty() || ranges.iter().any(|(a, b)| (*a..=*b).contains(&v))
        };
        let times = self.times.is_empty()
            || self
                .times
                .iter()
                .any(|(s, e)| (*s..*e).contains(&w.minute_of_day));
        // Negative days count from the month's end (-1 is its last day), as Alertmanager does.
        let day = |d: i32| if d < 0 { w.days_in_month + 1 + d } else { d };
        let days = self.days_of_month.is_empty()
            || self
                .days_of_month
                .iter()
                .any(|(a, b)| (day(*a)..=day(*b)).contains(&w.day));
        times
            && days
            && any(&self.weekdays, w.weekday)
            && any(&self.months, w.month)
            && any(&self.years, w.year)
    }
}

/// A named set: the time is in it when any of its intervals contains it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TimeIntervals(pub Vec<TimeInterval>);

impl TimeIntervals {
    pub fn from_config(c: &[TimeIntervalConfig]) -> Result<TimeIntervals, DispatchError> {
        c.iter()
            .enumerate()
            .map(|(i, t)| {
                time_interval(t).map_err(|e| match e {
                    DispatchError::Invalid { field, message } => {
                        invalid(format!("time_intervals[{i}].{field}"), message)
                    }
                    other => other,
                })
            })
            .collect::<Result<_, _>>()
            .map(TimeIntervals)
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.0.iter().any(|t| t.contains(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn working_hours_in_a_time_zone() {
        let c: TimeIntervalConfig = serde_json::from_value(serde_json::json!({
            "times": [{"start_time": "09:00", "end_time": "17:00"}],
            "weekdays": ["monday:friday"],
            "location": "Europe/Berlin"
        }))
        .unwrap();
        let t = time_interval(&c).unwrap();
        // 2024-07-01 is a Monday; Berlin is UTC+2 in summer.
        assert!(t.contains(at("2024-07-01T07:00:00Z")));
        assert!(!t.contains(at("2024-07-01T06:59:00Z")));
        assert!(!t.contains(at("2024-07-01T15:00:00Z")));
        assert!(!t.contains(at("2024-07-06T10:00:00Z")), "Saturday");
    }

    #[test]
    fn negative_days_and_named_months() {
        let c = TimeIntervalConfig {
            days_of_month: vec!["-1".into()],
            months: vec!["february".into()],
            years: vec!["2024:2025".into()],
            ..Default::default()
        };
        let t = time_interval(&c).unwrap();
        assert!(t.contains(at("2024-02-29T12:00:00Z")));
        assert!(!t.contains(at("2024-02-28T12:00:00Z")));
        assert!(!t.contains(at("2026-02-28T12:00:00Z")));
        for bad in [
            TimeIntervalConfig {
                weekdays: vec!["friday:monday".into()],
                ..Default::default()
            },
            TimeIntervalConfig {
                times: vec![TimeRangeConfig {
                    start_time: "10:00".into(),
                    end_time: "25:00".into(),
                }],
                ..Default::default()
            },
            TimeIntervalConfig {
                location: Some("Mars/Olympus".into()),
                ..Default::default()
            },
        ] {
            assert!(time_interval(&bad).is_err(), "{bad:?}");
        }
        let funday = TimeIntervalConfig {
            weekdays: vec!["funday".into()],
            ..Default::default()
        };
        assert_eq!(
            TimeIntervals::from_config(&[TimeIntervalConfig::default(), funday])
                .unwrap_err()
                .to_string(),
            r#"time_intervals[1].weekdays[0]: "funday" is not a weekday"#
        );
    }
}
