//! Service level objectives: an objective (99.5 %) over a rolling window (30 d) on an
//! indicator — a monitor's checks, a ratio of error to total events from two counters, the
//! share of requests of a latency histogram over a threshold, or an error-tracking
//! project's crash-free sessions. An SLO is written in
//! `pharos.yaml` under `slos:`; everything else (recording and burn-rate alerting rules,
//! the budget on its page) is derived from the error ratio it defines here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::HumanDuration;

/// The windows whose error ratios are recorded: the SRE workbook's multi-window,
/// multi-burn-rate alerts read them.
pub const BURN_WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The recorded error ratio of an SLO over one of [`BURN_WINDOWS`]:
/// `pharos_slo:error_ratio:rate1h{slo="…"}`.
pub fn recorded_ratio(window: &str) -> String {
    format!("pharos_slo:error_ratio:rate{window}")
}

/// One tier of burn-rate alerts (the SRE workbook's table): fire when both windows burn the
/// budget `factor` times faster than the objective allows.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BurnTier {
    pub long: &'static str,
    pub short: &'static str,
    pub factor: f64,
    /// `page` tiers raise `SLOBurnRateFast` (critical), `ticket` tiers `SLOBurnRateSlow`.
    pub page: bool,
}

pub const BURN_TIERS: [BurnTier; 4] = [
    BurnTier {
        long: "1h",
        short: "5m",
        factor: 14.4,
        page: true,
    },
    BurnTier {
        long: "6h",
        short: "30m",
        factor: 6.0,
        page: true,
    },
    BurnTier {
        long: "1d",
        short: "2h",
        factor: 3.0,
        page: false,
    },
    BurnTier {
        long: "3d",
        short: "6h",
        factor: 1.0,
        page: false,
    },
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Letters, digits, `-` and `_`: the `slo` label of its series and alerts.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The share of good events promised, in percent (`99.5`).
    pub objective: f64,
    /// The rolling window the objective holds over (default 30 d).
    #[serde(default = "default_window")]
    pub window: HumanDuration,
    pub indicator: Indicator,
    /// Added to its alerts (`team: bot`), for routing.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_window() -> HumanDuration {
    HumanDuration::from_secs(30 * 86_400)
}

