//! Where services read the time: the system clock in the binary, a clock set by hand in
//! tests, so timers (group waits, escalation steps, rule intervals) can be driven
//! without sleeping.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Unix milliseconds, the unit rule evaluation and the metrics store count in.
    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

/// The system clock's Unix milliseconds, for code that is not handed a [`Clock`] (stamps
/// on samples and series, the default evaluation time of a query).
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests set and advance.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += chrono::Duration::from_std(by).unwrap_or_default();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0 = DateTime::from_timestamp_millis(1_741_608_000_000).unwrap();
        let clock = ManualClock::new(t0);
        assert_eq!(clock.now_ms(), 1_741_608_000_000);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_ms(), 1_741_608_001_500);
        clock.set(t0);
        assert_eq!(clock.now(), t0);
    }
}
