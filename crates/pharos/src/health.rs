//! `pharos health`: asks a running Pharos whether it is alive (`/health/live`) or ready
//! (`/health/ready`) and exits 0 or 1. It is the container image's `HEALTHCHECK`, where
//! no curl is installed, and a probe for scripts that wait for a fresh start.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pharos_model::HumanDuration;

#[derive(Parser, Debug)]
pub struct HealthArgs {
    /// Pharos's address. Default: `PHAROS_LISTEN` (what `pharos serve` listens on, an
    /// unspecified address such as 0.0.0.0 asked on loopback), else http://127.0.0.1:9800.
    #[arg(long, env = "PHAROS_URL")]
    url: Option<String>,
    /// Ask `/health/ready` (storage writable, disk free, stores writing) instead of
    /// `/health/live` (the process answers).
    #[arg(long)]
    ready: bool,
    /// How long to wait for the answer.
    #[arg(long, default_value = "5s")]
    timeout: HumanDuration,
}

pub fn main(args: HealthArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pharos health: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = args
        .url
        .unwrap_or_else(|| base_from_listen(std::env::var("PHAROS_LISTEN").ok().as_deref()));
    let url = health_url(&base, args.ready);
    match runtime.block_on(check(&url, args.timeout.as_duration())) {
        Ok(()) => {
            println!("{url}: 200 OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pharos health: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The URL of a Pharos listening on `listen` (`PHAROS_LISTEN`) from this machine.
fn base_from_listen(listen: Option<&str>) -> String {
    let Some(Ok(mut addr)) = listen.map(str::parse::<std::net::SocketAddr>) else {
        return "http://127.0.0.1:9800".into();
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{addr}")
}

fn health_url(base: &str, ready: bool) -> String {
    let path = if ready { "health/ready" } else { "health/live" };
    format!("{}/{path}", base.trim_end_matches('/'))
}

/// Ok when the page answers 200 within `timeout`; the reason otherwise.
async fn check(url: &str, timeout: Duration) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let resp = client.get(url).send().await.map_err(|e| {
        if e.is_timeout() {
            format!("no answer within {timeout:?}")
        } else {
            format!("{e}")
        }
    })?;
    let status = resp.status();
    if status == reqwest::StatusCode::OK {
        return Ok(());
    }
    // The body names the failing check (`{"status":"degraded", ...}`); a bounded piece of it.
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    Err(format!("{status}: {}", body.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-request HTTP server on loopback answering `status`; returns its base URL and
    /// the request line it got.
    fn one_answer(status: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = r#"{"status":"degraded"}"#;
            write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            request.lines().next().unwrap_or_default().to_string()
        });
        (url, handle)
    }

    fn run(url: &str) -> Result<(), String> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(check(url, Duration::from_secs(5)))
    }

    #[test]
    fn live_answering_200_is_healthy() {
        let (base, server) = one_answer("200 OK");
        assert_eq!(run(&health_url(&format!("{base}/"), false)), Ok(()));
        assert_eq!(server.join().unwrap(), "GET /health/live HTTP/1.1");
    }

    #[test]
    fn ready_answering_503_is_unhealthy_with_the_body() {
        let (base, server) = one_answer("503 Service Unavailable");
        let err = run(&health_url(&base, true)).unwrap_err();
        assert!(err.contains("503") && err.contains("degraded"), "{err}");
        assert_eq!(server.join().unwrap(), "GET /health/ready HTTP/1.1");
    }

    #[test]
    fn the_default_address_follows_pharos_listen() {
        assert_eq!(base_from_listen(None), "http://127.0.0.1:9800");
        assert_eq!(
            base_from_listen(Some("not an address")),
            "http://127.0.0.1:9800"
        );
        assert_eq!(
            base_from_listen(Some("0.0.0.0:9900")),
            "http://127.0.0.1:9900"
        );
        assert_eq!(base_from_listen(Some("[::]:9800")), "http://[::1]:9800");
        assert_eq!(base_from_listen(Some("10.1.2.3:80")), "http://10.1.2.3:80");
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(run(&format!("http://127.0.0.1:{port}/health/live")).is_err());
    }
}
