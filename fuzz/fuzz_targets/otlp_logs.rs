//! An OTLP/HTTP logs body, as JSON and as protobuf.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pharos_ingest::logs::otlp::{decode_json, decode_protobuf};

fuzz_target!(|data: &[u8]| {
    let received = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let _ = decode_json(data, received);
    let _ = decode_protobuf(data, received);
});
