//! Evaluators: turn stores and incoming checks into alerts.
//!
//! For monitors: the [`MonitorEngine`] runs one task per monitor (http, tcp, dns, grpc,
//! domain and icmp probes on their interval, heartbeat deadlines), folds each result
//! through the [`state_machine`], records it in the store, and raises or resolves alerts
//! through the one alert model. Later evaluators (PromQL rules, error and log rules)
//! produce the same [`pharos_model::Alert`]s.

pub mod engine;
mod error;
pub mod errors;
pub mod heartbeat;
pub mod log_rules;
pub mod metrics;
pub mod probe;
pub mod probe_series;
pub mod publish;
pub mod rules;
pub mod slo;
pub mod state_machine;

pub use engine::{EngineSettings, MonitorEngine, PingError};
pub use error::EvaluateError;
pub use errors::{ErrorAlerts, IssueSignal};
pub use metrics::ProbeMetrics;
pub use publish::AlertSink;
