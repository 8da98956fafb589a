//! One syslog message (a UDP datagram): RFC 5424, RFC 3164 or neither.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pharos_ingest::logs::syslog::parse_message;

fuzz_target!(|data: &[u8]| {
    let received = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let _ = parse_message(data, Some([127, 0, 0, 1].into()), received);
});
