//! Domain types shared by every stage of the pipeline: what a monitor is, what a probe
//! found, what an alert says. Nothing here does I/O; sources, stores, evaluators,
//! receivers and the web layer all speak in these types.

pub mod access;
pub mod alert;
pub mod assertion;
pub mod clock;
pub mod duration;
pub mod error;
pub mod inbound_filters;
pub mod log;
pub mod maintenance;
pub mod monitor;
pub mod notification;
pub mod probe;
pub mod project;
pub mod sentry;
pub mod series;
pub mod slo;
pub mod source_maps;
pub mod status_codes;
pub mod status_page;
pub mod yaml;

pub use alert::{Alert, AlertState, Labels, StoredAlertHandler};
pub use duration::HumanDuration;
pub use error::ModelError;
pub use log::{DecodedLogs, LogEntry, LogLevel, LogSource, RejectedLine};
pub use monitor::{MonitorCheck, MonitorId, MonitorSpec, MonitorSpecError, MonitorState};
pub use notification::Notification;
pub use probe::{Outcome, PingKind, ProbeResult};
