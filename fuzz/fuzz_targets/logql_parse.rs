//! A LogQL query, as any reader of the Loki query API sends it (Grafana's Loki data
//! source, logcli): parsed, and its selectors read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pharos_logs::logql::Logql;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(query) = Logql::parse(text) {
        let _ = query.is_log_query();
        let _ = query.selectors();
    }
});
