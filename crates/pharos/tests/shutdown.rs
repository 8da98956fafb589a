//! Stopping is a feature: `SIGTERM` while Sentry SDKs, log shippers and a Prometheus
//! remote-writing are all sending stops Pharos within 10 seconds with exit code 0, and
//! everything it answered 2xx for is there after the restart.

mod common;
#[path = "common/load.rs"]
mod load;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use load::{LOG_BATCH, project_config, send_events, send_logs, send_samples};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_ingest_exits_zero_and_keeps_every_acknowledged_write() {
    let dir = tempdir("shutdown-sigterm");
    let mut pharos = Pharos::start(&dir, Some(&project_config())).await;
    let stop = Arc::new(AtomicBool::new(false));
    let events = tokio::spawn(send_events(pharos.url.clone(), stop.clone()));
    let logs = tokio::spawn(send_logs(pharos.url.clone(), "shutdown-test", stop.clone()));
    let samples = tokio::spawn(send_samples(pharos.url.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let signalled = Instant::now();
    pharos.signal(libc::SIGTERM);
    let status = pharos.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (events, logs, samples) = (
        events.await.unwrap(),
        logs.await.unwrap().len() * LOG_BATCH,
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
    for (_, id) in &events {
        let r = client()
            .get(format!("{}/api/v1/events/{id}", pharos.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "event {id} acknowledged but lost");
    }
    let q = r#"count(load_test)"#;
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