/// What counts as an error, as one of three shapes (written as a map with one key:
/// `monitor:`, `ratio:` or `latency:`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "RawIndicator")]
pub enum Indicator {
    /// A monitor's checks (by id): a failed check is an error.
    Monitor(String),
    /// Two counters, as series selectors: `errors: http_requests_total{job="bot",code=~"5.."}`,
    /// `total: http_requests_total{job="bot"}`.
    Ratio { errors: String, total: String },
    /// A histogram's `_bucket` series (selector without `le`) and a threshold in its unit
    /// that is one of its bucket bounds: a request slower than it is an error.
    Latency { histogram: String, threshold: f64 },
    /// An error-tracking project's release-health sessions (by project name): a session
    /// that crashed or ended abnormally is an error, so the SLI is the crash-free rate.
    Sessions(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndicator {
    monitor: Option<String>,
    ratio: Option<RawRatio>,
    latency: Option<RawLatency>,
    sessions: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRatio {
    errors: String,
    total: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLatency {
    histogram: String,
    threshold: f64,
}

impl TryFrom<RawIndicator> for Indicator {
    type Error = String;

    fn try_from(r: RawIndicator) -> Result<Indicator, String> {
        match (r.monitor, r.ratio, r.latency, r.sessions) {
            (Some(m), None, None, None) => Ok(Indicator::Monitor(m)),
            (None, Some(r), None, None) => Ok(Indicator::Ratio {
                errors: r.errors,
                total: r.total,
            }),
            (None, None, Some(l), None) => Ok(Indicator::Latency {
                histogram: l.histogram,
                threshold: l.threshold,
            }),
            (None, None, None, Some(p)) => Ok(Indicator::Sessions(p)),
            _ => Err("exactly one of `monitor`, `ratio`, `latency` or `sessions`".into()),
        }
    }
}

impl Indicator {
    pub fn kind(&self) -> &'static str {
        match self {
            Indicator::Monitor(_) => "monitor",
            Indicator::Ratio { .. } => "ratio",
            Indicator::Latency { .. } => "latency",
            Indicator::Sessions(_) => "sessions",
        }
    }

    /// The PromQL of the share of errors over `range` (a PromQL duration such as `1h`).
    pub fn error_ratio(&self, range: &str) -> String {
        match self {
            Indicator::Monitor(id) => {
                let sel = format!("probe_success{{monitor_id=\"{}\"}}", escape(id));
                format!(
                    "1 - (sum(sum_over_time({sel}[{range}])) / sum(count_over_time({sel}[{range}])))"
                )
            }
            Indicator::Ratio { errors, total } => {
                format!("(sum(rate({errors}[{range}])) or vector(0)) / sum(rate({total}[{range}]))")
            }
            Indicator::Latency {
                histogram,
                threshold,
            } => {
                let le = le_matcher(*threshold);
                format!(
                    "1 - (sum(rate({}[{range}])) / sum(rate({}[{range}])))",
                    with_matcher(histogram, &le),
                    with_matcher(histogram, "le=\"+Inf\"")
                )
            }
            Indicator::Sessions(project) => {
                let p = escape(project);
                format!(
                    "(sum(rate(pharos_sessions_crashed_total{{project=\"{p}\"}}[{range}])) or vector(0)) / sum(rate(pharos_sessions_started_total{{project=\"{p}\"}}[{range}]))"
                )
            }
        }
    }
}

impl SloSpec {
    /// The share of events allowed to fail (0.005 for 99.5 %).
    pub fn budget(&self) -> f64 {
        1.0 - self.objective / 100.0
    }

    /// The checks that need nothing but the spec: the name's shape, the objective's range.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || self.name.len() > 100
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("name: letters, digits, `-` and `_`, at most 100".into());
        }
        if !(self.objective > 0.0 && self.objective < 100.0) {
            return Err(format!(
                "objective: a percentage between 0 and 100 (exclusive), such as 99.5; got {}",
                self.objective
            ));
        }
        if self.window.as_duration() < std::time::Duration::from_secs(3600) {
            return Err("window: at least 1h (30d is usual)".into());
        }
        if let Indicator::Latency { threshold, .. } = &self.indicator
            && !(threshold.is_finite() && *threshold > 0.0)
        {
            return Err(
                "indicator.latency.threshold: a positive number of the histogram's unit".into(),
            );
        }
        Ok(())
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `le` as the Go client writes it (`0.8`, `1`) or the Python client (`0.8`, `1.0`).
fn le_matcher(threshold: f64) -> String {
    let go = format!("{threshold}");
    let mut re = regex_escape(&go);
    if go.contains('.') {
        let _ = write!(re, "0*");
    } else {
        let _ = write!(re, "(\\\\.0*)?");
    }
    format!("le=~\"{re}\"")
}

fn regex_escape(s: &str) -> String {
    s.replace('.', "\\\\.")
}

/// `metric{a="b"}` with one more matcher: `metric{a="b",le="…"}`.
fn with_matcher(selector: &str, matcher: &str) -> String {
    let s = selector.trim();
    match s.strip_suffix('}') {
        Some(head) if head.trim_end().ends_with('{') => format!("{head}{matcher}}}"),
        Some(head) => format!("{head},{matcher}}}"),
        None => format!("{s}{{{matcher}}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_ratios_as_promql() {
        assert_eq!(
            Indicator::Monitor("bot-health".into()).error_ratio("1h"),
            "1 - (sum(sum_over_time(probe_success{monitor_id=\"bot-health\"}[1h])) / sum(count_over_time(probe_success{monitor_id=\"bot-health\"}[1h])))"
        );
        let latency = Indicator::Latency {
            histogram: "http_request_duration_seconds_bucket{job=\"bot\"}".into(),
            threshold: 0.8,
        };
        assert_eq!(
            latency.error_ratio("5m"),
            "1 - (sum(rate(http_request_duration_seconds_bucket{job=\"bot\",le=~\"0\\\\.80*\"}[5m])) / sum(rate(http_request_duration_seconds_bucket{job=\"bot\",le=\"+Inf\"}[5m])))"
        );
        let whole = Indicator::Latency {
            histogram: "h_bucket".into(),
            threshold: 1.0,
        };
        assert!(
            whole
                .error_ratio("5m")
                .contains("h_bucket{le=~\"1(\\\\.0*)?\"}")
        );
        assert!(with_matcher("h_bucket{}", "le=\"+Inf\"") == "h_bucket{le=\"+Inf\"}");
    }

    #[test]
    fn specs_read_from_yaml_and_are_checked() {
        let spec: SloSpec = crate::yaml::from_yaml(
            "name: webhook-availability\nobjective: 99.5\nindicator:\n  monitor: bot-health\n",
        )
        .unwrap();
        assert_eq!(spec.window.to_string(), "30d");
        assert!((spec.budget() - 0.005).abs() < 1e-12);
        assert!(spec.validate().is_ok());
        let ratio: SloSpec = crate::yaml::from_yaml(
            "name: r\nobjective: 99.9\nwindow: 7d\nindicator:\n  ratio:\n    errors: a_total{code=~\"5..\"}\n    total: a_total\n",
        )
        .unwrap();
        assert_eq!(ratio.indicator.kind(), "ratio");
        let sessions: SloSpec =
            crate::yaml::from_yaml("name: s\nobjective: 99\nindicator:\n  sessions: shop\n")
                .unwrap();
        assert!(
            sessions
                .indicator
                .error_ratio("1h")
                .contains("pharos_sessions_crashed_total{project=\"shop\"}[1h]")
        );
        for bad in [
            SloSpec {
                objective: 100.0,
                ..spec.clone()
            },
            SloSpec {
                name: "has space".into(),
                ..spec.clone()
            },
            SloSpec {
                window: HumanDuration::from_secs(60),
                ..spec.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
