//! Probes: one check of one monitor, turned into a [`ProbeResult`]. A probe never panics
//! and never hangs past its timeout: every failure becomes a down result with the reason.

mod dns;
mod domain;
mod grpc;
mod http;
mod icmp;
mod tcp;

pub use dns::probe_dns;
pub use domain::{DAYS_LEFT, probe_domain};
pub use grpc::probe_grpc;
pub use http::HttpProber;
pub use icmp::probe_icmp;
pub use tcp::probe_tcp;

use chrono::{DateTime, Utc};
use pharos_model::{MonitorId, Outcome, ProbeResult};

/// A failed check at `at`.
pub(crate) fn down(
    at: DateTime<Utc>,
    monitor: &MonitorId,
    latency_ms: Option<f64>,
    status_code: Option<u16>,
    error: String,
) -> ProbeResult {
    ProbeResult {
        monitor: monitor.clone(),
        at,
        outcome: Outcome::Down,
        latency_ms,
        status_code,
        error: Some(error),
        tls_days_left: None,
        numbers: Vec::new(),
    }
}
