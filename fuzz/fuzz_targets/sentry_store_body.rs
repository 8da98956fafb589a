//! The older `POST /api/<id>/store/` body: one event or transaction as JSON.
#![no_main]

use std::sync::LazyLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pharos_ingest::sentry::{Scrubber, process_store_body};

/// Built once: compiling the scrubber's patterns per input held a run to a few inputs a
/// second.
static SCRUBBER: LazyLock<Scrubber> = LazyLock::new(Scrubber::default);

fuzz_target!(|data: &[u8]| {
    let received = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let _ = process_store_body(data, &SCRUBBER, received);
});
