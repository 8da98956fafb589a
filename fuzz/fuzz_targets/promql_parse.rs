//! A PromQL query, through the parse entry the HTTP API and rule files use.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let _ = pharos_promql::parse(query);
});
