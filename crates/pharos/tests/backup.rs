//! Backups, restores and upgrades of a data directory, with the real binary:
//! - `pharos backup` while Sentry SDKs, a log shipper, a Prometheus remote-writing and a
//!   Prometheus posting alerts all send; `pharos restore` into a new directory; the
//!   restored Pharos has every event, log line, sample and alert acknowledged before the
//!   backup began;
//! - a damaged or partial backup is refused by restore, and nothing is written;
//! - scheduled backups run, keep the newest `keep`, and report on `/metrics` and `/health`;
//! - a data directory a newer Pharos wrote is refused at start and left as it was.

mod common;
#[path = "common/load.rs"]
mod load;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use load::{LOG_BATCH, project_config, send_alerts, send_events, send_logs, send_samples};
use serde_json::Value;

fn pharos_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(args)
        .env("PHAROS_TOKEN", TOKEN)
        .env_remove("PHAROS_DATA_DIR")
        .output()
        .expect("run pharos")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn acked_before<T: Clone>(acked: &[(Instant, T)], at: Instant) -> Vec<T> {
    acked
        .iter()
        .filter(|(t, _)| *t < at)
        .map(|(_, v)| v.clone())
        .collect()
}

async fn log_lines(pharos: &Pharos, service: &str) -> usize {
    let v: Value = pharos
        .get(&format!(
            "/api/v1/logs/counts?by=service&q=service%3D{service}&since=1h"
        ))
        .await;
    v["counts"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["count"].as_u64()).sum::<u64>())
        .unwrap_or(0) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_every_write_acknowledged_before_it() {
    let dir = tempdir("backup-under-load");
    let mut pharos = Pharos::start(&dir, Some(&project_config())).await;
    let stop = Arc::new(AtomicBool::new(false));
    let events = tokio::spawn(send_events(pharos.url.clone(), stop.clone()));
    let logs = tokio::spawn(send_logs(pharos.url.clone(), "backup-test", stop.clone()));
    let samples = tokio::spawn(send_samples(pharos.url.clone(), stop.clone()));
    let alerts = tokio::spawn(send_alerts(pharos.url.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let dest = dir.join("backup");
    let began = Instant::now();
    let out = {
        let (url, dest) = (pharos.url.clone(), dest.clone());
        tokio::task::spawn_blocking(move || {
            pharos_cli(&["backup", dest.to_str().unwrap(), "--url", &url])
        })
        .await
        .unwrap()
    };
    // The load goes on while the backup runs, and a little after.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let (events, logs, samples, alerts) = (
        events.await.unwrap(),
        logs.await.unwrap(),
        samples.await.unwrap(),
        alerts.await.unwrap(),
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out),
        pharos.log_tail(20)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("backup written to"),
        "{}",
        text(&out)
    );
    let (events, logs, samples, alerts) = (
        acked_before(&events, began),
        acked_before(&logs, began).len() * LOG_BATCH,
        acked_before(&samples, began),
        acked_before(&alerts, began),
    );
    assert!(
        !events.is_empty() && logs > 0 && !samples.is_empty() && !alerts.is_empty(),
        "every sender got answers before the backup: {} events, {logs} lines, {} samples, {} alerts",
        events.len(),
        samples.len(),
        alerts.len()
    );
    let status = pharos.get("/api/v1/backups").await;
    assert_eq!(
        status["last"]["last_success_path"],
        dest.to_str().unwrap(),
        "{status}"
    );
    pharos.signal(libc::SIGTERM);
    pharos.wait_exit(Duration::from_secs(10)).await;

    let restored_dir = dir.join("restored");
    let out = pharos_cli(&[
        "restore",
        dest.to_str().unwrap(),
        "--data-dir",
        restored_dir.join("data").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let pharos = Pharos::start_with(&restored_dir, pharos.config.clone(), free_port()).await;
    for id in &events {
        let r = client()
            .get(format!("{}/api/v1/events/{id}", pharos.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "event {id} acknowledged before the backup but not restored"
        );
    }
    let series = promql_value(&promql(&pharos, "count(load_test)").await["data"]["result"])
        .unwrap_or(0.0) as usize;
    assert!(
        series >= samples.len(),
        "{series} series restored, {} acknowledged before the backup",
        samples.len()
    );
    let restored_alerts = pharos
        .get("/api/v2/alerts?filter=alertname%3D%22LoadTest%22")
        .await;
    let names: std::collections::HashSet<String> = restored_alerts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["labels"]["n"].as_str().map(str::to_string))
        .collect();
    for n in &alerts {
        assert!(
            names.contains(&n.to_string()),
            "alert n={n} acknowledged before the backup but not restored"
        );
    }
    pharos
        .wait_until(
            Duration::from_secs(20),
            "every log line acknowledged before the backup",
            async || match log_lines(&pharos, "backup-test").await {
                n if n >= logs => Ok(()),
                n => Err(format!(
                    "{n} lines restored, {logs} acknowledged before the backup"
                )),
            },
        )
        .await;
}

/// Flips a byte of the first file larger than a page.
fn damage_one_file(backup: &Path) -> String {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let file = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["bytes"].as_u64().unwrap() > 4096)
        .expect("a file to damage")["path"]
        .as_str()
        .unwrap()
        .to_string();
    let path = backup.join(&file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    // A hard link shares the bytes with the live store: write a new file instead.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, bytes).unwrap();
    file
}

#[tokio::test]
async fn a_damaged_or_partial_backup_is_refused_and_nothing_is_restored() {
    let dir = tempdir("backup-damaged");
    let mut pharos = Pharos::start(&dir, None).await;
    let (code, body) = pharos
        .send(
            reqwest::Method::POST,
            "/api/v1/backups",
            Some(serde_json::json!({"destination": "relative/path"})),
        )
        .await;
    assert_eq!(code.as_u16(), 400, "{body}");
    // Review finding: a backup inside the data directory would copy itself.
    let inside = pharos.data_dir.join("dashboards-backup");
    let (code, body) = pharos
        .send(
            reqwest::Method::POST,
            "/api/v1/backups",
            Some(serde_json::json!({"destination": inside})),
        )
        .await;
    assert_eq!(code.as_u16(), 400, "{body}");
    assert!(
        body.to_string().contains("inside the data directory"),
        "{body}"
    );
    let backup = dir.join("backup");
    let out = pharos_cli(&["backup", backup.to_str().unwrap(), "--url", &pharos.url]);
    assert!(out.status.success(), "{}", text(&out));
    let again = pharos_cli(&["backup", backup.to_str().unwrap(), "--url", &pharos.url]);
    assert!(
        !again.status.success(),
        "a backup into a directory that is not empty: {}",
        text(&again)
    );
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    pharos.signal(libc::SIGTERM);
    pharos.wait_exit(Duration::from_secs(10)).await;

    let target = dir.join("restored");
    let damaged = damage_one_file(&backup);
    let out = pharos_cli(&[
        "restore",
        backup.to_str().unwrap(),
        "--data-dir",
        target.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("is damaged") && text(&out).contains(&damaged),
        "{}",
        text(&out)
    );
    assert!(!target.exists(), "nothing restored from a damaged backup");

    std::fs::remove_file(backup.join("manifest.json")).unwrap();
    let out = pharos_cli(&[
        "restore",
        backup.to_str().unwrap(),
        "--data-dir",
        target.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not a complete backup"),
        "{}",
        text(&out)
    );
    assert!(!target.exists(), "nothing restored from a partial backup");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
        .collect();
    assert!(leftovers.is_empty(), "no staging directory left behind");
}

#[tokio::test]
async fn scheduled_backups_keep_the_newest_and_report_on_metrics_and_health() {
    let dir = tempdir("backup-scheduled");
    let backups = dir.join("backups");
    let config = format!(
        "backup:\n  interval: 1s\n  directory: {}\n  keep: 2\n",
        backups.display()
    );
    let pharos = Pharos::start(&dir, Some(&config)).await;
    pharos
        .wait_until(
            Duration::from_secs(30),
            "three scheduled backups",
            async || {
                let metrics = pharos.page("/metrics").await;
                let taken = metrics
                    .lines()
                    .find(|l| l.starts_with("pharos_backups_total{outcome=\"success\"}"))
                    .and_then(|l| l.rsplit(' ').next())
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                if taken >= 3.0 && metrics.contains("pharos_backup_last_success_timestamp_seconds")
                {
                    Ok(())
                } else {
                    Err(format!("{taken} backups taken"))
                }
            },
        )
        .await;
    let kept: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("manifest.json").exists())
        .collect();
    assert!(
        kept.len() <= 3 && kept.len() >= 2,
        "keep: 2 (a third may be being written): {}",
        kept.len()
    );
    let health = pharos.get("/health/ready").await;
    assert_eq!(health["checks"]["backup"]["status"], "healthy", "{health}");
}

#[tokio::test]
async fn a_data_directory_from_a_newer_pharos_is_refused_at_start() {
    let dir = tempdir("backup-downgrade");
    let mut pharos = Pharos::start(&dir, None).await;
    pharos.signal(libc::SIGTERM);
    pharos.wait_exit(Duration::from_secs(10)).await;
    let format_file = pharos.data_dir.join("format.json");
    let mut format: Value = serde_json::from_slice(&std::fs::read(&format_file).unwrap()).unwrap();
    let logs = format["stores"]["logs"].as_u64().unwrap();
    format["stores"]["logs"] = (logs + 1).into();
    format["written_by"] = "pharos 99.0.0 (commit future)".into();
    std::fs::write(&format_file, format.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(&pharos.data_dir)
        .env("PHAROS_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("written by a newer Pharos (pharos 99.0.0 (commit future))"),
        "{said}"
    );
    assert!(
        said.contains(&format!("logs is format {}", logs + 1)),
        "{said}"
    );
    let after: Value = serde_json::from_slice(&std::fs::read(&format_file).unwrap()).unwrap();
    assert_eq!(after, format, "the record is left as it was");
}

#[tokio::test]
async fn a_failing_scheduled_backup_is_reported_without_failing_readiness() {
    let dir = tempdir("backup-failing");
    // A file where the backup directory should be: every backup fails.
    let blocked = dir.join("not-a-directory");
    std::fs::write(&blocked, b"x").unwrap();
    let config = format!(
        "backup:\n  interval: 1h\n  directory: {}\n",
        blocked.display()
    );
    let pharos = Pharos::start(&dir, Some(&config)).await;
    let health = pharos
        .wait_until(
            Duration::from_secs(20),
            "the failed backup on /health/ready",
            async || {
                let health = pharos.get("/health/ready").await;
                match health["checks"]["backup"]["status"].as_str() {
                    Some("degraded") => Ok(health),
                    _ => Err(health.to_string()),
                }
            },
        )
        .await;
    let message = health["checks"]["backup"]["message"].as_str().unwrap();
    assert!(
        message.contains("the last backup failed") && message.contains("not-a-directory"),
        "{health}"
    );
    assert_eq!(
        health["status"], "healthy",
        "a failed backup is not a reason to take Pharos out of service: {health}"
    );
    let metrics = pharos.page("/metrics").await;
    assert!(
        metrics.contains("pharos_backups_total{outcome=\"failure\"} 1"),
        "{metrics}"
    );
}
