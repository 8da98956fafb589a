//! A scraped body in the text format 0.0.4 and in OpenMetrics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_ingest::prometheus::exposition::{Format, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse(text, Format::Text);
    let _ = parse(text, Format::OpenMetrics);
});
