//! TCP checks: a connection that opens within the timeout is up.

use std::time::Instant;

use chrono::Utc;
use pharos_model::monitor::TcpCheck;
use pharos_model::{MonitorId, Outcome, ProbeResult};

use super::down;

pub async fn probe_tcp(monitor: &MonitorId, check: &TcpCheck) -> ProbeResult {
    let at = Utc::now();
    let started = Instant::now();
    let timeout = check.timeout.as_duration();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&check.address)).await {
        Ok(Ok(_stream)) => ProbeResult {
            monitor: monitor.clone(),
            at,
            outcome: Outcome::Up,
            latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            status_code: None,
            error: None,
            tls_days_left: None,
            numbers: Vec::new(),
        },
        Ok(Err(e)) => down(
            at,
            monitor,
            None,
            None,
            format!("connect to {}: {e}", check.address),
        ),
        Err(_) => down(
            at,
            monitor,
            None,
            None,
            format!(
                "connect to {}: timed out after {}",
                check.address, check.timeout
            ),
        ),
    }
}
