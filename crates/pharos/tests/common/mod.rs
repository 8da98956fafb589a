//! Test harness: the real `pharos` binary on loopback, and the fake targets and receivers
//! it talks to. Nothing here leaves 127.0.0.1.

#![allow(dead_code)]

mod wait;

pub use wait::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

pub const TOKEN: &str = "test-admin-token-0123456789";

/// What the fake webhook keeps: the bodies received, failures still to answer, attempts.
type WebhookState = (Arc<Mutex<Vec<Value>>>, Arc<AtomicUsize>, Arc<AtomicUsize>);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `pharos serve`. Killed (SIGKILL) on drop.
pub struct Pharos {
    child: Option<Child>,
    pub url: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub config: Option<PathBuf>,
    pub log: PathBuf,
}

impl Pharos {
    pub fn command(data_dir: &Path, config: Option<&Path>, port: u16, log: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pharos"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        cmd.env("PHAROS_ADMIN_TOKEN", TOKEN)
            .env("PHAROS_LOG_FORMAT", "json")
            .env("PHAROS_LOG", "info")
            .env_remove("PHAROS_CONFIG")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        cmd
    }

    /// Starts Pharos in `dir` (data in `dir/data`, config written to `dir/pharos.yaml`).
    pub async fn start(dir: &Path, config: Option<&str>) -> Pharos {
        let config_path = config.map(|c| {
            let p = dir.join("pharos.yaml");
            std::fs::write(&p, c).unwrap();
            p
        });
        Pharos::start_with(dir, config_path, free_port()).await
    }

    pub async fn start_with(dir: &Path, config: Option<PathBuf>, port: u16) -> Pharos {
        let data_dir = dir.join("data");
        let log = dir.join("pharos.log");
        let child = Pharos::command(&data_dir, config.as_deref(), port, &log)
            .spawn()
            .expect("spawn pharos");
        let p = Pharos {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            port,
            data_dir,
            config,
            log,
        };
        p.wait_live().await;
        p
    }

    async fn wait_live(&self) {
        self.wait_until(
            Duration::from_secs(20),
            "pharos to start (GET /health/live)",
            async || match client()
                .get(format!("{}/health/live", self.url))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            },
        )
        .await
    }

    /// [`wait_until`], with the tail of this Pharos's log in the failure message.
    #[track_caller]
    pub fn wait_until<O: Outcome>(
        &self,
        within: Duration,
        what: &str,
        probe: impl AsyncFnMut() -> O,
    ) -> impl Future<Output = O::Ready> {
        wait_until_with(within, what, probe, || self.log_tail(40))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log, headed by how many there are and where.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        let tail = &all[all.len().saturating_sub(lines)..];
        format!(
            "log (last {} of {} lines, all in {}):\n{}",
            tail.len(),
            all.len(),
            self.log.display(),
            tail.join("\n")
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let status = poll_until(timeout, async || child.try_wait().ok().flatten())
            .await
            .ok()?;
        self.child = None;
        Some(status)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.pid() as i32, sig) };
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {v}");
        v
    }

    /// A page's HTML as the admin token sees it.
    pub async fn page(&self, path: &str) -> String {
        client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = client()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn monitor(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/monitors/{id}")).await
    }

    /// Polls a monitor until `pred` holds, failing with its last state after `secs`.
    /// A monitor not there yet (a reload still being applied) counts as not matching.
    pub async fn wait_monitor(&self, id: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_until(
            Duration::from_secs(secs),
            &format!("monitor {id} to match"),
            async || {
                let (code, m) = self
                    .send(
                        reqwest::Method::GET,
                        &format!("/api/v1/monitors/{id}"),
                        None,
                    )
                    .await;
                if code.is_success() && pred(&m) {
                    return Ok(m);
                }
                assert!(
                    code.is_success() || code == StatusCode::NOT_FOUND,
                    "GET monitor {id}: {code} {m}"
                );
                Err(format!("{m:#}"))
            },
        )
        .await
    }
}

impl Drop for Pharos {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn state(m: &Value) -> &str {
    m["state"].as_str().unwrap_or("")
}

/// What the target answers: switched by the test while Pharos probes it.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
pub enum Mode {
    Healthy = 0,
    Error500 = 1,
    Slow = 2,
    BadJson = 3,
    Unhealthy = 4,
}

#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    pub hits: Arc<AtomicUsize>,
}

