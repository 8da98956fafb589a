//! A log search, parsed and then matched in memory (as the live tail and log rules do)
//! against an entry with a few fields.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pharos_logs::LogQuery;
use pharos_model::{LogEntry, LogLevel, LogSource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = LogQuery::parse(text) else {
        return;
    };
    let received = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let mut entry = LogEntry::new(
        "api",
        LogSource::Http,
        received,
        "GET /users/42 took 1200 ms: timeout talking to db",
    );
    entry.level = Some(LogLevel::Error);
    entry.logger = Some("app.db".into());
    entry.host = Some("web-1".into());
    entry.fields.insert("user_id".into(), 42.into());
    entry.fields.insert("duration_ms".into(), 1200.5.into());
    entry.fields.insert("path".into(), "/users/42".into());
    entry
        .fields
        .insert("nested".into(), serde_json::json!({"a": [1, "b", null]}));
    let _ = query.matches(&entry);
});
