//! A `POST /api/v1/logs` body (JSON lines, a JSON array or plain text; the first byte
//! picks the `Content-Type`), each line's structure read as the store will see it.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pharos_ingest::logs::http::decode;

const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/json"),
    Some("application/x-ndjson"),
    Some("text/plain"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let received = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let _ = decode(body, content_type, "fuzz", received);
});
