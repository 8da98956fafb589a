//! Moving in and out with the real binary: `pharos import` writes a config from an
//! Uptime Kuma backup that `pharos serve` starts with, every carried monitor running;
//! `pharos export` writes what was made through the API as config, its credentials in a
//! 0600 `.env` beside it, and a fresh Pharos started from the two has the same monitors,
//! projects and scrape jobs, now from the config.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn pharos_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(args)
        .env_remove("PHAROS_DATA_DIR")
        .output()
        .expect("run pharos")
}

fn said(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `KEY='value'` lines of an env file, as the environment of a command.
fn with_env_file(cmd: &mut Command, env_file: &Path) {
    for line in std::fs::read_to_string(env_file).unwrap().lines() {
        let (k, v) = line.split_once('=').unwrap();
        cmd.env(k, v.trim_matches('\''));
    }
}

async fn start_with_env(dir: &Path, config: &Path) -> (std::process::Child, String) {
    let port = free_port();
    let log = dir.join("pharos.log");
    let mut cmd = Pharos::command(&dir.join("data"), Some(config), port, &log);
    let env_file = config.with_file_name(format!(
        "{}.env",
        config.file_name().unwrap().to_string_lossy()
    ));
    if env_file.exists() {
        with_env_file(&mut cmd, &env_file);
    }
    let child = cmd.spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_until(
        std::time::Duration::from_secs(20),
        "pharos to start",
        async || match client().get(format!("{url}/health/live")).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            other => Err(format!(
                "{other:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )),
        },
    )
    .await;
    (child, url)
}

async fn get(url: &str, path: &str) -> Value {
    client()
        .get(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_uptime_kuma_backup_imports_into_a_config_pharos_runs() {
    let dir = tempdir("import-kuma");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/uptime-kuma-backup.json");
    let config = dir.join("pharos.yaml");
    let out = pharos_cli(&[
        "import",
        "uptime-kuma",
        fixture.to_str().unwrap(),
        "--out",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("not carried over: monitor \"Redis\" of type redis"),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("checked: 9 monitors"), "{}", said(&out));
    let env_file = dir.join("pharos.yaml.env");
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !std::fs::read_to_string(&config)
            .unwrap()
            .contains("hunter2")
    );
    let again = pharos_cli(&[
        "import",
        "uptime-kuma",
        fixture.to_str().unwrap(),
        "--out",
        config.to_str().unwrap(),
    ]);
    assert!(
        !again.status.success() && said(&again).contains("--force"),
        "{}",
        said(&again)
    );

    let (mut child, url) = start_with_env(&dir, &config).await;
    let monitors = get(&url, "/api/v1/monitors").await;
    let names: Vec<&str> = monitors["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(
        names.contains(&"Nightly job") && names.contains(&"Postgres"),
        "{names:?}"
    );
    let _ = child.kill();
}

#[tokio::test]
async fn what_was_made_through_the_api_exports_as_config_a_fresh_pharos_runs() {
    let dir = tempdir("export");
    let mut pharos = Pharos::start(&dir, None).await;
    let (code, m) = pharos
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({"name": "Partner API", "interval": "30s", "http": {"url": "http://127.0.0.1:9/health", "headers": {"Authorization": "Bearer partner-secret-123"}}})),
        )
        .await;
    assert_eq!(code, 201, "{m}");
    let (code, p) = pharos
        .send(
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "bot"})),
        )
        .await;
    assert_eq!(code, 201, "{p}");
    let (code, j) = pharos
        .send(
            Method::POST,
            "/api/v1/scrape_jobs",
            Some(json!({"job_name": "orders", "scrape_interval": "1m", "static_configs": [{"targets": ["127.0.0.1:9"]}], "basic_auth": {"username": "scraper", "password": "scrape-secret-456"}})),
        )
        .await;
    assert_eq!(code.as_u16() / 100, 2, "{j}");
    pharos.signal(libc::SIGTERM);
    pharos.wait_exit(std::time::Duration::from_secs(10)).await;

    let config = dir.join("exported.yaml");
    let out = pharos_cli(&[
        "export",
        "--data-dir",
        pharos.data_dir.to_str().unwrap(),
        "--out",
        config.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("checked: 1 monitors, 1 projects"),
        "{}",
        said(&out)
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        !text.contains("partner-secret-123") && !text.contains("scrape-secret-456"),
        "credentials stay out of the config:\n{text}"
    );
    let env = std::fs::read_to_string(dir.join("exported.yaml.env")).unwrap();
    assert!(
        env.contains("partner-secret-123") && env.contains("scrape-secret-456"),
        "{env}"
    );

    let fresh = dir.join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let (mut child, url) = start_with_env(&fresh, &config).await;
    let monitor = get(
        &url,
        &format!("/api/v1/monitors/{}", m["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(monitor["source"], "config", "{monitor}");
    let projects = get(&url, "/api/v1/projects").await;
    assert!(projects.to_string().contains("\"bot\""), "{projects}");
    let jobs = get(&url, "/api/v1/scrape_jobs").await;
    assert!(jobs.to_string().contains("orders"), "{jobs}");
    let _ = child.kill();
}
