//! A TCP syslog stream cut into frames (octet counting or newline / NUL framing, per
//! frame), arriving in chunks whose sizes the input's first byte sets; each frame is then
//! read as a message, as the TCP listener does.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use pharos_ingest::logs::syslog::{SyslogFramer, parse_message};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let received = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let mut framer = SyslogFramer::new();
    let mut frames = Vec::new();
    for part in stream.chunks(usize::from(chunk).max(1)) {
        framer.push(part);
        while let Some(frame) = framer.next_frame() {
            frames.push(frame);
        }
    }
    if let Some(frame) = framer.finish() {
        frames.push(frame);
    }
    for frame in frames.into_iter().flatten() {
        let _ = parse_message(&frame, None, received);
    }
});
