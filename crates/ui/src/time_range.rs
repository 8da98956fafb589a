//! The range picker the metrics pages share (5m … 7d, an optional custom end, the step
//! chosen from the range unless given), and running PromQL for a page through the same
//! operations as the Prometheus API, so the same limits (time, samples, concurrency) hold.

use maud::{Markup, html};
use pharos_app::metrics_store::MetricsError;
use pharos_promql::{QueryError, QueryResult};

use pharos_web::SharedState;

/// The ranges offered, by name.
pub const RANGES: [(&str, i64); 7] = [
    ("5m", 300_000),
    ("15m", 900_000),
    ("1h", 3_600_000),
    ("6h", 21_600_000),
    ("24h", 86_400_000),
    ("2d", 172_800_000),
    ("7d", 604_800_000),
];

/// Steps a chart may use; about 300 points across whatever range is picked.
const STEPS_MS: [i64; 19] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    604_800_000,
];

const POINTS: i64 = 300;

#[derive(Clone, Debug, PartialEq)]
pub struct TimeRange {
    /// As picked: `1h`, or any duration typed in the URL (`90m`).
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    /// The custom end as typed (`2024-05-01T12:00`, UTC), when not "now".
    pub end: Option<String>,
    /// The step as typed, when not chosen automatically.
    pub step: Option<String>,
}

impl TimeRange {
    pub fn range_ms(&self) -> i64 {
        self.end_ms - self.start_ms
    }
}

pub fn auto_step(range_ms: i64) -> i64 {
    let want = range_ms / POINTS;
    STEPS_MS
        .iter()
        .copied()
        .find(|s| *s >= want)
        .unwrap_or(604_800_000)
}

fn parse_duration_ms(s: &str) -> Option<i64> {
    s.trim()
        .parse::<pharos_model::HumanDuration>()
        .ok()
        .map(|d| d.as_duration().as_millis() as i64)
        .filter(|ms| *ms > 0)
}

/// `2024-05-01T12:00` or `2024-05-01 12:00` (what the time fields send), with seconds or a zone, or
/// Unix seconds.
fn parse_end(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1000.0) as i64);
    }
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_millis());
    }
    for f in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc().timestamp_millis());
        }
    }
    None
}

/// The range a page's parameters ask for. Bad values fall back to the default with a
/// note, so a typo in the URL still shows a page.
/// A window given by its two ends (`from` and `to`, as the log API and alert links name
/// them: RFC 3339, Unix seconds or `2024-05-01T12:00`) as this picker's range and end:
/// `("600s", "2024-05-01T12:10:00")`. `None` when either end is not a time or `to` is not
/// after `from`.
pub fn from_ends(from: &str, to: &str) -> Option<(String, String)> {
    let (a, b) = (parse_end(from)?, parse_end(to)?);
    (b > a).then(|| {
        let secs = (b - a + 999) / 1000;
        // As the picker's time field shows it (UTC, no zone suffix).
        let end = chrono::DateTime::from_timestamp_millis(b)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
            .unwrap_or_default();
        (format!("{secs}s"), end)
    })
}

/// A UTC date-time field in the UI's own ISO shape (`2026-12-07 14:00`). Not the
/// browser's `datetime-local`, which shows the browser's locale (`12/07/2026, 02:00 PM`)
/// on a page where every other time is UTC and ISO.
pub fn utc_input(name: &str, value: &str, title: &str) -> maud::Markup {
    maud::html! {
        // No `pattern`: links carry other shapes the server reads (Unix seconds from a
        // histogram bar), and a pattern would block the form they fill.
        input.utc type="text" name=(name) value=(value) placeholder="YYYY-MM-DD HH:MM"
            size="16" title=(title);
    }
}

/// `2026-12-07 14:00` or `2026-12-07T14:00` (with or without seconds), read as UTC.
pub fn parse_utc_input(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
    .map(|t| t.and_utc())
}

pub fn from_params(
    range: Option<&str>,
    end: Option<&str>,
    step: Option<&str>,
    default: &str,
    now_ms: i64,
) -> (TimeRange, Vec<String>) {
    let mut notes = Vec::new();
    let range = range.map(str::trim).filter(|r| !r.is_empty());
    let (name, range_ms) = match range.map(|r| (r, parse_duration_ms(r))) {
        Some((r, Some(ms))) if ms <= 400 * 86_400_000 => (r.to_string(), ms),
        Some((r, _)) => {
            notes.push(format!(
                "range {r:?} is not a duration such as 1h or 7d; showing {default}"
            ));
            (
                default.to_string(),
                parse_duration_ms(default).unwrap_or(3_600_000),
            )
        }
        None => (
            default.to_string(),
            parse_duration_ms(default).unwrap_or(3_600_000),
        ),
    };
    let end_text = end.map(str::trim).filter(|e| !e.is_empty());
    let end_ms = match end_text.map(|e| (e, parse_end(e))) {
        Some((_, Some(ms))) => ms,
        Some((e, None)) => {
            notes.push(format!(
                "end {e:?} is not a time such as 2024-05-01T12:00; showing now"
            ));
            now_ms
        }
        None => now_ms,
    };
    let step_text = step.map(str::trim).filter(|s| !s.is_empty());
    let auto = auto_step(range_ms);
    let mut typed_step = None;
    let step_ms = match step_text.map(|s| (s, parse_duration_ms(s))) {
        // Prometheus refuses more than 11,000 points; so does this picker.
        Some((s, Some(ms))) if range_ms / ms <= pharos_promql::MAX_POINTS_PER_SERIES => {
            typed_step = Some(s.to_string());
            ms
        }
        Some((s, _)) => {
            notes.push(format!(
                "step {s:?} is not usable for this range; using {}",
                pharos_app::dashboards::variables::duration(auto)
            ));
            auto
        }
        None => auto,
    };
    (
        TimeRange {
            name,
            start_ms: end_ms - range_ms,
            end_ms,
            step_ms,
            end: end_text
                .filter(|e| parse_end(e).is_some())
                .map(String::from),
            step: typed_step,
        },
        notes,
    )
}

