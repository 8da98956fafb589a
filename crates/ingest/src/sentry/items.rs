//! The other item types an envelope carries: transactions, release-health sessions,
//! cron check-ins, attachments, logs and client reports, parsed into the records of
//! `pharos_model::sentry`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::event::{EventError, parse_timestamp, read_payload, truncate};
use super::scrub::Scrubber;

pub use pharos_model::sentry::{
    Attachment, CheckIn, CheckInConfig, CheckInSchedule, CheckInStatus, Discarded, LogRecord,
    SessionCounts, Transaction,
};

pub fn parse_transaction(
    bytes: &[u8],
    fallback_id: Option<&str>,
    scrubber: &Scrubber,
    received: DateTime<Utc>,
) -> Result<Transaction, EventError> {
    let (mut payload, event_id) = read_payload(bytes, fallback_id)?;
    scrubber.scrub(&mut payload);
    let end = payload
        .get("timestamp")
        .and_then(parse_timestamp)
        .unwrap_or(received);
    let start = payload
        .get("start_timestamp")
        .and_then(parse_timestamp)
        .unwrap_or(end);
    let trace = payload.get("contexts").and_then(|c| c.get("trace"));
    let s = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let name = truncate(
        &s(payload.get("transaction")).unwrap_or_else(|| "<unlabeled transaction>".into()),
        200,
    );
    let spans = super::spans::transaction_spans(&payload, &name, end);
    Ok(Transaction {
        event_id,
        name,
        op: s(trace.and_then(|t| t.get("op"))),
        status: s(trace.and_then(|t| t.get("status"))).unwrap_or_else(|| "ok".into()),
        start,
        duration_ms: ((end - start).num_microseconds().unwrap_or(0).max(0)) as f64 / 1000.0,
        environment: s(payload.get("environment")),
        release: s(payload.get("release")),
        trace_id: s(trace.and_then(|t| t.get("trace_id"))),
        span_id: spans.first().map(|s| s.span_id.clone()),
        span_count: payload
            .get("spans")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        payload,
        spans,
    })
}

#[derive(Deserialize)]
struct SessionAttrs {
    release: Option<String>,
    environment: Option<String>,
}

#[derive(Deserialize)]
struct SessionUpdate {
    #[serde(default)]
    init: bool,
    started: Option<Value>,
    status: Option<String>,
    #[serde(default)]
    errors: u64,
    attrs: Option<SessionAttrs>,
}

#[derive(Deserialize)]
struct SessionAggregates {
    attrs: Option<SessionAttrs>,
    #[serde(default)]
    aggregates: Vec<SessionBucket>,
}

#[derive(Deserialize)]
struct SessionBucket {
    started: Value,
    #[serde(default)]
    exited: u64,
    #[serde(default)]
    errored: u64,
    #[serde(default)]
    crashed: u64,
    #[serde(default)]
    abnormal: u64,
}

/// A single `session` update. Counted once, when it starts (`init`); its end adds to the
/// outcome counts (`exited`, `crashed`, ...). `None` for updates that change no count.
/// "unhandled" (browser SDKs from 11.x: an unhandled error that did not end the page's
/// session, which is never ended) counts as errored: the page had an error, not a crash.
pub fn parse_session(
    bytes: &[u8],
    received: DateTime<Utc>,
) -> Result<Option<SessionCounts>, EventError> {
    let u: SessionUpdate =
        serde_json::from_slice(bytes).map_err(|e| EventError::Json(e.to_string()))?;
    let Some(release) = u.attrs.as_ref().and_then(|a| a.release.clone()) else {
        // Sentry drops sessions without a release: release health is per release.
        return Ok(None);
    };
    let status = u.status.as_deref().unwrap_or("ok");
    let terminal = matches!(
        status,
        "exited" | "crashed" | "abnormal" | "errored" | "unhandled"
    );
    if !u.init && !terminal {
        return Ok(None);
    }
    let mut c = SessionCounts {
        started: u
            .started
            .as_ref()
            .and_then(parse_timestamp)
            .unwrap_or(received),
        release,
        environment: u.attrs.and_then(|a| a.environment),
        total: u64::from(u.init),
        exited: 0,
        errored: 0,
        crashed: 0,
        abnormal: 0,
    };
    match status {
        "crashed" => c.crashed = 1,
        "abnormal" => c.abnormal = 1,
        "exited" if u.errors > 0 => c.errored = 1,
        "errored" | "unhandled" => c.errored = 1,
        "exited" => c.exited = 1,
        _ => {}
    }
    Ok(Some(c))
}

