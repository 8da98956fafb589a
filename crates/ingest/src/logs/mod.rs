//! Log sources, pure (bytes in, [`LogEntry`] values out): the Loki push API (JSON and
//! snappy protobuf), OTLP/HTTP logs (JSON and protobuf), syslog (RFC 5424 / RFC 3164 and
//! the TCP framings), the `POST /api/v1/logs` body, and the `log` items of Sentry
//! envelopes. Every decoder hands each message to [`structure`], so a JSON, logfmt or
//! Python-`logging` line says the same thing whichever protocol carried it.

pub mod http;
pub mod line;
pub mod loki;
pub mod multiline;
pub mod otlp;
pub mod redact;
pub mod sentry;
pub mod syslog;

use pharos_model::LogEntry;

/// Reads the structure of `entry.message` when it has one — a JSON object (Python's
/// `python-json-logger` shapes), logfmt, or a `logging` format line such as
/// `%(asctime)s - %(name)s - %(levelname)s - %(message)s` — into the entry's time, level,
/// logger, message and fields. What the source already set (a level from syslog's
/// severity, a stream label) is kept unless the line states it itself. Unknown text is
/// kept as it is.
pub fn structure(entry: &mut LogEntry) {
    line::structure(entry)
}

/// What the decoders' tests share: the recorded fixtures and a fixed "now".
#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, Utc};

    pub fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/logs/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    pub fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// The received time of every decoder test.
    pub fn now() -> DateTime<Utc> {
        at("2026-12-01T00:00:00Z")
    }
}
