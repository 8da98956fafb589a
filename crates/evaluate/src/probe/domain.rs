//! Domain registration expiry from RDAP (RFC 9083): the `expiration` event of
//! `GET <rdap_server>domain/<name>`, following the redirect rdap.org answers with to the
//! registry of the top-level domain. The days left are recorded as the number `days_left`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use pharos_model::monitor::DomainCheck;
use pharos_model::{MonitorId, Outcome, ProbeResult};
use reqwest::Client;

use super::down;
use super::http::describe_request_error;

/// The name under which the days left are recorded (series `probe_domain_expiry_days`).
pub const DAYS_LEFT: &str = "days_left";

/// RDAP answers are small; a registry answering more is cut here.
const ANSWER_LIMIT: usize = 1024 * 1024;

pub async fn probe_domain(
    monitor: &MonitorId,
    check: &DomainCheck,
    client: &Client,
) -> ProbeResult {
    let at = Utc::now();
    let started = Instant::now();
    let timeout = check.timeout.as_duration();
    let what = format!("domain {}", check.name);
    let answer = tokio::time::timeout(timeout, expiration(check, client)).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let expires = match answer {
        Ok(Ok(expires)) => expires,
        Ok(Err((status, e))) => {
            let latency = status.map(|_| latency_ms);
            return down(at, monitor, latency, None, format!("{what}: {e}"));
        }
        Err(_) => {
            return down(
                at,
                monitor,
                Some(timeout.as_secs_f64() * 1000.0),
                None,
                format!("{what}: RDAP gave no answer within {}", check.timeout),
            );
        }
    };
    let days_left = (expires - Utc::now()).num_seconds().div_euclid(86_400);
    let (outcome, error) = if days_left < 0 {
        (
            Outcome::Down,
            Some(format!(
                "{what}: registration expired {} days ago ({})",
                -days_left,
                expires.format("%Y-%m-%d")
            )),
        )
    } else if days_left < i64::from(check.expiry_warning_days) {
        (
            Outcome::Degraded,
            Some(format!(
                "{what}: registration expires in {days_left} days ({}; warning at {} days)",
                expires.format("%Y-%m-%d"),
                check.expiry_warning_days
            )),
        )
    } else {
        (Outcome::Up, None)
    };
    ProbeResult {
        monitor: monitor.clone(),
        at,
        outcome,
        latency_ms: Some(latency_ms),
        status_code: None,
        error,
        tls_days_left: None,
        numbers: vec![(DAYS_LEFT.to_string(), days_left as f64)],
    }
}

/// The expiration date, or the HTTP status (when there was an answer) and the reason in
/// words. The status stays out of the result, where it would read as the target's.
async fn expiration(
    check: &DomainCheck,
    client: &Client,
) -> Result<DateTime<Utc>, (Option<u16>, String)> {
    let url = check
        .rdap_server
        .join(&format!("domain/{}", check.name))
        .map_err(|e| (None, format!("RDAP URL: {e}")))?;
    let response = client
        .get(url)
        .header("accept", "application/rdap+json, application/json")
        .send()
        .await
        .map_err(|e| (None, format!("RDAP: {}", describe_request_error(&e))))?;
    let status = response.status().as_u16();
    match status {
        200 => {}
        404 => {
            return Err((
                Some(status),
                "the registry does not know this domain (RDAP 404): not registered, or mistyped"
                    .into(),
            ));
        }
        429 => {
            return Err((
                Some(status),
                "the RDAP service is rate-limiting Pharos (429); check less often".into(),
            ));
        }
        _ => return Err((Some(status), format!("RDAP answered HTTP {status}"))),
    }
    let body = response.bytes().await.map_err(|e| {
        (
            Some(status),
            format!("RDAP: reading the answer: {}", describe_request_error(&e)),
        )
    })?;
    if body.len() > ANSWER_LIMIT {
        return Err((Some(status), "RDAP answer larger than 1 MiB".into()));
    }
    expiration_in(&body).map_err(|e| (Some(status), e))
}

/// The `expiration` event's date in an RDAP domain object.
pub fn expiration_in(body: &[u8]) -> Result<DateTime<Utc>, String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the RDAP answer is not JSON: {e}"))?;
    let events = json
        .get("events")
        .and_then(|e| e.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let date = events
        .iter()
        .find(|e| e.get("eventAction").and_then(|a| a.as_str()) == Some("expiration"))
        .and_then(|e| e.get("eventDate"))
        .and_then(|d| d.as_str())
        .ok_or_else(|| {
            "the registry publishes no expiration date for this domain (no RDAP `expiration` event)"
                .to_string()
        })?;
    DateTime::parse_from_rfc3339(date)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("the RDAP expiration date {date:?} is not an RFC 3339 time: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiration_event_is_read() {
        let body = br#"{"objectClassName": "domain", "ldhName": "EXAMPLE.COM", "events": [
            {"eventAction": "registration", "eventDate": "1995-08-14T04:00:00Z"},
            {"eventAction": "expiration", "eventDate": "2026-08-13T04:00:00Z"}]}"#;
        assert_eq!(
            expiration_in(body).unwrap().to_rfc3339(),
            "2026-08-13T04:00:00+00:00"
        );
        let none = expiration_in(br#"{"events": [{"eventAction": "registration", "eventDate": "1995-08-14T04:00:00Z"}]}"#);
        assert!(none.unwrap_err().contains("no expiration date"));
        assert!(expiration_in(b"<html>").unwrap_err().contains("not JSON"));
    }
}
