//! Connection limits and timeouts through the real binary: a half-sent request line, an
//! idle kept-alive connection and a body trickled forever are cut; 2,000 idle connections
//! neither starve `/health/live` nor stay open; connections beyond the cap wait while
//! the others are served; a live tail outlives every timeout; idle syslog connections and
//! TLS handshakes that never finish are closed, and syslog connections beyond the cap wait;
//! a stop does not wait for connections with no request in flight.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Pharos, TOKEN, client, free_port, tempdir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long `stream` stays open, reading (and discarding) whatever the server sends, up
/// to `limit`; `None` if it was still open then.
async fn open_for(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Reads one whole HTTP/1.1 response with a `Content-Length`; returns its head.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(n > 0, "closed before the response ended: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return head.to_string();
            }
        }
    }
}

const HEALTH: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: pharos\r\n\r\n";

fn raise_own_open_files_limit() {
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

fn web_connections(settings: &str) -> String {
    format!("web:\n  connections:\n{settings}")
}

#[tokio::test]
async fn half_sent_request_line_is_closed_after_the_header_timeout() {
    let dir = tempdir("conn-header");
    let p = Pharos::start(
        &dir,
        Some(&web_connections(
            "    header_timeout: 1s\n    idle_timeout: 30s\n",
        )),
    )
    .await;
    let mut slow = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let open = open_for(&mut slow, Duration::from_secs(6)).await;
    let open = open.expect("a half-sent request is cut after header_timeout");
    assert!(
        open >= Duration::from_millis(800),
        "cut before its time: {open:?}"
    );
    // A connection that never sends a byte gets the same time for its first request.
    let mut silent = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    assert!(
        open_for(&mut silent, Duration::from_secs(6))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn kept_alive_connection_is_closed_after_the_idle_timeout() {
    let dir = tempdir("conn-idle");
    let p = Pharos::start(
        &dir,
        Some(&web_connections(
            "    header_timeout: 1s\n    idle_timeout: 3s\n",
        )),
    )
    .await;
    let mut kept = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    kept.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than header_timeout: the idle timeout is the one that counts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    kept.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
    let open = open_for(&mut kept, Duration::from_secs(8))
        .await
        .expect("an idle kept-alive connection is closed after idle_timeout");
    assert!(
        open >= Duration::from_millis(2500),
        "cut before its time: {open:?}"
    );
}

#[tokio::test]
async fn request_body_trickled_forever_is_cut() {
    let dir = tempdir("conn-body");
    let p = Pharos::start(
        &dir,
        Some(&web_connections(
            "    header_timeout: 1s\n    body_timeout: 2s\n",
        )),
    )
    .await;
    let mut slow = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    slow.write_all(
        format!(
            "POST /api/v1/logs?service=slow HTTP/1.1\r\nHost: pharos\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let start = Instant::now();
    let mut answered = String::new();
    let mut buf = [0u8; 4096];
    // A byte every 200 ms: never idle for long, never done.
    while start.elapsed() < Duration::from_secs(10) {
        if slow.write_all(b"x").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answered.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let cut = start.elapsed();
    assert!(
        cut < Duration::from_secs(6),
        "the trickle went on for {cut:?}"
    );
    assert!(cut >= Duration::from_millis(1500), "cut before its time");
    assert!(
        answered.is_empty() || answered.starts_with("HTTP/1.1 408"),
        "{answered}"
    );
}

#[tokio::test]
async fn two_thousand_idle_connections_neither_starve_health_nor_stay_open() {
    raise_own_open_files_limit();
    let dir = tempdir("conn-many");
    let p = Pharos::start(
        &dir,
        Some(&web_connections(
            "    header_timeout: 3s\n    idle_timeout: 3s\n",
        )),
    )
    .await;
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        idle.push(TcpStream::connect(("127.0.0.1", p.port)).await.unwrap());
    }
    let asked = Instant::now();
    let r = client()
        .get(format!("{}/health/live", p.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "/health/live took {:?} beside 2,000 idle connections",
        asked.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, stream) in idle.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            open_for(stream, left).await.is_some(),
            "idle connection {i} still open 10 s after the 3 s timeouts"
        );
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_while_the_others_are_served() {
    let dir = tempdir("conn-cap");
    let p = Pharos::start(
        &dir,
        Some(&web_connections(
            "    max: 2\n    header_timeout: 30s\n    idle_timeout: 30s\n",
        )),
    )
    .await;
    // The readiness probe's connection may still be open: let it go.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut first = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    first.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));
    let mut second = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    second.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut second).await.starts_with("HTTP/1.1 200"));

    let mut third = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    third.write_all(HEALTH).await.unwrap();
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_secs(1), third.read(&mut buf))
            .await
            .is_err(),
        "a third connection was served beyond the cap of 2"
    );
    // The two within the cap keep being served.
    first.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));
    // One closes: the waiting one is served.
    drop(second);
    assert!(read_response(&mut third).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn live_tail_outlives_the_idle_and_body_timeouts() {
    let dir = tempdir("conn-tail");
    let p = Pharos::start(
        &dir,
        Some(&web_connections(
            "    header_timeout: 1s\n    idle_timeout: 1s\n    body_timeout: 1s\n",
        )),
    )
    .await;
    let mut tail = client()
        .get(format!("{}/api/v1/logs/tail", p.url))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert!(tail.status().is_success());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent = client()
        .post(format!("{}/api/v1/logs?service=tailtest", p.url))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("still tailing after the timeouts")
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.status());
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = tail.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("still tailing after the timeouts") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "tail saw: {seen}");
}

