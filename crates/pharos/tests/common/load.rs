//! Ingest load for the tests that check every acknowledged write is kept (a `SIGTERM`
//! under load, a backup under load): Sentry events, log lines, remote-written samples and
//! Alertmanager alerts, each sender going until told to stop or Pharos stops answering,
//! and returning what was acknowledged with when.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use pharos_ingest::prometheus::remote_write::{
    Label, ProtoSample, TimeSeries, WriteRequest, encode,
};
use serde_json::json;

use crate::common::{TOKEN, client};

/// The project the event sender writes to; the config must have it.
pub const PROJECT: u32 = 42;
pub const KEY: &str = "loadtestkey0123456789abcdef0123";

/// A config with the events' project.
pub fn project_config() -> String {
    format!("projects:\n  - id: {PROJECT}\n    name: shop\n    keys: [\"{KEY}\"]\n")
}

/// Lines per log batch.
pub const LOG_BATCH: usize = 20;

fn event_envelope(id: &str) -> String {
    let event =
        json!({"event_id": id, "message": format!("load {id}"), "level": "error"}).to_string();
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
}

/// Event ids acknowledged, with when the answer came.
pub async fn send_events(url: String, stop: Arc<AtomicBool>) -> Vec<(Instant, String)> {
    let mut acked = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let id = format!("{:032x}", 0x5d000 + i);
        let sent = client()
            .post(format!("{url}/api/{PROJECT}/envelope/"))
            .header(
                "X-Sentry-Auth",
                format!("Sentry sentry_key={KEY}, sentry_version=7"),
            )
            .body(event_envelope(&id))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => acked.push((Instant::now(), id)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}

/// Batch numbers acknowledged (each of [`LOG_BATCH`] lines `load batch <n> line <i>` of
/// service `service`), with when.
pub async fn send_logs(url: String, service: &str, stop: Arc<AtomicBool>) -> Vec<(Instant, usize)> {
    let mut acked = Vec::new();
    for batch in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let body: String = (0..LOG_BATCH)
            .map(|i| {
                format!("{{\"message\":\"load batch {batch} line {i}\",\"level\":\"INFO\"}}\n")
            })
            .collect();
        let sent = client()
            .post(format!("{url}/api/v1/logs?service={service}"))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => acked.push((Instant::now(), batch)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}

/// Series acknowledged: `load_test{batch="<i>"}` with value i, with when.
pub async fn send_samples(url: String, stop: Arc<AtomicBool>) -> Vec<(Instant, usize)> {
    let mut acked = Vec::new();
    let start = chrono::Utc::now().timestamp_millis();
    for i in 0..100_000usize {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let label = |name: &str, value: String| Label {
            name: name.into(),
            value,
        };
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    label("__name__", "load_test".into()),
                    label("batch", i.to_string()),
                ],
                samples: vec![ProtoSample {
                    value: i as f64,
                    timestamp: start + i as i64,
                }],
                histograms: vec![],
            }],
            metadata: vec![],
        };
        let sent = client()
            .post(format!("{url}/api/v1/write"))
            .bearer_auth(TOKEN)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .body(encode(&req))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => acked.push((Instant::now(), i)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}

/// Alerts posted to Alertmanager's API as a Prometheus would (`alertname="LoadTest"`,
/// `n="<i>"`), with when they were acknowledged.
pub async fn send_alerts(url: String, stop: Arc<AtomicBool>) -> Vec<(Instant, usize)> {
    let mut acked = Vec::new();
    for i in 0..10_000usize {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let body = json!([{
            "labels": {"alertname": "LoadTest", "n": i.to_string()},
            "annotations": {"summary": format!("load alert {i}")},
            "startsAt": chrono::Utc::now().to_rfc3339(),
        }]);
        let sent = client()
            .post(format!("{url}/api/v2/alerts"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => acked.push((Instant::now(), i)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}
