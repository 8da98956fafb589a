//! Alertmanager's API against real clients: a real Prometheus sends its alerts to Pharos
//! as its Alertmanager, and amtool adds alerts, lists them and creates and expires
//! silences. Both skip with a message when their binary is not installed
//! (`apt-get install prometheus prometheus-alertmanager`; scripts/test does it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn binary(env: &str, name: &str) -> Option<PathBuf> {
    let candidate = std::env::var(env).unwrap_or_else(|_| name.to_string());
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {candidate}"))
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(PathBuf::from(String::from_utf8_lossy(&found.stdout).trim()))
}

fn config(hook: &Webhook) -> String {
    format!(
        r#"
receivers:
  - name: ops
    webhook_configs:
      - url: {}
  - name: nobody
    webhook_configs:
      - url: {}
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['team="nobody"']
      receiver: nobody
"#,
        hook.url(),
        hook.url()
    )
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_api(
    p: &Pharos,
    path: &str,
    secs: u64,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    p.wait_until(
        Duration::from_secs(secs),
        &format!("{path} to be {what}"),
        async || {
            let v = p.get(path).await;
            if pred(&v) {
                Ok(v)
            } else {
                Err(format!("{v:#}"))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sends_its_alerts_through_the_v2_api_to_a_receiver() {
    let Some(prometheus) = binary("PROMETHEUS_BIN", "prometheus") else {
        eprintln!("SKIPPED: no prometheus binary (apt-get install prometheus)");
        return;
    };
    let dir = tempdir("am-prometheus");
    let hook = webhook().await;
    let pharos = Pharos::start(&dir, Some(&config(&hook))).await;
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: always\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels: {severity: warning}\n        annotations: {summary: 'fires at once'}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{evaluation_interval: 1s}}\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - api_version: v2\n      authorization: {{type: Bearer, credentials: {TOKEN}}}\n      static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            pharos.port
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let _prom = Killed(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
            // Alerts queued before the notifier knows its Alertmanagers are dropped and sent
            // again only after the resend delay (1m by default).
            .arg("--rules.alert.resend-delay=2s")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start prometheus"),
    );
    let payload = hook
        .wait_for(40, "Prometheus's alert", |p| {
            p["alerts"][0]["labels"]["alertname"] == "AlwaysFiring"
        })
        .await;
    assert_eq!(payload["receiver"], "ops");
    assert_eq!(payload["status"], "firing");
    assert_eq!(payload["groupLabels"]["alertname"], "AlwaysFiring");
    assert_eq!(
        payload["alerts"][0]["annotations"]["summary"],
        "fires at once"
    );
    let alerts = pharos.get("/api/v2/alerts").await;
    let a = &alerts[0];
    assert_eq!(a["labels"]["alertname"], "AlwaysFiring", "{alerts:#}");
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(a["receivers"], json!([{"name": "ops"}]));
    assert!(
        a["generatorURL"].as_str().unwrap().contains("/graph"),
        "{a:#}"
    );
    // The same alert in Pharos's own list, so the UI shows it with every other alert.
    let own = pharos.get("/api/v1/alerts/history?state=firing").await;
    assert!(own.to_string().contains("AlwaysFiring"), "{own:#}");
    // Prometheus re-sends every minute: still one notification.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sent = hook
        .payloads()
        .iter()
        .filter(|p| p["alerts"][0]["labels"]["alertname"] == "AlwaysFiring")
        .count();
    assert_eq!(sent, 1, "{:#?}", hook.payloads());
}

fn amtool(bin: &Path, dir: &Path, port: u16, args: &[&str]) -> (bool, String) {
    let http = dir.join("amtool-http.yml");
    std::fs::write(
        &http,
        format!("authorization:\n  type: Bearer\n  credentials: {TOKEN}\n"),
    )
    .unwrap();
    let out = Command::new(bin)
        .arg(format!("--alertmanager.url=http://127.0.0.1:{port}"))
        .arg(format!("--http.config.file={}", http.display()))
        .args(args)
        .output()
        .expect("run amtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_adds_alerts_lists_them_and_silences_and_expires() {
    let Some(bin) = binary("AMTOOL_BIN", "amtool") else {
        eprintln!(
            "SKIPPED: no amtool binary (apt-get install --no-install-recommends prometheus-alertmanager)"
        );
        return;
    };
    let dir = tempdir("amtool");
    let hook = webhook().await;
    let pharos = Pharos::start(&dir, Some(&config(&hook))).await;
    let port = pharos.port;

    // Without the token: refused.
    let r = client()
        .get(format!("{}/api/v2/alerts", pharos.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (ok, out) = amtool(
        &bin,
        &dir,
        port,
        &[
            "alert",
            "add",
            "alertname=BackupFailed",
            "job=backup",
            "--annotation=summary=nightly",
        ],
    );
    assert!(ok, "{out}");
    hook.wait_for(10, "amtool's alert", |p| {
        p["alerts"][0]["labels"]["alertname"] == "BackupFailed"
    })
    .await;
    let (ok, out) = amtool(&bin, &dir, port, &["alert", "query"]);
    assert!(ok && out.contains("BackupFailed"), "{out}");

    let (ok, out) = amtool(
        &bin,
        &dir,
        port,
        &[
            "silence",
            "add",
            "alertname=BackupFailed",
            "-c",
            "restoring from snapshot",
            "-a",
            "ops",
            "-d",
            "1h",
        ],
    );
    assert!(ok, "{out}");
    // amtool may warn that versions differ; the id is the line that is one.
    let id = out
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 36 && l.matches('-').count() == 4)
        .unwrap_or_default()
        .to_string();
    assert_eq!(id.len(), 36, "a silence id: {out}");
    let alerts = wait_api(&pharos, "/api/v2/alerts", 5, "silenced", |v| {
        v[0]["status"]["state"] == "suppressed"
    })
    .await;
    assert_eq!(alerts[0]["status"]["silencedBy"], json!([id]));
    let (ok, out) = amtool(&bin, &dir, port, &["silence", "query"]);
    assert!(
        ok && out.contains(&id) && out.contains("restoring from snapshot"),
        "{out}"
    );
    let (ok, out) = amtool(&bin, &dir, port, &["alert", "query"]);
    assert!(
        ok && !out.contains("BackupFailed"),
        "silenced alerts are hidden by default: {out}"
    );
    let (ok, out) = amtool(&bin, &dir, port, &["alert", "query", "--silenced"]);
    assert!(ok && out.contains("BackupFailed"), "{out}");
    let (ok, out) = amtool(
        &bin,
        &dir,
        port,
        &["config", "routes", "test", "team=nobody"],
    );
    assert!(ok && out.contains("nobody"), "{out}");

    let (ok, out) = amtool(&bin, &dir, port, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    let silence = pharos.get(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(silence["status"]["state"], "expired");
    let (ok, out) = amtool(&bin, &dir, port, &["silence", "query"]);
    assert!(ok && !out.contains(&id), "{out}");
    let (ok, out) = amtool(&bin, &dir, port, &["silence", "query", "--expired"]);
    assert!(ok && out.contains(&id), "{out}");
    wait_api(&pharos, "/api/v2/alerts", 5, "unsilenced", |v| {
        v[0]["status"]["state"] == "active"
    })
    .await;

    // Writes need the token; a bad silence is a 400 with Alertmanager's string body.
    let (code, body) = pharos
        .send(Method::POST, "/api/v2/silences", Some(json!({"matchers": [{"name": "a", "value": ".*", "isRegex": true}], "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2999-01-01T00:00:00Z", "createdBy": "x", "comment": "y"})))
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.as_str().unwrap().contains("empty string"), "{body}");
    let status = pharos.get("/api/v2/status").await;
    assert_eq!(status["cluster"]["status"], "ready");
    assert!(
        status["config"]["original"]
            .as_str()
            .unwrap()
            .contains("receiver: ops"),
        "{status:#}"
    );
    let receivers = pharos.get("/api/v2/receivers").await;
    assert_eq!(receivers, json!([{"name": "nobody"}, {"name": "ops"}]));
    let groups = pharos.get("/api/v2/alerts/groups").await;
    assert_eq!(groups[0]["labels"], json!({"alertname": "BackupFailed"}));
    assert_eq!(groups[0]["receiver"]["name"], "ops");
}
