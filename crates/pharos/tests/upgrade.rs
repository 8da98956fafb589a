//! An upgrade: a data directory written by the previous release (a fixture made by
//! `scripts/make-upgrade-fixture`, kept in `tests/fixtures/upgrade/`) opens in this binary
//! with every record it held: the API monitor and its last ping, the Sentry event, the log
//! lines, the silence, the user and the metrics of the self-scrape. The stores migrate on
//! open and `format.json` then records this binary's formats.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

/// The one `data-<commit>.tar.gz` the script leaves.
fn fixture() -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one fixture, made by scripts/make-upgrade-fixture: {found:?}"
    );
    found.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_data_directory_of_the_previous_release_opens_with_all_its_records() {
    let dir = tempdir("upgrade");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let unpacked = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(fixture())
        .arg("-C")
        .arg(&data)
        .status()
        .unwrap();
    assert!(unpacked.success());
    let written: Value =
        serde_json::from_slice(&std::fs::read(data.join("written.json")).unwrap()).unwrap();
    let config = dir.join("pharos.yaml");
    std::fs::copy(fixture_dir().join("pharos.yaml"), &config).unwrap();
    let pharos = Pharos::start_with(&dir, Some(config), free_port()).await;

    let monitor = pharos
        .get(&format!(
            "/api/v1/monitors/{}",
            written["monitor"].as_str().unwrap()
        ))
        .await;
    assert!(
        !monitor["last_ping_at"].is_null(),
        "the heartbeat's last ping: {monitor}"
    );

    let event = pharos
        .get(&format!(
            "/api/v1/events/{}",
            written["event_id"].as_str().unwrap()
        ))
        .await;
    assert!(
        event
            .to_string()
            .contains("upgrade fixture: payment failed"),
        "{event}"
    );

    let made_at = written["made_at"].as_i64().unwrap();
    let logs = pharos
        .get(&format!(
            "/api/v1/logs?q=service%3D{}&from={}&to={}",
            written["log_service"].as_str().unwrap(),
            made_at - 3600,
            made_at + 60
        ))
        .await;
    assert_eq!(
        logs["entries"].as_array().map(Vec::len),
        written["log_lines"].as_u64().map(|n| n as usize),
        "{logs}"
    );

    let silences = pharos.get("/api/v2/silences").await;
    assert!(
        silences
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == written["silence_id"]),
        "{silences}"
    );
    let users = pharos.get("/api/v1/users").await;
    assert!(
        users
            .to_string()
            .contains(written["user"].as_str().unwrap()),
        "{users}"
    );

    let up = pharos
        .get(&format!(
            "/api/v1/query?query=up%7Bjob%3D%22pharos%22%7D&time={made_at}"
        ))
        .await;
    assert_eq!(
        promql_value(&up["data"]["result"]),
        Some(1.0),
        "the old self-scrape: {up}"
    );

    let format: Value =
        serde_json::from_slice(&std::fs::read(data.join("format.json")).unwrap()).unwrap();
    assert!(
        format["written_by"]
            .as_str()
            .unwrap()
            .contains(env!("CARGO_PKG_VERSION")),
        "{format}"
    );
}
