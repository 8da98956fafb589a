//! The 90-day bars: one bar per UTC day from the daily sums of the hourly roll-ups, grey
//! where a day has no checks, coloured by that day's uptime.

use chrono::{Duration, NaiveDate};
use pharos_store::DayChecks;
use serde::Serialize;

/// How a day looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DayLevel {
    /// No checks that day.
    NoData,
    /// 99.9 % or better.
    Up,
    /// 99 % to 99.9 %.
    Minor,
    /// 95 % to 99 %.
    Partial,
    /// Under 95 %.
    Down,
}

impl DayLevel {
    pub fn of(uptime: Option<f64>) -> DayLevel {
        match uptime {
            None => DayLevel::NoData,
            Some(u) if u >= 0.999 => DayLevel::Up,
            Some(u) if u >= 0.99 => DayLevel::Minor,
            Some(u) if u >= 0.95 => DayLevel::Partial,
            Some(_) => DayLevel::Down,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DayLevel::NoData => "nodata",
            DayLevel::Up => "up",
            DayLevel::Minor => "minor",
            DayLevel::Partial => "partial",
            DayLevel::Down => "down",
        }
    }
}

/// One day's bar.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayBar {
    pub date: NaiveDate,
    pub checks: u64,
    /// Share of checks up (0–1); `None` without checks.
    pub uptime: Option<f64>,
    /// Minutes down, estimated from the hourly roll-ups.
    pub down_minutes: u32,
    pub level: DayLevel,
}

/// `days` bars ending with `today`, oldest first; a day missing from `rows` is grey.
pub fn day_bars(rows: &[DayChecks], today: NaiveDate, days: u32) -> Vec<DayBar> {
    let first = today - Duration::days(i64::from(days.saturating_sub(1)));
    let mut out = Vec::with_capacity(days as usize);
    let mut rows = rows.iter().peekable();
    for offset in 0..days {
        let date = first + Duration::days(i64::from(offset));
        while rows.peek().is_some_and(|r| r.day.date_naive() < date) {
            rows.next();
        }
        let row = rows.peek().filter(|r| r.day.date_naive() == date);
        let (checks, up, down) = row.map_or((0, 0, 0.0), |r| (r.checks, r.up, r.down_minutes));
        let uptime = (checks > 0).then(|| up as f64 / checks as f64);
        out.push(DayBar {
            date,
            checks,
            uptime,
            down_minutes: down.round().max(0.0) as u32,
            level: DayLevel::of(uptime),
        });
    }
    out
}

/// Uptime over all the bars with checks, `None` when none has.
pub fn overall_uptime(rows: &[DayChecks]) -> Option<f64> {
    let (checks, up) = rows
        .iter()
        .fold((0u64, 0u64), |(c, u), r| (c + r.checks, u + r.up));
    (checks > 0).then(|| up as f64 / checks as f64)
}

/// Uptime over the last `days` bars with checks (checks weighted), `None` when none has.
pub fn uptime_of_last(bars: &[DayBar], days: u32) -> Option<f64> {
    let start = bars.len().saturating_sub(days as usize);
    let (checks, up) = bars[start..].iter().fold((0u64, 0.0), |(c, u), b| {
        (c + b.checks, u + b.uptime.unwrap_or(0.0) * b.checks as f64)
    });
    (checks > 0).then(|| up / checks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn row(y: i32, m: u32, d: u32, checks: u64, up: u64, down: f64) -> DayChecks {
        DayChecks {
            day: Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap(),
            checks,
            up,
            down_minutes: down,
        }
    }

    #[test]
    fn ninety_bars_with_grey_days_where_nothing_was_checked() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let rows = vec![
            // Before the window: ignored.
            row(2025, 11, 1, 10, 0, 600.0),
            row(2026, 3, 4, 1440, 1412, 28.0),
            row(2026, 3, 10, 600, 600, 0.0),
        ];
        let bars = day_bars(&rows, today, 90);
        assert_eq!(bars.len(), 90);
        assert_eq!(bars[89].date, today);
        assert_eq!(bars[0].date, today - Duration::days(89));
        let outage = bars
            .iter()
            .find(|b| b.date.to_string() == "2026-03-04")
            .unwrap();
        assert_eq!(outage.down_minutes, 28);
        assert_eq!(outage.level, DayLevel::Partial);
        assert!((outage.uptime.unwrap() - 1412.0 / 1440.0).abs() < 1e-9);
        assert_eq!(bars[89].level, DayLevel::Up);
        assert_eq!(bars[88].level, DayLevel::NoData);
        assert_eq!(bars[88].uptime, None);
        assert_eq!(bars.iter().filter(|b| b.checks > 0).count(), 2);
        // The last 3 days hold only today's checks; the last 7 both days'.
        assert_eq!(uptime_of_last(&bars, 3), Some(1.0));
        let month = uptime_of_last(&bars, 7).unwrap();
        assert!((month - 2012.0 / 2040.0).abs() < 1e-9, "{month}");
    }

    #[test]
    fn levels_follow_uptime() {
        assert_eq!(DayLevel::of(Some(1.0)), DayLevel::Up);
        assert_eq!(DayLevel::of(Some(0.995)), DayLevel::Minor);
        assert_eq!(DayLevel::of(Some(0.96)), DayLevel::Partial);
        assert_eq!(DayLevel::of(Some(0.5)), DayLevel::Down);
        assert_eq!(DayLevel::of(None), DayLevel::NoData);
        assert_eq!(overall_uptime(&[]), None);
    }
}
