//! What the web surface gives away, on the real binary: scrape jobs made through the API
//! cannot read host files, a public monitor page hides the heartbeat's ping URL, every
//! answer carries the browser security headers, invented HTTP methods do not grow the
//! request metrics, `/metrics` can need the token, anonymous `/health/ready` says only
//! the status, the data directory is private, and API monitors' credentials rest sealed.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const SECRETS: [&str; 3] = [
    "hdr-s3cret-value",
    "query-s3cret-value",
    "body-s3cret-value",
];

fn config(target: &Target) -> String {
    format!(
        r#"
web:
  public: [status, monitors, api]
  metrics_auth: true
monitors:
  - id: nightly
    name: Nightly backup
    heartbeat: {{ period: 1h }}
  - id: site
    name: Site
    interval: 1s
    http: {{ url: {url} }}
"#,
        url = target.url("/health")
    )
}

async fn anonymous(p: &Pharos, method: Method, path: &str) -> reqwest::Response {
    client()
        .request(method, format!("{}{path}", p.url))
        .send()
        .await
        .unwrap()
}

fn files_containing(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_file()
            && std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_surface_gives_nothing_away() {
    let dir = tempdir("web-surface");
    let target = target().await;
    let p = Pharos::start(&dir, Some(&config(&target))).await;

    // Finding 6: an API scrape job naming a host file is refused, naming the field.
    for (job, field) in [
        (
            json!({"bearer_token_file": "/etc/hostname"}),
            "bearer_token_file",
        ),
        (
            json!({"tls_config": {"ca_file": "/etc/hostname"}}),
            "tls_config.ca_file",
        ),
        (
            json!({"basic_auth": {"username": "u", "password_file": "/etc/hostname"}}),
            "basic_auth.password_file",
        ),
    ] {
        let mut body =
            json!({"job_name": "steal", "static_configs": [{"targets": ["127.0.0.1:9"]}]});
        body.as_object_mut()
            .unwrap()
            .extend(job.as_object().unwrap().clone());
        let (code, answer) = p
            .send(Method::POST, "/api/v1/scrape_jobs", Some(body))
            .await;
        assert_eq!(code, 400, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }

    // Finding 7: the public monitor page and the public API leave the ping URL out.
    let page = anonymous(&p, Method::GET, "/monitors/nightly").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Nightly backup"), "{html}");
    assert!(
        !html.contains("/ping/"),
        "ping URL shown to anonymous visitor"
    );
    let signed_in = client()
        .get(format!("{}/monitors/nightly", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(signed_in.contains("/ping/"), "{signed_in}");
    let api: Value = anonymous(&p, Method::GET, "/api/v1/monitors/nightly")
        .await
        .json()
        .await
        .unwrap();
    assert!(api["ping_url"].is_null(), "{api}");
    assert!(p.monitor("nightly").await["ping_url"].is_string());

    // Browser security headers on pages, assets and the API.
    for path in [
        "/status",
        "/login",
        "/assets/pharos.css",
        "/api/v1/monitors",
    ] {
        let r = anonymous(&p, Method::GET, path).await;
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("'unsafe-eval'"), "{path}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }

    // The icon every browser asks for, and a page (not a line of text) for a browser that
    // follows a wrong link.
    for path in ["/favicon.ico", "/assets/favicon.svg"] {
        let r = anonymous(&p, Method::GET, path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml", "{path}");
    }
    let r = client()
        .get(format!("{}/no-such-page", p.url))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("Back to the overview"), "{body}");

    // Invented methods share one label value; unknown paths one route.
    for i in 0..20 {
        let m = Method::from_bytes(format!("ZZ{i}").as_bytes()).unwrap();
        anonymous(&p, m, "/health").await;
        anonymous(&p, Method::GET, &format!("/no-such-page-{i}")).await;
    }
    // web.metrics_auth: /metrics needs the token.
    assert_eq!(anonymous(&p, Method::GET, "/metrics").await.status(), 401);
    let metrics = client()
        .get(format!("{}/metrics", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("pharos_http_requests_total{") && l.contains("route=\"/health\""))
        .collect();
    assert!(!metrics.contains("method=\"ZZ"), "{series:?}");
    assert!(
        !metrics.contains("no-such-page"),
        "raw paths became route labels"
    );
    assert!(
        series
            .iter()
            .any(|l| l.contains("method=\"other\"") && l.ends_with(" 20")),
        "{series:?}"
    );

    // Anonymous readiness: the status only; the token sees the checks.
    let r = anonymous(&p, Method::GET, "/health/ready").await;
    assert_eq!(r.status(), 200);
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["status"], "healthy", "{ready}");
    assert!(ready.get("checks").is_none(), "{ready}");
    let full = p.get("/health/ready").await;
    assert_eq!(full["checks"]["storage"]["status"], "healthy", "{full}");
    assert!(full["checks"]["disk"]["free_bytes"].is_u64(), "{full}");

    // API monitors' credentials: redacted in answers, sealed at rest, kept by a PATCH
    // that sends the redacted definition back.
    let (code, created) = p
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({
                "id": "keyed", "name": "Keyed", "interval": "1s",
                "http": {
                    "url": format!("{}?token={}", target.url("/health"), SECRETS[1]),
                    "headers": {"X-Api-Key": SECRETS[0]},
                    "body": format!("{{\"password\": \"{}\"}}", SECRETS[2]),
                }
            })),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    for s in SECRETS {
        assert!(!created.to_string().contains(s), "{s} in {created}");
    }
    let up = |m: &Value| state(m) == "up";
    p.wait_monitor("keyed", 20, up).await;
    let shown = p.monitor("keyed").await;
    let (code, patched) = p
        .send(
            Method::PATCH,
            "/api/v1/monitors/keyed",
            Some(json!({"name": "Keyed again", "http": shown["spec"]["http"].clone()})),
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    // The target refuses an X-Api-Key of "<redacted>": checks after the patch still pass.
    let patched_at = patched["last_check_at"].as_str().unwrap_or("").to_string();
    p.wait_until(
        Duration::from_secs(20),
        "checks after the patch",
        async || {
            let m = p.monitor("keyed").await;
            let last = m["last_check_at"].as_str().unwrap_or("");
            let results = m["recent_results"].as_array().map(Vec::len).unwrap_or(0);
            if last > patched_at.as_str()
                && results >= 3
                && state(&m) == "up"
                && m["name"] == "Keyed again"
            {
                Ok(())
            } else {
                Err(format!("{m}"))
            }
        },
    )
    .await;
    let m = p.monitor("keyed").await;
    assert!(
        m["recent_results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] != "down"),
        "{m}"
    );
    // A monitor that goes down alerts without its URL's token.
    let (code, answer) = p
        .send(
            Method::POST,
            "/api/v1/monitors",
            Some(json!({
                "id": "gone", "name": "Gone", "interval": "1s",
                "http": {"url": format!("{}?api_key={}", target.url("/missing"), SECRETS[1])}
            })),
        )
        .await;
    assert_eq!(code, 201, "{answer}");
    let alerts = p
        .wait_until(
            Duration::from_secs(20),
            "an alert for the gone monitor",
            async || {
                let v = p.get("/api/v1/alerts/history").await;
                if v.to_string().contains("Gone is down") {
                    Ok(v)
                } else {
                    Err(v)
                }
            },
        )
        .await;
    assert!(!alerts.to_string().contains(SECRETS[1]), "{alerts}");
    for s in SECRETS {
        let found = files_containing(&p.data_dir, s);
        assert!(found.is_empty(), "{s} in clear in {found:?}");
    }

    // After kill -9 and a restart the sealed credentials open again: checks still pass.
    let mut p = p;
    p.kill9();
    let p = Pharos::start_with(&dir, p.config.clone(), p.port).await;
    let restarted_at = chrono::Utc::now();
    p.wait_until(
        Duration::from_secs(20),
        "checks after the restart",
        async || {
            let m = p.monitor("keyed").await;
            let results = m["recent_results"].as_array().cloned().unwrap_or_default();
            let after: Vec<&Value> = results
                .iter()
                .filter(|r| {
                    r["at"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .is_some_and(|t| t > restarted_at)
                })
                .collect();
            if after.len() >= 2 && after.iter().all(|r| r["outcome"] != "down") {
                Ok(())
            } else {
                Err(format!("{m}"))
            }
        },
    )
    .await;

    // The data directory and what Pharos wrote in it are its user's alone.
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&p.data_dir), 0o700);
    for entry in std::fs::read_dir(&p.data_dir).unwrap().flatten() {
        let m = mode(&entry.path());
        assert_eq!(m & 0o077, 0, "{}: {m:o}", entry.path().display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_data_directory_is_closed_at_start() {
    let dir = tempdir("web-surface-perms");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("notes.txt"), b"x").unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let p = Pharos::start(&dir, None).await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&p.data_dir), 0o700);
    assert_eq!(mode(&p.data_dir.join("notes.txt")), 0o600);
    assert_eq!(mode(&p.data_dir.join("pharos.db")), 0o600);
}
