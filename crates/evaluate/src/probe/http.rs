//! HTTP checks: status codes, keywords, JSON assertions, response time and TLS expiry.
//!
//! The body is read up to [`BODY_LIMIT`]; a larger or endless body is cut there (the check
//! goes on with what was read) and the whole check is bounded by the monitor's timeout.
//!
//! A check with a `proxy_url` or a client certificate gets a client of its own at every
//! check (its PEM files read again, so a renewed certificate is used); the others share
//! four pooled clients.

use std::time::Instant;

use chrono::Utc;
use futures_util::StreamExt;
use pharos_model::assertion::numbers_in;
use pharos_model::monitor::HttpCheck;
use pharos_model::{MonitorId, Outcome, ProbeResult};
use reqwest::{Client, ClientBuilder, Method, redirect};

use super::down;

/// How much of a body is read for keywords and JSON assertions.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Shared HTTP clients (connection pools), one per combination of redirect and TLS policy.
pub struct HttpProber {
    clients: [Client; 4],
}

fn user_agent() -> String {
    format!("Pharos/{} (uptime monitor)", env!("CARGO_PKG_VERSION"))
}

/// The settings every probe client shares: redirects and certificate checks as the
/// monitor says, certificate details kept for the expiry check, no proxy from the
/// environment.
fn client_builder(follow: bool, insecure: bool) -> ClientBuilder {
    Client::builder()
        .user_agent(user_agent())
        .redirect(if follow {
            redirect::Policy::limited(10)
        } else {
            redirect::Policy::none()
        })
        .tls_danger_accept_invalid_certs(insecure)
        .tls_info(true)
        .no_proxy()
        .pool_idle_timeout(std::time::Duration::from_secs(90))
}

/// A client for a check with a proxy or a client certificate; the reason in words when
/// one cannot be made (an unreadable key file, a proxy URL reqwest refuses).
async fn dedicated_client(check: &HttpCheck) -> Result<Client, String> {
    let mut builder = client_builder(check.follow_redirects, check.tls_skip_verify);
    if let Some(proxy) = &check.proxy_url {
        let proxy = reqwest::Proxy::all(proxy.as_str())
            .map_err(|e| format!("http.proxy_url: {}", describe_request_error(&e)))?;
        builder = builder.proxy(proxy);
    }
    if let (Some(cert_path), Some(key_path)) = (&check.tls_client_cert, &check.tls_client_key) {
        let read = |field: &'static str, path: std::path::PathBuf| async move {
            tokio::fs::read(&path)
                .await
                .map_err(|e| format!("{field}: cannot read {}: {e}", path.display()))
        };
        let mut pem = read("tls_client_key", key_path.clone()).await?;
        pem.push(b'\n');
        pem.extend(read("tls_client_cert", cert_path.clone()).await?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            format!(
                "tls_client_cert {} / tls_client_key {}: not a PEM certificate and private key ({})",
                cert_path.display(),
                key_path.display(),
                describe_request_error(&e)
            )
        })?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| {
        format!(
            "cannot set up the HTTP client: {}",
            describe_request_error(&e)
        )
    })
}

impl HttpProber {
    pub fn new() -> Result<HttpProber, reqwest::Error> {
        let build = |follow: bool, insecure: bool| client_builder(follow, insecure).build();
        Ok(HttpProber {
            clients: [
                build(true, false)?,
                build(false, false)?,
                build(true, true)?,
                build(false, true)?,
            ],
        })
    }

    /// The pooled client that follows redirects and checks certificates, for RDAP.
    pub fn rdap_client(&self) -> &Client {
        &self.clients[0]
    }

    fn client(&self, check: &HttpCheck) -> &Client {
        let i = usize::from(!check.follow_redirects) + 2 * usize::from(check.tls_skip_verify);
        &self.clients[i]
    }

    pub async fn probe(&self, monitor: &MonitorId, check: &HttpCheck) -> ProbeResult {
        let at = Utc::now();
        let timeout = check.timeout.as_duration();
        match tokio::time::timeout(timeout, self.run(monitor, check)).await {
            Ok(result) => ProbeResult { at, ..result },
            Err(_) => down(
                at,
                monitor,
                Some(timeout.as_secs_f64() * 1000.0),
                None,
                format!("timed out after {}", check.timeout),
            ),
        }
    }

