//! Sources: what arrives over the ecosystem's protocols, turned into typed records that
//! nothing downstream needs to know the protocol of. For now: heartbeat pings in the
//! healthchecks.io URL scheme; Sentry envelopes; Prometheus exposition text, relabelling and
//! remote_write. Loki push and syslog follow.

pub mod error;
pub mod heartbeat;
pub mod logs;
pub mod prometheus;
pub mod sentry;

pub use error::IngestError;
