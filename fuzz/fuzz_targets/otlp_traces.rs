//! An OTLP/HTTP traces body, as JSON and as protobuf.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::otlp::traces::{decode_json, decode_protobuf};
use pharos_ingest::sentry::Scrubber;

fuzz_target!(|data: &[u8]| {
    let scrubber = Scrubber::default();
    let _ = decode_json(data, &scrubber);
    let _ = decode_protobuf(data, &scrubber);
});
