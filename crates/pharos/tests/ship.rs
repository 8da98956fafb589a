//! `pharos ship` end to end: the real binary against a fake Loki push endpoint on
//! loopback that records what it is sent, can refuse connections, answer 503, or answer
//! 400 to any request holding a poisoned line.

#[path = "common/wait.rs"]
mod wait;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use wait::{poll_until, wait_until};

const TOKEN: &str = "ship-test-token-42";

#[derive(Debug, Clone)]
struct Received {
    labels: serde_json::Map<String, Value>,
    ts: String,
    line: String,
}

#[derive(Default)]
struct FakeState {
    /// 0 = answer normally, else answer with this status.
    status: AtomicU16,
    received: Mutex<Vec<Received>>,
    refused_400: Mutex<usize>,
}

/// A Loki push endpoint that can be taken down (listener closed: connections refused)
/// and brought back on the same port.
struct FakeLoki {
    runtime: tokio::runtime::Runtime,
    state: Arc<FakeState>,
    addr: SocketAddr,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

async fn push(State(state): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {TOKEN}") {
        return StatusCode::UNAUTHORIZED;
    }
    let status = state.status.load(Ordering::SeqCst);
    if status != 0 {
        return StatusCode::from_u16(status).unwrap();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let mut got = Vec::new();
    for stream in body["streams"].as_array().unwrap() {
        let labels = stream["stream"].as_object().unwrap().clone();
        for v in stream["values"].as_array().unwrap() {
            let line = v[1].as_str().unwrap().to_string();
            if line.contains("POISON") {
                *state.refused_400.lock().unwrap() += 1;
                return StatusCode::BAD_REQUEST;
            }
            got.push(Received {
                labels: labels.clone(),
                ts: v[0].as_str().unwrap().to_string(),
                line,
            });
        }
    }
    state.received.lock().unwrap().extend(got);
    StatusCode::NO_CONTENT
}

impl FakeLoki {
    fn new() -> FakeLoki {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        FakeLoki {
            runtime,
            state: Arc::new(FakeState::default()),
            addr,
            server: Mutex::new(None),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn up(&self) {
        let state = self.state.clone();
        let addr = self.addr;
        let listener = self.runtime.block_on(wait_until(
            Duration::from_secs(10),
            &format!("{addr} to bind again"),
            async || tokio::net::TcpListener::bind(addr).await,
        ));
        let app = Router::new()
            .route("/loki/api/v1/push", post(push))
            .with_state(state);
        let task = self.runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.server.lock().unwrap() = Some(task);
    }

    fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    fn lines(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.line).collect()
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `n` lines arrived; at the deadline, returns to let the comparison say
    /// what is missing.
    fn wait_for_lines(&self, n: usize, within: Duration) {
        let _ = self
            .runtime
            .block_on(poll_until(within, async || self.lines().len() >= n));
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pharos-ship-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ship(url: &str, spool: &Path, stderr: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pharos"));
    cmd.arg("ship")
        .arg("--url")
        .arg(url)
        .arg("--spool-dir")
        .arg(spool)
        .args(["--batch-wait", "200ms", "--max-backoff", "1s"])
        .args(args)
        .env("PHAROS_TOKEN", TOKEN)
        .env_remove("PHAROS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(stderr)
                .unwrap(),
        ));
    cmd
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let exited = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(poll_until(within, async || child.try_wait().unwrap()));
    exited.unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("pharos ship did not exit within {within:?}");
    })
}

/// A line as Python's default `logging` format writes it.
fn log_line(i: usize) -> String {
    format!("2024-05-01 12:00:00,{:03} INFO bot: line {i:05}", i % 1000)
}

fn assert_exactly_once_in_order(got: &[String], want: &[String]) {
    if got == want {
        return;
    }
    let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).take(10).collect();
    let first_difference = got.iter().zip(want).position(|(g, w)| g != w);
    let around = first_difference.map(|i| &got[i.saturating_sub(2)..(i + 3).min(got.len())]);
    let mut seen = std::collections::HashSet::new();
    let dups: Vec<_> = got.iter().filter(|g| !seen.insert(*g)).take(10).collect();
    // Lines nobody wrote: what they are tells where they came from.
    let unexpected: Vec<_> = got.iter().filter(|g| !want.contains(g)).take(10).collect();
    panic!(
        "got {} lines, want {}; missing (first 10): {missing:?}; duplicated (first 10): \
         {dups:?}; not written (first 10): {unexpected:?}; first difference at \
         {first_difference:?}: {around:?}",
        got.len(),
        want.len()
    );
}

#[test]
fn ship_stdin_traceback_arrives_as_one_entry() {
    let fake = FakeLoki::new();
    fake.up();
    let dir = temp_dir("stdin");
    let stderr = dir.join("stderr");
    let mut child = ship(
        &fake.url(),
        &dir.join("spool"),
        &stderr,
        &["--service", "bot", "--label", "env=test"],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let input = "2024-05-01 12:00:00,001 INFO bot: starting\n\
                 2024-05-01 12:00:01,002 ERROR bot: handler failed\n\
                 Traceback (most recent call last):\n  \
                 File \"bot.py\", line 10, in handle\n    \
                 reply(update)\n  \
                 File \"bot.py\", line 4, in reply\n    \
                 raise ValueError(\"bad update\")\n\
                 ValueError: bad update\n\
                 2024-05-01 12:00:02,003 INFO bot: still running\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "exit {status}; stderr:\n{log}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(stdout, "", "nothing of ship's own goes to stdout");
    assert!(!log.contains(TOKEN), "the token is never printed");

    let got = fake.received();
    let lines: Vec<&str> = got.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0], "2024-05-01 12:00:00,001 INFO bot: starting");
    assert!(lines[1].starts_with("2024-05-01 12:00:01,002 ERROR bot: handler failed\nTraceback"));
    assert!(
        lines[1].ends_with("\nValueError: bad update"),
        "{:?}",
        lines[1]
    );
    assert_eq!(lines[2], "2024-05-01 12:00:02,003 INFO bot: still running");
    let labels = &got[0].labels;
    assert_eq!(labels["service"], "bot");
    assert_eq!(labels["env"], "test");
    assert!(labels["host"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(!labels.contains_key("filename"));
    let ts: Vec<u128> = got.iter().map(|r| r.ts.parse().unwrap()).collect();
    assert!(
        ts.windows(2).all(|w| w[0] < w[1]),
        "timestamps increase: {ts:?}"
    );
}

/// Writes lines to `path` the way Python's `RotatingFileHandler` does, and can rotate it
/// as the handler does (rename, new file) or as logrotate's copytruncate does.
struct AppLog {
    path: PathBuf,
    file: std::fs::File,
}

impl AppLog {
    fn open(path: &Path) -> AppLog {
        AppLog {
            path: path.to_path_buf(),
            file: std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap(),
        }
    }

    fn write(&mut self, line: &str) {
        writeln!(self.file, "{line}").unwrap();
    }

    fn rotate_rename(&mut self) {
        let p1 = PathBuf::from(format!("{}.1", self.path.display()));
        let p2 = PathBuf::from(format!("{}.2", self.path.display()));
        if p1.exists() {
            std::fs::rename(&p1, &p2).unwrap();
        }
        std::fs::rename(&self.path, &p1).unwrap();
        *self = AppLog::open(&self.path);
    }

    /// As logrotate does it: older copies shift first, so the copy is a new file.
    fn rotate_copytruncate(&mut self) {
        let p1 = PathBuf::from(format!("{}.1", self.path.display()));
        let p2 = PathBuf::from(format!("{}.2", self.path.display()));
        if p1.exists() {
            std::fs::rename(&p1, &p2).unwrap();
        }
        std::fs::copy(&self.path, &p1).unwrap();
        self.file.set_len(0).unwrap();
    }
}

#[test]
fn ship_files_through_rename_rotation_and_copytruncate_lose_and_repeat_nothing() {
    let fake = FakeLoki::new();
    fake.up();
    let dir = temp_dir("rotate");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let app = logs.join("app.log");
    let mut log = AppLog::open(&app);
    let mut want = Vec::new();
    // Already there at start: read with --from-beginning.
    for i in 0..50 {
        log.write(&log_line(i));
        want.push(log_line(i));
    }
    let stderr = dir.join("stderr");
    let pattern = format!("{}/*.log", logs.display());
    let mut child = ship(
        &fake.url(),
        &dir.join("spool"),
        &stderr,
        &["--service", "api", "--from-beginning", &pattern],
    )
    .spawn()
    .unwrap();
    let mut i = 50;
    for round in 0..6 {
        for n in 0..150 {
            log.write(&log_line(i));
            want.push(log_line(i));
            i += 1;
            if n == 75 {
                // The tailer sees the file's start (a file filled and truncated within one
                // poll is beyond any poller: see docs/ship.md).
                std::thread::sleep(Duration::from_millis(400));
            }
        }
        // No pause between the last writes and the rotation: the tailer has to find the
        // tail of the old content after the fact.
        if round % 2 == 0 {
            log.rotate_rename();
        } else {
            log.rotate_copytruncate();
        }
    }
    for _ in 0..20 {
        log.write(&log_line(i));
        want.push(log_line(i));
        i += 1;
    }
    // A new file matching the pattern is picked up.
    let mut other = AppLog::open(&logs.join("worker.log"));
    other.write("2024-05-01 12:00:00,000 INFO worker: hello");

    fake.wait_for_lines(want.len() + 1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let _ = child.wait();
    let log_text = std::fs::read_to_string(&stderr).unwrap();
    eprintln!("pharos ship's stderr:\n{log_text}");

    let got = fake.received();
    let app_lines: Vec<String> = got
        .iter()
        .filter(|r| r.labels["filename"] == app.display().to_string())
        .map(|r| r.line.clone())
        .collect();
    assert_exactly_once_in_order(&app_lines, &want);
    let worker: Vec<_> = got
        .iter()
        .filter(|r| {
            r.labels["filename"]
                .as_str()
                .unwrap()
                .ends_with("worker.log")
        })
        .collect();
    assert_eq!(worker.len(), 1, "stderr:\n{log_text}");
    assert_eq!(got[0].labels["service"], "api");
}

#[test]
fn ship_pharos_down_then_up_every_line_once_in_order() {
    let fake = FakeLoki::new();
    // Down from the start: connections refused.
    let dir = temp_dir("down");
    let stderr = dir.join("stderr");
    let mut child = ship(
        &fake.url(),
        &dir.join("spool"),
        &stderr,
        &["--service", "bot", "--drain-timeout", "60s"],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut want = Vec::new();
    for i in 0..300 {
        writeln!(stdin, "{}", log_line(i)).unwrap();
        want.push(log_line(i));
        if i == 100 {
            std::thread::sleep(Duration::from_secs(2));
            // Up, but failing.
            fake.up();
            fake.set_status(503);
        }
        if i == 200 {
            std::thread::sleep(Duration::from_secs(2));
            fake.set_status(0);
        }
    }
    drop(stdin);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "exit {status}; stderr:\n{log}");
    assert_exactly_once_in_order(&fake.lines(), &want);
    assert!(
        log.contains("retrying"),
        "the failures were reported:\n{log}"
    );
}

#[test]
fn ship_stdin_ended_while_pharos_stays_down_exits_nonzero_and_next_run_sends_the_rest() {
    let fake = FakeLoki::new();
    let dir = temp_dir("drain");
    let spool = dir.join("spool");
    let stderr = dir.join("stderr");
    let mut child = ship(
        &fake.url(),
        &spool,
        &stderr,
        &["--service", "bot", "--drain-timeout", "2s"],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let want: Vec<String> = (0..20).map(log_line).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all((want.join("\n") + "\n").as_bytes())
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(!status.success());
    assert!(log.contains("20 entries not delivered"), "{log}");

    fake.up();
    let mut child = ship(&fake.url(), &spool, &stderr, &["--service", "bot"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success());
    assert_exactly_once_in_order(&fake.lines(), &want);
}

#[test]
fn ship_killed_and_restarted_with_the_same_spool_loses_nothing() {
    let fake = FakeLoki::new();
    fake.up();
    let dir = temp_dir("kill");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let app = logs.join("app.log");
    let mut log = AppLog::open(&app);
    let spool = dir.join("spool");
    let stderr = dir.join("stderr");
    let pattern = format!("{}/*.log", logs.display());
    let args = ["--service", "api", "--from-beginning", pattern.as_str()];
    let mut want = Vec::new();
    let mut i = 0;
    let mut child = ship(&fake.url(), &spool, &stderr, &args).spawn().unwrap();
    for round in 0..5 {
        // Pharos fails for part of the time, so the spool holds a backlog when killed.
        fake.set_status(if round % 2 == 1 { 503 } else { 0 });
        for _ in 0..200 {
            log.write(&log_line(i));
            want.push(log_line(i));
            i += 1;
            if i % 20 == 0 {
                std::thread::sleep(Duration::from_millis(20 + (i as u64 * 7) % 30));
            }
        }
        if round == 2 {
            log.rotate_rename();
        }
        // SIGKILL: no chance to clean up.
        child.kill().unwrap();
        child.wait().unwrap();
        child = ship(&fake.url(), &spool, &stderr, &args).spawn().unwrap();
    }
    fake.set_status(0);
    fake.wait_for_lines(want.len(), Duration::from_secs(40));
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let _ = child.wait();
    eprintln!(
        "pharos ship's stderr:\n{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    // A batch Pharos took in the instant before a kill, before its delivery was recorded
    // (a rename), is sent again by the next run: duplicates are possible, rare, and
    // reported here; losses and reordering are not allowed.
    let got = fake.lines();
    let mut seen = std::collections::HashSet::new();
    let first_occurrences: Vec<String> = got.iter().filter(|l| seen.insert(*l)).cloned().collect();
    if got.len() != want.len() {
        eprintln!(
            "{} entries delivered twice (sent just before a kill)",
            got.len() - want.len()
        );
    }
    assert_exactly_once_in_order(&first_occurrences, &want);
}

#[test]
fn ship_a_refused_batch_does_not_block_the_rest() {
    let fake = FakeLoki::new();
    fake.up();
    let dir = temp_dir("refused");
    let stderr = dir.join("stderr");
    let mut child = ship(
        &fake.url(),
        &dir.join("spool"),
        &stderr,
        &["--service", "bot"],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let mut input = String::new();
    let mut want = Vec::new();
    for i in 0..100 {
        let line = if i == 37 {
            "2024-05-01 12:00:00,000 INFO bot: POISON secret=hunter2".to_string()
        } else {
            let l = log_line(i);
            want.push(l.clone());
            l
        };
        input.push_str(&line);
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(20));
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "exit {status}; stderr:\n{log}");
    assert_exactly_once_in_order(&fake.lines(), &want);
    assert!(log.contains("refused an entry"), "{log}");
    assert!(
        !log.contains("hunter2"),
        "the refused line's content is not logged: {log}"
    );
}
