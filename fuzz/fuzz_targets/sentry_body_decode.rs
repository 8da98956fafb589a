//! A request body under each `Content-Encoding` Sentry SDKs send (the first byte picks
//! one), decoded within a size cap: decompression bombs must stop at the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::sentry::body::decode;

const ENCODINGS: [Option<&str>; 7] = [
    None,
    Some("gzip"),
    Some("deflate"),
    Some("br"),
    Some("zstd"),
    Some("identity"),
    Some("x-unknown"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let encoding = ENCODINGS[usize::from(selector) % ENCODINGS.len()];
    let limit = 256 * 1024;
    if let Ok(decoded) = decode(encoding, body, limit) {
        assert!(decoded.len() <= limit, "decoded past the cap");
    }
});