/// A `sessions` aggregate: counts per start minute.
pub fn parse_sessions(bytes: &[u8]) -> Result<Vec<SessionCounts>, EventError> {
    let a: SessionAggregates =
        serde_json::from_slice(bytes).map_err(|e| EventError::Json(e.to_string()))?;
    let Some(release) = a.attrs.as_ref().and_then(|a| a.release.clone()) else {
        return Ok(Vec::new());
    };
    let environment = a.attrs.and_then(|a| a.environment);
    Ok(a.aggregates
        .into_iter()
        .filter_map(|b| {
            Some(SessionCounts {
                started: parse_timestamp(&b.started)?,
                release: release.clone(),
                environment: environment.clone(),
                total: b.exited + b.errored + b.crashed + b.abnormal,
                exited: b.exited,
                errored: b.errored,
                crashed: b.crashed,
                abnormal: b.abnormal,
            })
        })
        .collect())
}

pub fn parse_check_in(bytes: &[u8]) -> Result<CheckIn, EventError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| EventError::Json(e.to_string()))?;
    let slug = v
        .get("monitor_slug")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| EventError::Json("check-in has no monitor_slug".into()))?;
    let status = match v.get("status").and_then(Value::as_str) {
        Some("in_progress") => CheckInStatus::InProgress,
        Some("ok") => CheckInStatus::Ok,
        Some("error") | Some("timeout") => CheckInStatus::Error,
        other => {
            return Err(EventError::Json(format!(
                "unknown check-in status {other:?}"
            )));
        }
    };
    let config = v.get("monitor_config").and_then(|c| {
        let schedule = c.get("schedule")?;
        let schedule = match schedule.get("type").and_then(Value::as_str)? {
            "crontab" => CheckInSchedule::Crontab(schedule.get("value")?.as_str()?.to_string()),
            "interval" => {
                let n = schedule.get("value")?.as_u64()?;
                let unit = match schedule.get("unit").and_then(Value::as_str)? {
                    "minute" => 60,
                    "hour" => 3600,
                    "day" => 86400,
                    "week" => 7 * 86400,
                    "month" => 30 * 86400,
                    "year" => 365 * 86400,
                    _ => return None,
                };
                CheckInSchedule::Interval { seconds: n * unit }
            }
            _ => return None,
        };
        Some(CheckInConfig {
            schedule,
            timezone: c.get("timezone").and_then(Value::as_str).map(str::to_owned),
            checkin_margin_min: c.get("checkin_margin").and_then(Value::as_u64),
            max_runtime_min: c.get("max_runtime").and_then(Value::as_u64),
        })
    });
    Ok(CheckIn {
        monitor_slug: slug.to_string(),
        status,
        duration_s: v.get("duration").and_then(Value::as_f64),
        environment: v
            .get("environment")
            .and_then(Value::as_str)
            .map(str::to_owned),
        config,
    })
}

pub fn parse_client_report(bytes: &[u8]) -> Result<Vec<Discarded>, EventError> {
    #[derive(Deserialize)]
    struct Report {
        #[serde(default)]
        discarded_events: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        reason: String,
        category: String,
        quantity: u64,
    }
    let r: Report = serde_json::from_slice(bytes).map_err(|e| EventError::Json(e.to_string()))?;
    Ok(r.discarded_events
        .into_iter()
        .map(|e| Discarded {
            reason: e.reason,
            category: e.category,
            quantity: e.quantity,
        })
        .collect())
}

