//! Stopping is a feature: `SIGTERM` while Sentry SDKs, log shippers and a Prometheus
//! remote-writing are all sending stops Pharos within 10 seconds with exit code 0, and
//! everything it answered 2xx for is there after the restart.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use pharos_ingest::prometheus::remote_write::{
    Label, ProtoSample, TimeSeries, WriteRequest, encode,
};
use serde_json::{Value, json};

const KEY: &str = "shutdowntestkey0123456789abcdef";

fn config() -> String {
    format!("projects:\n  - id: 42\n    name: shop\n    keys: [\"{KEY}\"]\n")
}

fn event_envelope(id: &str) -> String {
    let event =
        json!({"event_id": id, "message": format!("shutdown {id}"), "level": "error"}).to_string();
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
}

/// Sends until told to stop or Pharos stops answering; returns what was acknowledged.
async fn send_events(url: String, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut acked = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let id = format!("{:032x}", 0x5d000 + i);
        let sent = client()
            .post(format!("{url}/api/42/envelope/"))
            .header(
                "X-Sentry-Auth",
                format!("Sentry sentry_key={KEY}, sentry_version=7"),
            )
            .body(event_envelope(&id))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => acked.push(id),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}

async fn send_logs(url: String, stop: Arc<AtomicBool>) -> usize {
    let mut acked = 0;
    for batch in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let body: String = (0..20)
            .map(|i| {
                format!("{{\"message\":\"shutdown batch {batch} line {i}\",\"level\":\"INFO\"}}\n")
            })
            .collect();
        let sent = client()
            .post(format!("{url}/api/v1/logs?service=shutdown-test"))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => acked += 20,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}

async fn send_samples(url: String, stop: Arc<AtomicBool>) -> Vec<usize> {
    let mut acked = Vec::new();
    let start = chrono::Utc::now().timestamp_millis();
    for i in 0..100_000usize {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "shutdown_test".into(),
                    },
                    Label {
                        name: "batch".into(),
                        value: i.to_string(),
                    },
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
            Ok(r) if r.status().is_success() => acked.push(i),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_ingest_exits_zero_and_keeps_every_acknowledged_write() {
    let dir = tempdir("shutdown-sigterm");
    let mut pharos = Pharos::start(&dir, Some(&config())).await;
    let stop = Arc::new(AtomicBool::new(false));
    let events = tokio::spawn(send_events(pharos.url.clone(), stop.clone()));
    let logs = tokio::spawn(send_logs(pharos.url.clone(), stop.clone()));
    let samples = tokio::spawn(send_samples(pharos.url.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let signalled = Instant::now();
    pharos.signal(libc::SIGTERM);
    let status = pharos.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (events, logs, samples) = (
        events.await.unwrap(),
        logs.await.unwrap(),
        samples.await.unwrap(),
    );
    let status = status.unwrap_or_else(|| {
        panic!(
            "pharos still running 10 s after SIGTERM; log:\n{}",
            pharos.log_text()
        )
    });
    assert!(
        status.success(),
        "exit {status:?} after {took:?}; log:\n{}",
        pharos.log_text()
    );
    assert!(
        !events.is_empty() && logs > 0 && !samples.is_empty(),
        "every sender got answers before the signal: {} events, {logs} lines, {} samples",
        events.len(),
        samples.len()
    );

    let pharos = Pharos::start_with(&dir, pharos.config.clone(), pharos.port).await;
    for id in &events {
        let r = client()
            .get(format!("{}/api/v1/events/{id}", pharos.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "event {id} acknowledged but lost");
    }
    let q = r#"count(shutdown_test)"#;
    let counted = promql_value(&promql(&pharos, q).await["data"]["result"]).unwrap_or(0.0) as usize;
    assert!(
        counted >= samples.len(),
        "{counted} series after restart, {} acknowledged",
        samples.len()
    );
    // The log index catches up from the WAL after a restart.
    pharos
        .wait_until(
            Duration::from_secs(20),
            "every acknowledged log line after the restart",
            async || {
                let v: Value = pharos
                    .get("/api/v1/logs/counts?by=service&q=service%3Dshutdown-test&since=1h")
                    .await;
                let stored = v["counts"]
                    .as_array()
                    .map(|rows| rows.iter().filter_map(|r| r["count"].as_u64()).sum::<u64>())
                    .unwrap_or(0) as usize;
                if stored >= logs {
                    Ok(())
                } else {
                    Err(format!(
                        "{stored} log lines after restart, {logs} acknowledged"
                    ))
                }
            },
        )
        .await;
}
