//! Times as log lines write them: ISO 8601 and Python's `asctime` with or without a zone,
//! and how a zone-less time is settled against the time the line arrived.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// An ISO 8601 / `asctime` timestamp at the start of `s`: `2025-10-06 12:00:00,123`,
/// `2025-10-06T12:00:00.000Z`, `…+0000`, `… +00:00`. No zone means UTC. Returns the time
/// and the bytes used.
pub(super) fn parse_timestamp(s: &str) -> Option<(Stamp, usize)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let (h, m, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let mut scale = 100_000_000u32;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let naive = date.and_hms_nano_opt(h, m, sec.min(59), nanos)?;
    let mut offset_secs = 0i32;
    let mut zoned = false;
    match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            zoned = true;
        }
        Some(b'+' | b'-') => {
            if let Some((off, used)) = parse_offset(&b[i..]) {
                offset_secs = off;
                i += used;
                zoned = true;
            }
        }
        // gunicorn writes `12:00:00 +0000`; `12:00:00 - name` is a separator, not a zone.
        Some(b' ') if matches!(b.get(i + 1), Some(b'+' | b'-')) => {
            if let Some((off, used)) = parse_offset(&b[i + 1..]) {
                offset_secs = off;
                i += 1 + used;
                zoned = true;
            }
        }
        _ => {}
    }
    let time = Utc.from_utc_datetime(&naive) - chrono::Duration::seconds(i64::from(offset_secs));
    Some((Stamp { time, zoned }, i))
}

/// A time read from a line, and whether the line said its zone. Python's default
/// `asctime` (`2025-10-06 12:00:00,123`) does not: it is the app's local time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    pub(super) time: DateTime<Utc>,
    pub(super) zoned: bool,
}

impl Stamp {
    /// The instant to store, given the time the source vouches for (`reference`: when it
    /// was read or received). A zone-less time is taken as UTC, except when that would put
    /// it in the future: then the app's clock is east of UTC, and the zone offset (in
    /// quarter hours, as every zone's is) is taken out. West of UTC it cannot be told from
    /// an old line, so it stays UTC.
    pub(super) fn settle(self, reference: DateTime<Utc>) -> DateTime<Utc> {
        if self.zoned {
            self.time
        } else {
            settle_zoneless(self.time, reference)
        }
    }
}

/// See [`Stamp::settle`]; also used for RFC 3164 syslog times, which have no zone either.
pub(crate) fn settle_zoneless(time: DateTime<Utc>, reference: DateTime<Utc>) -> DateTime<Utc> {
    const QUARTER_HOUR_MS: i64 = 15 * 60 * 1000;
    const MAX_OFFSET_MS: i64 = 14 * 3600 * 1000;
    const CLOCK_SLACK_MS: i64 = 2 * 60 * 1000;
    let ahead_ms = (time - reference).num_milliseconds();
    if ahead_ms <= CLOCK_SLACK_MS || ahead_ms > MAX_OFFSET_MS + CLOCK_SLACK_MS {
        return time;
    }
    let offset_ms = ((ahead_ms + QUARTER_HOUR_MS / 2) / QUARTER_HOUR_MS) * QUARTER_HOUR_MS;
    time - chrono::Duration::milliseconds(offset_ms)
}

/// `+HH:MM`, `+HHMM` or `+HH`; the offset in seconds east and the bytes used.
fn parse_offset(b: &[u8]) -> Option<(i32, usize)> {
    let sign = if b[0] == b'-' { -1 } else { 1 };
    let digit = |i: usize| {
        b.get(i)
            .filter(|d| d.is_ascii_digit())
            .map(|d| i32::from(d - b'0'))
    };
    let hours = digit(1)? * 10 + digit(2)?;
    let (minutes, used) = if b.get(3) == Some(&b':') {
        (digit(4)? * 10 + digit(5)?, 6)
    } else if let (Some(a), Some(c)) = (digit(3), digit(4)) {
        (a * 10 + c, 5)
    } else {
        (0, 3)
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60), used))
}
