//! A remote_write 1.0 body: snappy block format around a protobuf `WriteRequest`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::prometheus::remote_write::decode;

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
});