fn self_signed() -> (String, String) {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    (key.cert.pem(), key.signing_key.serialize_pem())
}

#[tokio::test]
async fn idle_syslog_connections_are_closed_and_stalled_tls_handshakes_cut() {
    let dir = tempdir("conn-syslog");
    let (cert, key) = self_signed();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    let (tcp_port, tls_port) = (free_port(), free_port());
    let config = format!(
        "logs:\n  syslog:\n    tcp: 127.0.0.1:{tcp_port}\n    idle_timeout: 2s\n    tls_handshake_timeout: 1s\n    tls:\n      listen: 127.0.0.1:{tls_port}\n      cert_file: {}\n      key_file: {}\n",
        dir.join("cert.pem").display(),
        dir.join("key.pem").display()
    );
    let p = Pharos::start(&dir, Some(&config)).await;

    // One that talks every 500 ms stays; one that said one thing and went quiet goes.
    let mut quiet = TcpStream::connect(("127.0.0.1", tcp_port)).await.unwrap();
    quiet
        .write_all(b"<14>1 2024-05-01T10:00:00Z web-1 billing 42 - - said once\n")
        .await
        .unwrap();
    let mut chatty = TcpStream::connect(("127.0.0.1", tcp_port)).await.unwrap();
    let started = Instant::now();
    let talking = tokio::spawn(async move {
        for i in 0..10 {
            let line = format!("<14>1 2024-05-01T10:00:00Z web-1 billing 42 - - line {i}\n");
            chatty.write_all(line.as_bytes()).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok::<_, std::io::Error>(())
    });
    let open = open_for(&mut quiet, Duration::from_secs(8))
        .await
        .expect("an idle syslog connection is closed after idle_timeout");
    assert!(
        open >= Duration::from_millis(1500),
        "cut before its time: {open:?}"
    );
    talking
        .await
        .unwrap()
        .expect("a syslog connection that keeps talking stays open");
    assert!(started.elapsed() >= Duration::from_secs(4));

    // A TLS client that never finishes its handshake: the ClientHello never comes.
    let mut stalled = TcpStream::connect(("127.0.0.1", tls_port)).await.unwrap();
    let open = open_for(&mut stalled, Duration::from_secs(6))
        .await
        .expect("a TLS handshake that never finishes is cut");
    assert!(
        open < Duration::from_secs(2),
        "handshake cut after {open:?}"
    );

    // The listener still takes a client that does finish.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let cert_pem = std::fs::read(dir.join("cert.pem")).unwrap();
    for c in rustls_pemfile_certs(&cert_pem) {
        roots.add(c).unwrap();
    }
    let tls_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
    let stream = TcpStream::connect(("127.0.0.1", tls_port)).await.unwrap();
    let mut tls = connector
        .connect("localhost".try_into().unwrap(), stream)
        .await
        .expect("a prompt TLS client is served");
    tls.write_all(b"<14>1 2024-05-01T10:00:00Z web-1 secure 42 - - over tls\n")
        .await
        .unwrap();
    tls.shutdown().await.unwrap();
    drop(p);
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[tokio::test]
async fn syslog_connections_beyond_the_cap_wait_for_a_free_slot() {
    let dir = tempdir("conn-syslog-cap");
    let tcp_port = free_port();
    let config = format!(
        "logs:\n  syslog:\n    tcp: 127.0.0.1:{tcp_port}\n    max_connections: 1\n    idle_timeout: 30s\n"
    );
    let p = Pharos::start(&dir, Some(&config)).await;
    let stored = async |phrase: &str| {
        let v = p
            .get(&format!(
                "/api/v1/logs?since=24h&q={}",
                common::url_escape(&format!("\"{phrase}\""))
            ))
            .await;
        v["entries"].as_array().map_or(0, |e| e.len())
    };
    let mut holder = TcpStream::connect(("127.0.0.1", tcp_port)).await.unwrap();
    holder
        .write_all(b"<14>1 - web-1 billing 42 - - holder speaks\n")
        .await
        .unwrap();
    p.wait_until(Duration::from_secs(15), "the holder's line", async || {
        stored("holder speaks").await == 1
    })
    .await;
    let mut waiting = TcpStream::connect(("127.0.0.1", tcp_port)).await.unwrap();
    waiting
        .write_all(b"<14>1 - web-1 billing 42 - - waiter speaks\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stored("waiter speaks").await,
        0,
        "a second connection was read beyond max_connections: 1"
    );
    drop(holder);
    p.wait_until(Duration::from_secs(15), "the waiter's line", async || {
        stored("waiter speaks").await == 1
    })
    .await;
}

#[tokio::test]
async fn sigterm_does_not_wait_for_idle_connections() {
    let dir = tempdir("conn-sigterm");
    let mut p = Pharos::start(&dir, None).await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(("127.0.0.1", p.port)).await.unwrap());
    }
    let mut kept = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
    kept.write_all(HEALTH).await.unwrap();
    assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    p.signal(libc::SIGTERM);
    let status = p
        .wait_exit(Duration::from_secs(8))
        .await
        .expect("pharos exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "stopping took {:?}: it waited for connections with no request in flight",
        asked.elapsed()
    );
}