/// The picker's form fields (the caller's form holds them): range, end, step.
pub fn picker(r: &TimeRange) -> Markup {
    let known = RANGES.iter().any(|(n, _)| *n == r.name);
    html! {
        label.inline { "Range "
            select name="range" {
                @for (n, _) in RANGES {
                    option value=(n) selected[r.name == n] { (n) }
                }
                @if !known { option value=(r.name) selected { (r.name) } }
            }
        }
        label.inline { "End (UTC) "
            (utc_input("end", r.end.as_deref().unwrap_or(""), "UTC; empty for now"))
        }
        label.inline { "Step "
            input.step name="step" value=(r.step.as_deref().unwrap_or("")) placeholder=(pharos_app::dashboards::variables::duration(r.step_ms)) size="6" title="empty to choose from the range";
        }
    }
}

/// Why a page could not query: no metrics store, or the engine's error.
pub fn no_store() -> QueryError {
    QueryError {
        kind: pharos_promql::ErrorType::Execution,
        message: "the metrics store is not enabled".into(),
        position: None,
    }
}

/// Runs a range query as `/api/v1/query_range` does, under the same limits.
pub async fn range_query(
    state: &SharedState,
    query: String,
    r: &TimeRange,
) -> Result<QueryResult, QueryError> {
    state
        .range_query(query, r.start_ms, r.end_ms, r.step_ms)
        .await
        .map_err(query_error)
}

/// Runs an instant query at `t` as `/api/v1/query` does, under the same limits.
pub async fn instant_query(
    state: &SharedState,
    query: String,
    t: i64,
) -> Result<QueryResult, QueryError> {
    state.instant_query(query, t).await.map_err(query_error)
}

/// The pages show every failure as a query error.
fn query_error(e: MetricsError) -> QueryError {
    match e {
        MetricsError::Query(e) => e,
        MetricsError::Disabled => no_store(),
        other => QueryError {
            kind: pharos_promql::ErrorType::Execution,
            message: other.to_string(),
            position: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_fields_are_iso_and_utc() {
        let html = utc_input("end", "2026-12-07 14:00", "UTC").into_string();
        assert!(
            html.contains("type=\"text\"") && !html.contains("datetime-local"),
            "{html}"
        );
        let t = parse_utc_input("2026-12-07 14:00").unwrap();
        assert_eq!(t, parse_utc_input("2026-12-07T14:00").unwrap());
        assert_eq!(t.to_rfc3339(), "2026-12-07T14:00:00+00:00");
        assert!(parse_utc_input("12/07/2026").is_none());
    }

    #[test]
    fn a_window_by_its_ends() {
        assert_eq!(
            from_ends("2026-12-07T12:00:00Z", "2026-12-07T12:10:00Z"),
            Some(("600s".to_string(), "2026-12-07T12:10:00".to_string()))
        );
        assert_eq!(from_ends("1700000000", "1700000000.5").unwrap().0, "1s");
        assert_eq!(
            from_ends("2026-12-07T12:10:00Z", "2026-12-07T12:00:00Z"),
            None
        );
        assert_eq!(from_ends("soon", "2026-12-07T12:00:00Z"), None);
    }

    #[test]
    fn steps_follow_the_range() {
        assert_eq!(auto_step(300_000), 1_000);
        assert_eq!(auto_step(3_600_000), 15_000);
        assert_eq!(auto_step(86_400_000), 300_000);
        assert_eq!(auto_step(604_800_000), 3_600_000);
        let now = 1_700_000_000_000;
        let (r, notes) = from_params(Some("6h"), None, None, "1h", now);
        assert_eq!(
            (r.range_ms(), r.step_ms, r.end_ms),
            (21_600_000, 120_000, now)
        );
        assert!(notes.is_empty());
        let (r, notes) = from_params(
            Some("soon"),
            Some("2023-11-14T22:00"),
            Some("1s"),
            "1h",
            now,
        );
        assert_eq!(r.name, "1h");
        assert_eq!(r.end_ms, now - 800_000);
        assert_eq!(r.step_ms, 1_000);
        assert_eq!(notes.len(), 1);
        let (r, notes) = from_params(Some("7d"), None, Some("1s"), "1h", now);
        assert_eq!(r.step_ms, 3_600_000, "{notes:?}");
        assert_eq!(notes.len(), 1);
    }
}
