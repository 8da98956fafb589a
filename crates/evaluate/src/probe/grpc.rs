//! gRPC health checks: one `grpc.health.v1.Health/Check` call over HTTP/2 (in the clear by
//! default, or TLS), up when the server answers SERVING for the service asked about.
//!
//! The two messages are one field each (`HealthCheckRequest.service = 1`,
//! `HealthCheckResponse.status = 1`), so they are written and read here by hand rather than
//! through generated code.

use std::time::Instant;

use chrono::Utc;
use http_body_util::BodyExt;
use pharos_model::monitor::GrpcCheck;
use pharos_model::{MonitorId, Outcome, ProbeResult};
use reqwest::Client;

use super::down;
use super::http::describe_request_error;

/// The method every health-checking server implements.
pub const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// `HealthCheckResponse.ServingStatus`.
fn serving_status_name(status: u64) -> &'static str {
    match status {
        0 => "UNKNOWN",
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "an unknown status",
    }
}

/// The names of gRPC status codes, for error messages.
fn grpc_status_name(code: u32) -> &'static str {
    match code {
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        16 => "UNAUTHENTICATED",
        _ => "an error",
    }
}

pub async fn probe_grpc(monitor: &MonitorId, check: &GrpcCheck) -> ProbeResult {
    let at = Utc::now();
    let started = Instant::now();
    let timeout = check.timeout.as_duration();
    let what = match check.service.as_str() {
        "" => format!("gRPC health of {}", check.address),
        s => format!("gRPC health of {s} at {}", check.address),
    };
    let outcome = tokio::time::timeout(timeout, call(check)).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(Ok(())) => ProbeResult {
            monitor: monitor.clone(),
            at,
            outcome: Outcome::Up,
            latency_ms: Some(latency_ms),
            status_code: None,
            error: None,
            tls_days_left: None,
            numbers: Vec::new(),
        },
        Ok(Err(Failure::NoAnswer(e))) => down(at, monitor, None, None, format!("{what}: {e}")),
        Ok(Err(Failure::Answered(e))) => {
            down(at, monitor, Some(latency_ms), None, format!("{what}: {e}"))
        }
        Err(_) => down(
            at,
            monitor,
            Some(timeout.as_secs_f64() * 1000.0),
            None,
            format!("{what}: no answer within {}", check.timeout),
        ),
    }
}

/// Why a check failed: before any answer (no latency to record), or by what was answered.
enum Failure {
    NoAnswer(String),
    Answered(String),
}

/// `HealthCheckRequest { service }` in a gRPC message frame (not compressed).
pub fn request_frame(service: &str) -> Vec<u8> {
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0A); // field 1, length-delimited
        let mut len = service.len();
        while len >= 0x80 {
            message.push((len as u8) | 0x80);
            len >>= 7;
        }
        message.push(len as u8);
        message.extend_from_slice(service.as_bytes());
    }
    let mut frame = vec![0];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend(message);
    frame
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The `status` of a `HealthCheckResponse` frame (0, UNKNOWN, when absent, as protobuf
/// defaults); `None` when the frame is not one.
pub fn response_status(frame: &[u8]) -> Option<u64> {
    let (&compressed, rest) = frame.split_first()?;
    if compressed != 0 || rest.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let message = rest.get(4..4 + len)?;
    let mut pos = 0;
    let mut status = 0;
    while pos < message.len() {
        let key = read_varint(message, &mut pos)?;
        match key & 7 {
            0 => {
                let v = read_varint(message, &mut pos)?;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            1 => pos += 8,
            2 => pos += usize::try_from(read_varint(message, &mut pos)?).ok()?,
            5 => pos += 4,
            _ => return None,
        }
    }
    (pos == message.len()).then_some(status)
}

async fn call(check: &GrpcCheck) -> Result<(), Failure> {
    let client = Client::builder()
        .http2_prior_knowledge()
        .user_agent(format!(
            "Pharos/{} (grpc health check)",
            env!("CARGO_PKG_VERSION")
        ))
        .tls_danger_accept_invalid_certs(check.tls_skip_verify)
        .no_proxy()
        .build()
        .map_err(|e| Failure::NoAnswer(describe_request_error(&e)))?;
    let scheme = if check.tls { "https" } else { "http" };
    let response = client
        .post(format!("{scheme}://{}{HEALTH_CHECK_PATH}", check.address))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header(
            "grpc-timeout",
            format!(
                "{}m",
                check.timeout.as_duration().as_millis().min(99_999_999)
            ),
        )
        .body(request_frame(&check.service))
        .send()
        .await
        .map_err(|e| {
            let mut why = describe_request_error(&e);
            if !e.is_connect() && !e.is_timeout() {
                why.push_str(if check.tls {
                    " (does the server speak gRPC over TLS?)"
                } else {
                    " (does the server speak gRPC without TLS? set `tls: true` if it needs TLS)"
                });
            }
            Failure::NoAnswer(why)
        })?;
    let answered = Failure::Answered;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if status != reqwest::StatusCode::OK || !content_type.starts_with("application/grpc") {
        return Err(answered(format!(
            "answered HTTP {} with content-type {content_type:?}: not a gRPC server",
            status.as_u16()
        )));
    }
    let (parts, mut body) = http::Response::from(response).into_parts();
    let mut data = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            answered(format!(
                "reading the answer: {}",
                describe_request_error(&e)
            ))
        })?;
        match frame.into_data() {
            Ok(bytes) => data.extend_from_slice(&bytes),
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
        if data.len() > 64 * 1024 {
            return Err(answered("answer larger than 64 KiB".into()));
        }
    }
    // A failed call may come as headers alone ("trailers-only").
    let meta = trailers
        .as_ref()
        .filter(|t| t.contains_key("grpc-status"))
        .unwrap_or(&parts.headers);
    let code: Option<u32> = meta
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    match code {
        Some(0) => {}
        Some(code) => {
            let message = meta
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .map(|m| format!(": {}", percent_decode(m)))
                .unwrap_or_default();
            let hint = match code {
                5 => " (the server does not know this service)",
                12 => " (the server does not implement grpc.health.v1.Health)",
                _ => "",
            };
            return Err(answered(format!(
                "grpc-status {code} {}{hint}{message}",
                grpc_status_name(code)
            )));
        }
        None => return Err(answered("the answer has no grpc-status".into())),
    }
    match response_status(&data) {
        Some(1) => Ok(()),
        Some(other) => Err(answered(format!(
            "the server answered {}",
            serving_status_name(other)
        ))),
        None => Err(answered("the answer is not a HealthCheckResponse".into())),
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2, "Responses").
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok();
        match (bytes[i], hex()) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_what_grpc_health_probe_sends_and_reads() {
        assert_eq!(request_frame(""), [0, 0, 0, 0, 0]);
        assert_eq!(
            request_frame("users"),
            [0, 0, 0, 0, 7, 0x0A, 5, b'u', b's', b'e', b'r', b's']
        );
        let long = "s".repeat(200);
        assert_eq!(&request_frame(&long)[5..8], &[0x0A, 0xC8, 0x01]);
        assert_eq!(response_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(response_status(&[0, 0, 0, 0, 0]), Some(0));
        // An unknown field before the status is skipped.
        assert_eq!(
            response_status(&[0, 0, 0, 0, 5, 0x12, 1, b'x', 0x08, 2]),
            Some(2)
        );
        assert_eq!(response_status(&[1, 0, 0, 0, 2, 0x08, 1]), None);
        assert_eq!(response_status(&[0, 0, 0, 0, 9, 0x08]), None);
        assert_eq!(percent_decode("no%20such%20service"), "no such service");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