    async fn run(&self, monitor: &MonitorId, check: &HttpCheck) -> ProbeResult {
        let started = Instant::now();
        let method = Method::from_bytes(check.method.as_bytes()).unwrap_or(Method::GET);
        let own_client;
        let client = if check.proxy_url.is_some() || check.tls_client_cert.is_some() {
            own_client = match dedicated_client(check).await {
                Ok(c) => c,
                Err(e) => return down(Utc::now(), monitor, None, None, e),
            };
            &own_client
        } else {
            self.client(check)
        };
        let mut request = client.request(method.clone(), check.url.clone());
        for (name, value) in &check.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &check.body {
            request = request.body(body.clone());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let why = describe_request_error(&e);
                let why = match &check.proxy_url {
                    Some(p) if e.is_connect() => format!(
                        "through proxy {}:{}: {why}",
                        p.host_str().unwrap_or_default(),
                        p.port_or_known_default().unwrap_or(0)
                    ),
                    _ => why,
                };
                return down(Utc::now(), monitor, None, None, why);
            }
        };
        let status = response.status().as_u16();
        let tls_days_left = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .and_then(certificate_days_left);

        let mut body = Vec::new();
        let mut truncated = false;
        if method != Method::HEAD {
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => {
                        let room = BODY_LIMIT - body.len();
                        body.extend_from_slice(&bytes[..bytes.len().min(room)]);
                        if bytes.len() > room {
                            truncated = true;
                            break;
                        }
                    }
                    Err(e) => {
                        let latency = started.elapsed().as_secs_f64() * 1000.0;
                        return down(
                            Utc::now(),
                            monitor,
                            Some(latency),
                            Some(status),
                            format!("reading the body: {}", describe_request_error(&e)),
                        );
                    }
                }
            }
        }
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let fail = |error: String| ProbeResult {
            tls_days_left,
            ..down(Utc::now(), monitor, Some(latency_ms), Some(status), error)
        };

        if !check.expected_status.iter().any(|r| r.contains(status)) {
            let expected: Vec<String> = check
                .expected_status
                .iter()
                .map(|r| r.to_string())
                .collect();
            return fail(format!("status {status}, expected {}", expected.join(", ")));
        }
        let text = String::from_utf8_lossy(&body);
        if let Some(keyword) = &check.keyword
            && !text.contains(keyword.as_str())
        {
            let limit_note = if truncated {
                " (in the first 1 MiB of the body)"
            } else {
                ""
            };
            return fail(format!("keyword {keyword:?} not found{limit_note}"));
        }
        if let Some(keyword) = &check.keyword_absent
            && text.contains(keyword.as_str())
        {
            return fail(format!("keyword {keyword:?} found, it must not appear"));
        }
        let mut numbers = Vec::new();
        if !check.json_assertions.is_empty() || !check.record_numbers.is_empty() {
            let json: serde_json::Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) if !check.json_assertions.is_empty() => {
                    let why = if truncated {
                        "body larger than 1 MiB".to_string()
                    } else {
                        e.to_string()
                    };
                    return fail(format!("body is not valid JSON: {why}"));
                }
                Err(_) => serde_json::Value::Null,
            };
            for assertion in &check.json_assertions {
                if let Err(why) = assertion.check(&json) {
                    return fail(format!("assertion failed: {why}"));
                }
            }
            let all = check.record_numbers.iter().any(|f| f == "*");
            numbers = numbers_in(&json)
                .into_iter()
                .filter(|(path, _)| all || check.record_numbers.contains(path))
                .collect();
        }

        let mut outcome = Outcome::Up;
        let mut error = None;
        if let Some(threshold) = check.degraded_after
            && latency_ms > threshold.as_duration().as_secs_f64() * 1000.0
        {
            outcome = Outcome::Degraded;
            error = Some(format!(
                "slow: answered in {latency_ms:.0} ms, threshold {threshold}"
            ));
        }
        if let Some(days) = tls_days_left {
            if days < 0 {
                return fail(format!("TLS certificate expired {} days ago", -days));
            }
            if check.tls_expiry_warning_days > 0 && days < i64::from(check.tls_expiry_warning_days)
            {
                outcome = Outcome::Degraded;
                error = Some(format!(
                    "TLS certificate expires in {days} days (warning at {} days)",
                    check.tls_expiry_warning_days
                ));
            }
        }
        ProbeResult {
            monitor: monitor.clone(),
            at: Utc::now(),
            outcome,
            latency_ms: Some(latency_ms),
            status_code: Some(status),
            error,
            tls_days_left,
            numbers,
        }
    }
}

/// Whole days from now until the certificate's notAfter (negative once expired).
fn certificate_days_left(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    Some((not_after - Utc::now().timestamp()).div_euclid(86_400))
}

/// reqwest's errors nest the cause (DNS, refused, TLS); people need the innermost words.
pub(crate) fn describe_request_error(e: &reqwest::Error) -> String {
    let mut parts = vec![if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    }];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
