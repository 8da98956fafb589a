//! Probe results as series, so PromQL rules and dashboards cover monitors too: the
//! blackbox exporter's names where the meaning is the same (`probe_success`,
//! `probe_duration_seconds`, `probe_http_status_code`), plus the monitor's state after its
//! thresholds (`monitor_up`), the numbers read from JSON bodies (`probe_json_value`) and
//! the days until a domain's registration expires (`probe_domain_expiry_days`).
//!
//! Every series carries `job="monitors"`, `monitor` (the name), `monitor_id` and `type`.
//! The target URL is deliberately not a label: it may carry a token.

use pharos_model::series::{LabelSet, METRIC_NAME, SeriesSample};
use pharos_model::{MonitorCheck, MonitorSpec, MonitorState, ProbeResult};

/// The `job` label of every probe series.
pub const JOB: &str = "monitors";

/// The series one result writes, all at the result's time.
pub fn probe_samples(
    spec: &MonitorSpec,
    result: &ProbeResult,
    state: MonitorState,
) -> Vec<SeriesSample> {
    let t = result.at.timestamp_millis();
    let base = [
        ("job", JOB),
        ("monitor", spec.name.as_str()),
        ("monitor_id", spec.id.as_str()),
        ("type", spec.check.kind()),
    ];
    let sample = |name: &str, extra: Option<(&str, &str)>, v: f64| SeriesSample {
        labels: LabelSet::new(
            base.iter()
                .copied()
                .chain(extra)
                .chain([(METRIC_NAME, name)]),
        ),
        t,
        v,
    };
    let mut out = vec![sample(
        "probe_success",
        None,
        if result.outcome.is_up() { 1.0 } else { 0.0 },
    )];
    if let Some(ms) = result.latency_ms {
        out.push(sample("probe_duration_seconds", None, ms / 1000.0));
    }
    if let Some(code) = result.status_code {
        out.push(sample("probe_http_status_code", None, f64::from(code)));
    }
    if let Some(days) = result.tls_days_left {
        out.push(sample("probe_tls_days_left", None, days as f64));
    }
    match state {
        MonitorState::Up | MonitorState::Degraded => out.push(sample("monitor_up", None, 1.0)),
        MonitorState::Down => out.push(sample("monitor_up", None, 0.0)),
        MonitorState::Unknown | MonitorState::Paused => {}
    }
    for (path, v) in &result.numbers {
        // A domain check's one number is its days left, not a value read from JSON.
        if matches!(spec.check, MonitorCheck::Domain(_)) && path == crate::probe::DAYS_LEFT {
            out.push(sample("probe_domain_expiry_days", None, *v));
        } else {
            out.push(sample("probe_json_value", Some(("path", path)), *v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::probe::Outcome;

    fn spec() -> MonitorSpec {
        serde_json::from_value(serde_json::json!({
            "id": "api", "name": "API health",
            "http": {"url": "https://user:secret@api.example.com/health?token=t"}
        }))
        .unwrap()
    }

    #[test]
    fn a_result_becomes_blackbox_style_series_without_the_url() {
        let r = ProbeResult {
            monitor: spec().id,
            at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            outcome: Outcome::Up,
            latency_ms: Some(250.0),
            status_code: Some(200),
            error: None,
            tls_days_left: Some(20),
            numbers: vec![("queue_size".into(), 42.0)],
        };
        let got = probe_samples(&spec(), &r, MonitorState::Up);
        let show: Vec<String> = got
            .iter()
            .map(|s| format!("{} {}", s.labels, s.v))
            .collect();
        assert_eq!(
            show,
            vec![
                r#"probe_success{job="monitors", monitor="API health", monitor_id="api", type="http"} 1"#,
                r#"probe_duration_seconds{job="monitors", monitor="API health", monitor_id="api", type="http"} 0.25"#,
                r#"probe_http_status_code{job="monitors", monitor="API health", monitor_id="api", type="http"} 200"#,
                r#"probe_tls_days_left{job="monitors", monitor="API health", monitor_id="api", type="http"} 20"#,
                r#"monitor_up{job="monitors", monitor="API health", monitor_id="api", type="http"} 1"#,
                r#"probe_json_value{job="monitors", monitor="API health", monitor_id="api", path="queue_size", type="http"} 42"#,
            ]
        );
        assert!(got.iter().all(|s| s.t == 1_700_000_000_000));
        assert!(!show.concat().contains("secret"));
    }

    #[test]
    fn a_domain_checks_days_left_is_its_own_series() {
        let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
            "id": "site", "name": "Site domain", "domain": {"name": "example.com"}
        }))
        .unwrap();
        let r = ProbeResult {
            monitor: spec.id.clone(),
            at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            outcome: Outcome::Degraded,
            latency_ms: Some(100.0),
            status_code: None,
            error: Some("expires soon".into()),
            tls_days_left: None,
            numbers: vec![(crate::probe::DAYS_LEFT.into(), 12.0)],
        };
        let got = probe_samples(&spec, &r, MonitorState::Degraded);
        let days: Vec<String> = got
            .iter()
            .filter(|s| s.labels.to_string().contains("days"))
            .map(|s| format!("{} {}", s.labels, s.v))
            .collect();
        assert_eq!(
            days,
            [
                r#"probe_domain_expiry_days{job="monitors", monitor="Site domain", monitor_id="site", type="domain"} 12"#
            ]
        );
        assert!(
            !got.iter()
                .any(|s| s.labels.to_string().contains("probe_json_value"))
        );
    }
}