impl Target {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A health endpoint that flips between healthy, 500, slow, bad JSON and unhealthy at
/// `/health`; `/fast` always answers; `/huge` sends 50 MB; `/endless` never finishes.
pub async fn target() -> Target {
    let mode = Arc::new(AtomicU8::new(Mode::Healthy as u8));
    let hits = Arc::new(AtomicUsize::new(0));
    let t = (mode.clone(), hits.clone());
    let router = Router::new()
        .route(
            "/health",
            get(|State((mode, hits)): State<(Arc<AtomicU8>, Arc<AtomicUsize>)>, headers: axum::http::HeaderMap| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                // A redacted credential would arrive as "<redacted>": refuse it like a real API.
                if headers.get("x-api-key").is_some_and(|v| v.as_bytes().starts_with(b"<")) {
                    return (StatusCode::UNAUTHORIZED, "bad key").into_response();
                }
                let m = mode.load(Ordering::SeqCst);
                match m {
                    1 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
                    2 => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        json_response(r#"{"status":"healthy"}"#)
                    }
                    3 => json_response(r#"{"status": "heal"#),
                    4 => json_response(r#"{"status":"unhealthy","checks":{"database":{"status":"down","latency_ms":900}},"queue_size":7}"#),
                    _ => json_response(r#"{"status":"healthy","checks":{"database":{"status":"healthy","latency_ms":12}},"queue_size":3}"#),
                }
            }),
        )
        .route("/fast", get(|| async { "ok" }))
        .route(
            "/huge",
            get(|| async {
                let chunk = bytes_of(1024 * 1024);
                let stream = futures_util::stream::iter((0..50).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
                Response::new(Body::from_stream(stream))
            }),
        )
        .route(
            "/endless",
            get(|| async {
                let stream = futures_util::stream::unfold((), |_| async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Some((Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"still going\n")), ()))
                });
                Response::new(Body::from_stream(stream))
            }),
        )
        .with_state(t);
    Target {
        addr: serve(router).await,
        mode,
        hits,
    }
}

fn bytes_of(n: usize) -> axum::body::Bytes {
    axum::body::Bytes::from(vec![b'x'; n])
}

fn json_response(body: &'static str) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A webhook receiver that records every Alertmanager payload; it can be told to fail
/// the next N requests to exercise retries.
#[derive(Clone)]
pub struct Webhook {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Value>>>,
    fail_next: Arc<AtomicUsize>,
    pub attempts: Arc<AtomicUsize>,
}

impl Webhook {
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }
    pub fn payloads(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }
    /// Waits for a payload matching `pred`.
    pub async fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        wait_until(
            Duration::from_secs(secs),
            &format!("webhook {what}"),
            async || {
                let got = self.payloads();
                got.iter()
                    .find(|v| pred(v))
                    .cloned()
                    .ok_or_else(|| format!("{got:#?}"))
            },
        )
        .await
    }
}

pub async fn webhook() -> Webhook {
    let received = Arc::new(Mutex::new(Vec::new()));
    let fail_next = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let st = (received.clone(), fail_next.clone(), attempts.clone());
    let router = Router::new()
        .route(
            "/hook",
            post(
                |State((received, fail, attempts)): State<WebhookState>,
                 body: axum::body::Bytes| async move {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    if fail.load(Ordering::SeqCst) > 0 {
                        fail.fetch_sub(1, Ordering::SeqCst);
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let v: Value = serde_json::from_slice(&body).expect("webhook body is JSON");
                    received.lock().unwrap().push(v);
                    StatusCode::OK
                },
            ),
        )
        .with_state(st);
    Webhook {
        addr: serve(router).await,
        received,
        fail_next,
        attempts,
    }
}

/// An HTTPS server whose self-signed certificate expires in `days_left` days.
pub async fn tls_target(days_left: i64) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let today = chrono::Utc::now().date_naive();
    let start = today - chrono::Duration::days(10);
    let end = today + chrono::Duration::days(days_left);
    let ymd = |d: chrono::NaiveDate| {
        use chrono::Datelike;
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.not_before = ymd(start);
    params.not_after = ymd(end);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

/// `pharos check --config <path>`, run to completion.
pub fn check_config(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pharos"))
        .args(["check", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pharos-test-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs an instant PromQL query through `/api/v1/query`.
/// `s` percent-encoded for a URL query value.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn promql(p: &Pharos, q: &str) -> Value {
    p.get(&format!("/api/v1/query?query={}", url_escape(q)))
        .await
}

pub async fn wait_promql(p: &Pharos, q: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    p.wait_until(
        Duration::from_secs(secs),
        &format!("{q} to match"),
        async || {
            let v = promql(p, q).await;
            if pred(&v["data"]["result"]) {
                Ok(v)
            } else {
                Err(v)
            }
        },
    )
    .await
}

/// The value of the first sample of an instant vector result (`None` when empty).
pub fn promql_value(result: &Value) -> Option<f64> {
    result[0]["value"][1].as_str()?.parse().ok()
}

/// A client that shows redirects instead of following them (sign-in answers 303).
pub fn no_redirects() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Signs `name` in through the sign-in form; the session cookie as a `Cookie` header value.
pub async fn sign_in(p: &Pharos, name: &str, password: &str) -> String {
    let r = no_redirects()
        .post(format!("{}/login", p.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("name", name),
            ("password", password),
            ("next", "/"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        reqwest::StatusCode::SEE_OTHER,
        "sign-in of {name}"
    );
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    cookie.split(';').next().unwrap().to_string()
}
