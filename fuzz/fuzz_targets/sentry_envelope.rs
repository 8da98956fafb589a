//! A Sentry envelope body (already decompressed): the framing, then every item through
//! the same processing `App::accept_sentry` applies.
#![no_main]

use std::sync::LazyLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pharos_ingest::sentry::{Envelope, Limits, Scrubber, process_envelope};

/// Built once: compiling the scrubber's patterns per input held a run to a few inputs a
/// second.
static SCRUBBER: LazyLock<Scrubber> = LazyLock::new(Scrubber::default);

fuzz_target!(|data: &[u8]| {
    let received = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    if let Ok(envelope) = Envelope::parse(data) {
        let _ = envelope.event_id();
        let _ = envelope.dsn();
        let limits = Limits {
            max_attachment_bytes: 64 * 1024,
        };
        let _ = process_envelope(&envelope, &SCRUBBER, limits, received);
    }
});
