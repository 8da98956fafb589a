//! A Prometheus rule file (groups of alerting and recording rules) with promtool's checks.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = pharos_evaluate::rules::parse_rule_file(text, Path::new("rules.yml"));
});
