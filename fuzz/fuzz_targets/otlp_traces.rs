//! An OTLP/HTTP traces body, as JSON and as protobuf.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pharos_ingest::otlp::traces::{decode_json, decode_protobuf};
use pharos_ingest::sentry::Scrubber;

/// Built once: its patterns take far longer to compile than an input takes to decode.
static SCRUBBER: LazyLock<Scrubber> = LazyLock::new(Scrubber::default);

fuzz_target!(|data: &[u8]| {
    let _ = decode_json(data, &SCRUBBER);
    let _ = decode_protobuf(data, &SCRUBBER);
});
