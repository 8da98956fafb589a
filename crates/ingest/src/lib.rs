//! Sources: what arrives over the ecosystem's protocols, turned into typed records that
//! nothing downstream needs to know the protocol of: heartbeat pings in the healthchecks.io
//! URL scheme; Sentry envelopes (events, spans, sessions, logs, ...); Prometheus exposition
//! text, relabelling and remote_write; log lines (Loki push, OTLP, syslog, plain HTTP); and
//! OTLP traces into the same spans as the Sentry SDKs'.

pub mod error;
pub mod heartbeat;
pub mod logs;
pub mod otlp;
pub mod prometheus;
pub mod sentry;

pub use error::IngestError;