pub fn parse_logs(
    bytes: &[u8],
    scrubber: &Scrubber,
    received: DateTime<Utc>,
) -> Result<Vec<LogRecord>, EventError> {
    let mut v: Value =
        serde_json::from_slice(bytes).map_err(|e| EventError::Json(e.to_string()))?;
    scrubber.scrub(&mut v);
    let items = match v.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => return Err(EventError::Json("log item has no \"items\" list".into())),
    };
    Ok(items
        .into_iter()
        .map(|item| LogRecord {
            timestamp: item
                .get("timestamp")
                .and_then(parse_timestamp)
                .unwrap_or(received),
            level: item
                .get("level")
                .and_then(Value::as_str)
                .unwrap_or("info")
                .to_string(),
            body: item
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            trace_id: item
                .get("trace_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            payload: item,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentry::Envelope;

    fn item(name: &str, ty: &str) -> Vec<u8> {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/sentry/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let env = Envelope::parse(&body).unwrap();
        env.items
            .iter()
            .find(|i| i.ty == ty)
            .unwrap()
            .payload
            .to_vec()
    }

    #[test]
    fn transaction_with_spans() {
        let t = parse_transaction(
            &item("full-005-transaction.envelope", "transaction"),
            None,
            &Scrubber::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(t.name, "process-job");
        assert_eq!(t.op.as_deref(), Some("task"));
        assert_eq!(t.span_count, 2);
        // The transaction as the segment span, then its two spans, for the span store.
        assert_eq!(t.spans.len(), 3);
        assert!(t.spans[0].is_segment && t.spans[0].name == "process-job");
        assert_eq!(t.span_id, Some(t.spans[0].span_id.clone()));
        assert!(
            t.spans[1..]
                .iter()
                .all(|s| !s.is_segment && s.segment_id == t.span_id)
        );
        assert!((t.duration_ms - 26.84).abs() < 0.01, "{}", t.duration_ms);
        assert!(!t.failed());
    }

    #[test]
    fn sessions_and_aggregates() {
        let now = Utc::now();
        let s = parse_session(&item("full-013-session-sessions.envelope", "session"), now)
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.total, s.exited, s.release.as_str()),
            (1, 1, "myapp@1.2.3")
        );
        let a = parse_sessions(&item("full-013-session-sessions.envelope", "sessions")).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].total, a[0].exited, a[0].crashed), (2, 1, 1));
    }

    #[test]
    fn a_browser_session_with_an_unhandled_error_counts_as_errored() {
        // @sentry/browser 11: the session starts with the page (`init`, "ok") and is never
        // ended; an unhandled error updates it to "unhandled" (not a crash: the page lives).
        let now = Utc::now();
        let attrs = r#""attrs":{"release":"web@1","environment":"e2e"}"#;
        let start = format!(
            r#"{{"sid":"9b7bd290ab264507801872169c4437fa","init":true,"status":"ok","errors":0,{attrs}}}"#
        );
        let s = parse_session(start.as_bytes(), now).unwrap().unwrap();
        assert_eq!((s.total, s.errored, s.crashed), (1, 0, 0));
        let unhandled = format!(
            r#"{{"sid":"9b7bd290ab264507801872169c4437fa","init":false,"status":"unhandled","errors":1,{attrs}}}"#
        );
        let u = parse_session(unhandled.as_bytes(), now).unwrap().unwrap();
        assert_eq!((u.total, u.errored, u.crashed, u.exited), (0, 1, 0, 0));
    }

    #[test]
    fn check_ins() {
        let c = parse_check_in(&item("full-006-check_in.envelope", "check_in")).unwrap();
        assert_eq!(c.monitor_slug, "nightly-report");
        assert_eq!(c.status, CheckInStatus::InProgress);
        let cfg = c.config.unwrap();
        assert_eq!(cfg.schedule, CheckInSchedule::Crontab("0 3 * * *".into()));
        let done = parse_check_in(&item("full-007-check_in.envelope", "check_in")).unwrap();
        assert_eq!(done.status, CheckInStatus::Ok);
        assert_eq!(done.duration_s, Some(1.5));
    }

    #[test]
    fn client_report_and_logs() {
        let d = parse_client_report(&item(
            "ratelimit-003-client_report.envelope",
            "client_report",
        ))
        .unwrap();
        assert_eq!(
            d,
            vec![Discarded {
                reason: "ratelimit_backoff".into(),
                category: "error".into(),
                quantity: 4
            }]
        );
        let logs = parse_logs(
            &item("full-014-log.envelope", "log"),
            &Scrubber::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(logs.len(), 3);
        assert_eq!(logs[0].body, "payment failed for order 1234");
        assert_eq!(logs[0].level, "error");
    }
}
