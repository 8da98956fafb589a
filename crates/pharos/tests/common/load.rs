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

/// Sends one request per item until told to stop, the items run out or Pharos stops
/// answering; returns the items answered 2xx, with when the answer came.
async fn send_each<T>(
    stop: Arc<AtomicBool>,
    items: impl Iterator<Item = T>,
    request: impl Fn(&T) -> reqwest::RequestBuilder,
) -> Vec<(Instant, T)> {
    let mut acked = Vec::new();
    for item in items {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match request(&item).send().await {
            Ok(r) if r.status().is_success() => acked.push((Instant::now(), item)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}

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
    let ids = (0..).map(|i| format!("{:032x}", 0x5d000 + i));
    send_each(stop, ids, |id| {
        client()
            .post(format!("{url}/api/{PROJECT}/envelope/"))
            .header(
                "X-Sentry-Auth",
                format!("Sentry sentry_key={KEY}, sentry_version=7"),
            )
            .body(event_envelope(id))
    })
    .await
}

/// Batch numbers acknowledged (each of [`LOG_BATCH`] lines `load batch <n> line <i>` of
/// service `service`), with when.
pub async fn send_logs(url: String, service: &str, stop: Arc<AtomicBool>) -> Vec<(Instant, usize)> {
    send_each(stop, 0.., |batch| {
        let body: String = (0..LOG_BATCH)
            .map(|i| {
                format!("{{\"message\":\"load batch {batch} line {i}\",\"level\":\"INFO\"}}\n")
            })
            .collect();
        client()
            .post(format!("{url}/api/v1/logs?service={service}"))
            .bearer_auth(TOKEN)
            .body(body)
    })
    .await
}

/// Series acknowledged: `load_test{batch="<i>"}` with value i, with when.
pub async fn send_samples(url: String, stop: Arc<AtomicBool>) -> Vec<(Instant, usize)> {
    let start = chrono::Utc::now().timestamp_millis();
    send_each(stop, 0..100_000usize, |&i| {
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
        client()
            .post(format!("{url}/api/v1/write"))
            .bearer_auth(TOKEN)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .body(encode(&req))
    })
    .await
}

/// Alerts posted to Alertmanager's API as a Prometheus would (`alertname="LoadTest"`,
/// `n="<i>"`), with when they were acknowledged.
pub async fn send_alerts(url: String, stop: Arc<AtomicBool>) -> Vec<(Instant, usize)> {
    send_each(stop, 0..10_000usize, |i| {
        client()
            .post(format!("{url}/api/v2/alerts"))
            .bearer_auth(TOKEN)
            .json(&json!([{
                "labels": {"alertname": "LoadTest", "n": i.to_string()},
                "annotations": {"summary": format!("load alert {i}")},
                "startsAt": chrono::Utc::now().to_rfc3339(),
            }]))
    })
    .await
}
