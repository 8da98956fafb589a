//! What one check of a monitor found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::monitor::MonitorId;

/// The verdict of one check. Degraded counts as up for uptime, but is shown and alerted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Up,
    Degraded,
    Down,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "up",
            Outcome::Degraded => "degraded",
            Outcome::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "up" => Some(Outcome::Up),
            "degraded" => Some(Outcome::Degraded),
            "down" => Some(Outcome::Down),
            _ => None,
        }
    }

    pub fn is_up(self) -> bool {
        self != Outcome::Down
    }
}

/// One stored check result: a probe (http, tcp, dns, grpc, domain, icmp), or a heartbeat
/// ping (or its absence).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub monitor: MonitorId,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    /// Time to the full answer; none for heartbeats.
    pub latency_ms: Option<f64>,
    pub status_code: Option<u16>,
    /// Why the check failed or is degraded, in words a person can act on.
    pub error: Option<String>,
    /// Days until the TLS certificate expires, for https checks.
    pub tls_days_left: Option<i64>,
    /// Numbers from a JSON body, by field path, recorded as series (a domain check's
    /// `days_left` too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<(String, f64)>,
}

/// What a heartbeat ping says (healthchecks.io's URL scheme).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PingKind {
    /// `/ping/<token>`: the job ran and succeeded.
    Success,
    /// `/ping/<token>/start`: the job started; it must finish within the grace time.
    Start,
    /// `/ping/<token>/fail`: the job failed.
    Fail,
    /// `/ping/<token>/<exit-code>`: 0 is success, anything else a failure.
    ExitCode(u8),
}
