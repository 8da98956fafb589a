//! Syslog: one RFC 5424 or RFC 3164 message read into a [`LogEntry`] (with `syslog_loose`,
//! lenient as Vector is), and [`SyslogFramer`], which cuts a TCP byte stream into messages
//! in either framing of RFC 6587 (octet counting, or a newline / NUL after each message, as
//! Python's `SysLogHandler` sends), detected per frame. Over UDP a datagram is a message.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use pharos_model::{LogEntry, LogLevel, LogSource};
use serde_json::Value;
use syslog_loose::{IncompleteDate, Message, ProcId, Variant};

use super::line;

/// Longest frame accepted on a stream; longer ones are skipped whole.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// Structured-data elements that describe the sender's clock or software, not the event
/// (RFC 5424 §7.1 `timeQuality`, which `logger` adds to every message).
const IGNORED_SD_IDS: [&str; 1] = ["timeQuality"];

/// How far ahead of `received` a year-less RFC 3164 time may be before it is taken to be
/// last year's: senders' clocks drift, but not by a day.
const FUTURE_TOLERANCE: Duration = Duration::days(1);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty syslog message")]
    Empty,
}

/// Reads one message (a UDP datagram or a frame from [`SyslogFramer`]); a trailing
/// newline or NUL is ignored. A message that is not syslog at all is kept as a plain line.
pub fn parse_message(
    bytes: &[u8],
    peer: Option<std::net::IpAddr>,
    received: DateTime<Utc>,
) -> Result<LogEntry, DecodeError> {
    let (text, warning) = line::text_from_bytes(bytes);
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    let get_year = move |date: IncompleteDate| year_of(date, received);
    let msg =
        syslog_loose::parse_message_with_year_exact_tz(text, get_year, Some(Utc), Variant::Either)
            .ok();
    let mut entry = match msg {
        Some(msg) => from_message(msg, received),
        None => headerless(text, received),
    };
    if entry.host.is_none() {
        entry.host = peer.map(|ip| ip.to_string());
    }
    super::structure(&mut entry);
    if let Some(reason) = warning {
        line::note_warning(&mut entry, reason);
    }
    Ok(entry)
}

fn from_message(msg: Message<&str>, received: DateTime<Utc>) -> LogEntry {
    let service = msg.appname.filter(|a| !a.is_empty()).unwrap_or("unknown");
    let mut entry = LogEntry::new(service, LogSource::Syslog, received, msg.msg);
    if let Some(t) = msg.timestamp {
        entry.time = t.with_timezone(&Utc);
        // RFC 3164 times carry no zone: the sender's local time.
        if matches!(msg.protocol, syslog_loose::Protocol::RFC3164) {
            entry.time = line::settle_zoneless(entry.time, received);
        }
    }
    entry.host = msg.hostname.map(str::to_owned);
    entry.level = msg
        .severity
        .map(|s| LogLevel::from_syslog_severity(s as u8));
    let fields = &mut entry.fields;
    if let Some(f) = msg.facility {
        fields.insert("facility".into(), f.as_str().into());
    }
    match msg.procid {
        Some(ProcId::PID(pid)) => {
            fields.insert("procid".into(), pid.into());
        }
        Some(ProcId::Name(name)) => {
            fields.insert("procid".into(), name.into());
        }
        None => {}
    }
    if let Some(id) = msg.msgid {
        fields.insert("msgid".into(), id.into());
    }
    // Parameters go in under their own names so that `request_id` is found whatever
    // element carried it; the element's id prefixes one that would collide.
    for element in msg
        .structured_data
        .iter()
        .filter(|e| !IGNORED_SD_IDS.contains(&e.id))
    {
        for (name, value) in &element.params {
            let key = if fields.contains_key(*name) {
                format!("{}.{name}", element.id)
            } else {
                name.to_string()
            };
            fields
                .entry(key)
                .or_insert_with(|| Value::String(value.to_string()));
        }
    }
    entry
}

/// A message with a priority and no header, as Python's `SysLogHandler` sends
/// (`<11>2026-11-30 12:00:01,123 - app - ERROR - …`, or `<12>ident: …` when the handler
/// has an `ident`), or plain text without even a priority.
fn headerless(text: &str, received: DateTime<Utc>) -> LogEntry {
    let Some((pri, rest)) = split_pri(text) else {
        return LogEntry::new("unknown", LogSource::Syslog, received, text);
    };
    let (facility, severity) = syslog_loose::decompose_pri(pri);
    let (tag, rest) = split_tag(rest).unwrap_or(("unknown", rest));
    let mut entry = LogEntry::new(tag, LogSource::Syslog, received, rest);
    entry.level = severity.map(|s| LogLevel::from_syslog_severity(s as u8));
    if let Some(f) = facility {
        entry.fields.insert("facility".into(), f.as_str().into());
    }
    entry
}

/// `<PRI>` (0 to 191) and what follows it.
fn split_pri(text: &str) -> Option<(u8, &str)> {
    let (pri, rest) = text.strip_prefix('<')?.split_once('>')?;
    if pri.is_empty() || pri.len() > 3 || !pri.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pri: u8 = pri.parse().ok().filter(|p| *p <= 191)?;
    Some((pri, rest))
}

/// RFC 3164's `TAG: ` or `TAG[pid]: ` at the start of a message without a header.
fn split_tag(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_-./".contains(c)))
        .filter(|end| (1..=48).contains(end))?;
    let tag = &text[..end];
    // `ERROR: disk full` is a level, not a program's name.
    if LogLevel::parse(tag).is_some() {
        return None;
    }
    let after = &text[end..];
    let after = match after.strip_prefix('[') {
        Some(pid) => &pid[pid.find(']')? + 1..],
        None => after,
    };
    let rest = after
        .strip_prefix(": ")
        .or_else(|| after.strip_prefix(':'))?;
    Some((tag, rest))
}

/// The year of an RFC 3164 time, which has none: `received`'s, unless that puts it in the
/// future (December's lines read in January), then the year before.
fn year_of((month, day, hour, minute, second): IncompleteDate, received: DateTime<Utc>) -> i32 {
    let year = received.year();
    let this_year = NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(hour, minute, second))
        .map(|t| t.and_utc());
    match this_year {
        Some(t) if t > received + FUTURE_TOLERANCE => year - 1,
        // 29 February in a year without one: the last leap year is the likelier.
        None if month == 2 && day == 29 => (year - 3..=year)
            .rev()
            .find(|y| NaiveDate::from_ymd_opt(*y, 2, 29).is_some())
            .unwrap_or(year),
        _ => year,
    }
}

/// Why a frame was not handed out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// Skipped whole; the frames after it are read.
    #[error("syslog frame of {len} bytes or more is over the limit of {MAX_FRAME_BYTES}")]
    TooLong { len: usize },
    /// The stream ended inside an octet-counted frame.
    #[error("stream ended {got} bytes into an octet-counted frame of {expected}")]
    Truncated { expected: usize, got: usize },
}

/// Cuts a TCP stream into syslog messages. Each frame is read as octet-counted when it
/// starts with a length and a space (`123 <34>1 …`), else as ending at the next newline
/// or NUL; stray newlines between frames are skipped.
#[derive(Debug, Default)]
pub struct SyslogFramer {
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`; consumed bytes are dropped in batches, not
    /// per frame, so a flood of small frames costs no quadratic copying.
    start: usize,
    /// How far past `start` a delimiter was already looked for in vain.
    scanned: usize,
    skip: Skip,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Skip {
    #[default]
    None,
    /// The rest of an octet-counted frame that was too long: this many bytes.
    Bytes(usize),
    /// The rest of a delimited frame that was too long: up to the next delimiter.
    ToDelimiter,
}

/// Longest decimal length RFC 6587 frames are given here (`1048576` has 7 digits).
const MAX_COUNT_DIGITS: usize = 8;

fn is_delimiter(b: u8) -> bool {
    b == b'\n' || b == b'\0'
}

impl SyslogFramer {
    pub fn new() -> SyslogFramer {
        SyslogFramer::default()
    }

    /// Adds bytes as they arrived from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, an error for a frame that was skipped, or `None` until
    /// more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        loop {
            match self.skip {
                Skip::None => {}
                Skip::Bytes(n) => {
                    let have = (self.buf.len() - self.start).min(n);
                    self.consume(have);
                    if have < n {
                        self.skip = Skip::Bytes(n - have);
                        return None;
                    }
                    self.skip = Skip::None;
                }
                Skip::ToDelimiter => {
                    let rest = &self.buf[self.start..];
                    match rest.iter().position(|b| is_delimiter(*b)) {
                        Some(at) => {
                            self.consume(at + 1);
                            self.skip = Skip::None;
                        }
                        None => {
                            self.consume(rest.len());
                            return None;
                        }
                    }
                }
            }
            let rest = &self.buf[self.start..];
            let blank = rest
                .iter()
                .take_while(|b| b.is_ascii_whitespace() || **b == 0)
                .count();
            if blank > 0 {
                self.consume(blank);
                continue;
            }
            if rest.is_empty() {
                return None;
            }
            return match octet_count(rest) {
                Count::Frame { digits, len } => {
                    let body = digits + 1;
                    if len > MAX_FRAME_BYTES {
                        self.consume(body);
                        self.skip = Skip::Bytes(len);
                        Some(Err(FrameError::TooLong { len }))
                    } else if rest.len() >= body + len {
                        let frame = rest[body..body + len].to_vec();
                        self.consume(body + len);
                        Some(Ok(frame))
                    } else {
                        None
                    }
                }
                Count::NeedMore => None,
                Count::NotCounted => self.delimited_frame(),
            };
        }
    }

    fn delimited_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        let rest = &self.buf[self.start..];
        match rest[self.scanned..].iter().position(|b| is_delimiter(*b)) {
            Some(at) => {
                let end = self.scanned + at;
                if end > MAX_FRAME_BYTES {
                    self.consume(end + 1);
                    return Some(Err(FrameError::TooLong { len: end }));
                }
                let mut frame = rest[..end].to_vec();
                if frame.last() == Some(&b'\r') {
                    frame.pop();
                }
                self.consume(end + 1);
                Some(Ok(frame))
            }
            None if rest.len() > MAX_FRAME_BYTES => {
                let len = rest.len();
                self.consume(len);
                self.skip = Skip::ToDelimiter;
                Some(Err(FrameError::TooLong { len }))
            }
            None => {
                self.scanned = rest.len();
                None
            }
        }
    }

    /// What is left when the peer closes the connection: a last message without its
    /// newline, or the error of a frame cut short.
    pub fn finish(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        if let Skip::Bytes(_) | Skip::ToDelimiter = self.skip {
            self.skip = Skip::None;
            self.consume(self.buf.len() - self.start);
            return None;
        }
        let rest = &self.buf[self.start..];
        let trimmed = rest
            .iter()
            .rposition(|b| !(b.is_ascii_whitespace() || *b == 0))
            .map(|last| &rest[..=last])?;
        let result = match octet_count(trimmed) {
            Count::Frame { digits, len } => Err(FrameError::Truncated {
                expected: len,
                got: rest.len() - digits - 1,
            }),
            _ => Ok(trimmed.to_vec()),
        };
        self.consume(rest.len());
        Some(result)
    }

    /// Bytes received and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.scanned = 0;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }
}

enum Count {
    Frame {
        digits: usize,
        len: usize,
    },
    /// Only digits so far: the length's end has not arrived.
    NeedMore,
    NotCounted,
}

fn octet_count(rest: &[u8]) -> Count {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_COUNT_DIGITS || rest[0] == b'0' {
        return Count::NotCounted;
    }
    match rest.get(digits) {
        None => Count::NeedMore,
        Some(b' ') => match std::str::from_utf8(&rest[..digits]).map(str::parse::<usize>) {
            Ok(Ok(len)) => Count::Frame { digits, len },
            _ => Count::NotCounted,
        },
        Some(_) => Count::NotCounted,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::logs::test_support::{at, fixture, now};

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));

    fn parse(bytes: &[u8]) -> LogEntry {
        parse_message(bytes, Some(PEER), now()).unwrap()
    }

    fn frames(framer: &mut SyslogFramer) -> Vec<Result<Vec<u8>, FrameError>> {
        std::iter::from_fn(|| framer.next_frame()).collect()
    }

    #[test]
    fn logger_rfc5424_over_udp() {
        let e = parse(&fixture("syslog-rfc5424-udp.txt"));
        assert_eq!(e.service, "myapp");
        assert_eq!(e.host.as_deref(), Some("vm"));
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.message, "hello from rfc5424");
        assert_eq!(e.time, at("2026-11-30T23:36:26.807433Z"));
        assert_eq!(e.source, LogSource::Syslog);
        assert_eq!(e.fields["facility"], "local0");
        // logger's timeQuality element says nothing about the event.
        assert!(!e.fields.contains_key("tzKnown"));
    }

    #[test]
    fn logger_rfc3164_over_udp_takes_this_year_in_utc() {
        let e = parse(&fixture("syslog-rfc3164-udp.txt"));
        assert_eq!(e.service, "myapp");
        assert_eq!(e.host.as_deref(), Some("vm"));
        assert_eq!(e.level, Some(LogLevel::Warning));
        assert_eq!(e.message, "hello from rfc3164");
        assert_eq!(e.time, at("2026-11-30T23:36:27Z"));
        assert_eq!(e.fields["facility"], "user");
    }

    #[test]
    fn rfc3164_from_a_sender_east_of_utc_is_moved_back_by_its_zone() {
        // Asia/Kolkata (+05:30): 11:00 local is 05:30 UTC.
        let received = at("2026-12-01T05:30:04Z");
        let e = parse_message(b"<11>Dec  1 11:00:02 host app: boom", None, received).unwrap();
        assert_eq!(e.time, at("2026-12-01T05:30:02Z"));
        // West of UTC looks like an old line and stays as written.
        let e = parse_message(b"<11>Dec  1 00:30:02 host app: boom", None, received).unwrap();
        assert_eq!(e.time, at("2026-12-01T00:30:02Z"));
    }

    #[test]
    fn rfc3164_time_is_never_far_in_the_future() {
        let line = b"<13>Dec 31 23:59:00 host app: late";
        let e = parse_message(line, None, at("2027-01-01T00:00:30Z")).unwrap();
        assert_eq!(e.time, at("2026-12-31T23:59:00Z"));
        let line = b"<13>Jan  1 00:00:10 host app: on time";
        let e = parse_message(line, None, at("2027-01-01T00:00:30Z")).unwrap();
        assert_eq!(e.time, at("2027-01-01T00:00:10Z"));
        assert_eq!(year_of((2, 29, 0, 0, 0), at("2027-03-01T00:00:00Z")), 2024);
    }

    #[test]
    fn structured_data_procid_msgid_and_a_python_line_inside() {
        let e = parse(&fixture("syslog-rfc5424-sd-python-udp.txt"));
        assert_eq!(e.service, "billing");
        assert_eq!(e.fields["procid"], 31814);
        assert_eq!(e.fields["msgid"], "ORDER");
        assert_eq!(e.fields["facility"], "local3");
        assert_eq!(e.request_id(), Some("abc-123"));
        // The severity said info; the Python line inside says ERROR and is believed.
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.logger.as_deref(), Some("billing.worker"));
        assert_eq!(e.message, "payment failed");
    }

    #[test]
    fn python_sysloghandler_without_header_uses_pri_and_peer() {
        let e = parse(&fixture("syslog-python-sysloghandler-udp.txt"));
        assert_eq!(e.level, Some(LogLevel::Error));
        assert_eq!(e.host.as_deref(), Some("10.0.0.7"));
        assert_eq!(e.logger.as_deref(), Some("billing.worker"));
        assert_eq!(e.message, "payment failed for order 1234");
        assert_eq!(e.fields["facility"], "user");
        assert!(!e.message.contains('\0'));

        let e = parse(&fixture("syslog-python-sysloghandler-ident-udp.txt"));
        assert_eq!(e.service, "billing");
        assert_eq!(e.level, Some(LogLevel::Warning));

        let e = parse(b"<11>ERROR: disk full");
        assert_eq!(e.service, "unknown");
    }

    #[test]
    fn anything_else_is_kept_as_a_line_and_empty_is_an_error() {
        let e = parse(b"just some text\n");
        assert_eq!(e.message, "just some text");
        assert_eq!(e.service, "unknown");
        assert_eq!(e.host.as_deref(), Some("10.0.0.7"));
        assert_eq!(
            parse_message(b" \n\0", None, now()),
            Err(DecodeError::Empty)
        );
        assert_eq!(parse_message(b"", None, now()), Err(DecodeError::Empty));
    }

    #[test]
    fn invalid_utf8_and_huge_messages_are_kept_with_a_warning() {
        let e = parse(b"<14>1 2026-11-30T10:00:00Z h app - - - caf\xe9");
        assert_eq!(e.service, "app");
        assert_eq!(e.message, "caf\u{fffd}");
        assert!(e.fields.contains_key(line::WARNING_FIELD));

        let mut big = b"<14>1 2026-11-30T10:00:00Z h app - - - ".to_vec();
        big.extend(std::iter::repeat_n(b'z', 1 << 20));
        let e = parse(&big);
        assert_eq!(e.service, "app");
        assert!(e.message.len() <= line::MAX_LINE_BYTES);
        assert!(e.fields.contains_key(line::WARNING_FIELD));
    }

    #[test]
    fn logger_tcp_framings() {
        let mut f = SyslogFramer::new();
        f.push(&fixture("syslog-tcp-newline.txt"));
        f.push(&fixture("syslog-tcp-octet-counted-two.txt"));
        f.push(&fixture("syslog-tcp-octet-counted.txt"));
        let got: Vec<_> = frames(&mut f)
            .into_iter()
            .map(|r| parse(&r.unwrap()).message)
            .collect();
        assert_eq!(
            got,
            [
                "over tcp, default framing",
                "first line",
                "second line",
                "over tcp, octet counted"
            ]
        );
        assert_eq!(f.finish(), None);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn python_tcp_frames_end_with_nul() {
        let mut f = SyslogFramer::new();
        f.push(&fixture("syslog-python-sysloghandler-tcp.txt"));
        let got: Vec<_> = frames(&mut f)
            .into_iter()
            .map(|r| parse(&r.unwrap()).level)
            .collect();
        assert_eq!(
            got,
            [
                Some(LogLevel::Error),
                Some(LogLevel::Info),
                Some(LogLevel::Warning)
            ]
        );
    }

    #[test]
    fn frames_split_anywhere_come_out_the_same() {
        let mut stream = fixture("syslog-tcp-octet-counted-two.txt");
        stream.extend(fixture("syslog-python-sysloghandler-tcp.txt"));
        stream.extend(b"\r\n<13>crlf line\r\n");
        stream.extend(fixture("syslog-tcp-octet-counted.txt"));
        let mut whole = SyslogFramer::new();
        whole.push(&stream);
        let expected = frames(&mut whole);
        assert_eq!(expected.len(), 7);
        assert_eq!(expected[5], Ok(b"<13>crlf line".to_vec()));
        let mut f = SyslogFramer::new();
        let mut got = Vec::new();
        for b in &stream {
            f.push(std::slice::from_ref(b));
            got.extend(frames(&mut f));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn an_oversized_frame_is_skipped_without_losing_the_next() {
        let mut f = SyslogFramer::new();
        let len = MAX_FRAME_BYTES + 10;
        f.push(format!("{len} <13>1 - - - - - - ").as_bytes());
        assert_eq!(f.next_frame(), Some(Err(FrameError::TooLong { len })));
        let chunk = vec![b'a'; 64 * 1024];
        let mut left = len - "<13>1 - - - - - - ".len();
        while left > 0 {
            let n = left.min(chunk.len());
            f.push(&chunk[..n]);
            left -= n;
            assert_eq!(f.next_frame(), None);
        }
        f.push(b"5 <13>a");
        assert_eq!(f.next_frame(), Some(Ok(b"<13>a".to_vec())));

        // The same for a newline-delimited frame, arriving in pieces.
        for _ in 0..20 {
            f.push(&chunk);
        }
        assert!(matches!(
            f.next_frame(),
            Some(Err(FrameError::TooLong { .. }))
        ));
        f.push(&chunk);
        assert_eq!(f.next_frame(), None);
        f.push(b"aaa\n<13>next\n");
        assert_eq!(f.next_frame(), Some(Ok(b"<13>next".to_vec())));
        assert_eq!(f.next_frame(), None);
        assert!(f.buffered() < 1024);
    }

    #[test]
    fn a_stream_that_ends_mid_frame() {
        let mut f = SyslogFramer::new();
        f.push(b"120 <13>1 cut short");
        assert_eq!(f.next_frame(), None);
        assert_eq!(
            f.finish(),
            Some(Err(FrameError::Truncated {
                expected: 120,
                got: 15
            }))
        );
        f.push(b"<13>no newline at the end  ");
        assert_eq!(f.next_frame(), None);
        assert_eq!(f.finish(), Some(Ok(b"<13>no newline at the end".to_vec())));
        assert_eq!(f.finish(), None);
        // Digits and no space yet: a length still arriving.
        f.push(b"12");
        assert_eq!(f.next_frame(), None);
        f.push(b" <13>abcdefgh");
        assert_eq!(f.next_frame(), Some(Ok(b"<13>abcdefgh".to_vec())));
    }

    #[test]
    fn framer_throughput_on_a_flood_of_small_frames() {
        let frame = b"<14>1 2026-11-30T10:00:00Z host app 1 - - GET /health 200 in 1.2ms\n";
        let counted = format!(
            "{} {}",
            frame.len() - 1,
            std::str::from_utf8(&frame[..frame.len() - 1]).unwrap()
        );
        let mut stream = Vec::new();
        for i in 0..100_000 {
            if i % 2 == 0 {
                stream.extend_from_slice(frame);
            } else {
                stream.extend_from_slice(counted.as_bytes());
            }
        }
        let started = std::time::Instant::now();
        let mut f = SyslogFramer::new();
        let mut n = 0;
        // Odd chunk size, so frames straddle pushes.
        for chunk in stream.chunks(1500 - 28) {
            f.push(chunk);
            while let Some(frame) = f.next_frame() {
                assert_eq!(frame.unwrap().len(), counted.len() - 3);
                n += 1;
            }
        }
        assert_eq!(n, 100_000);
        // Debug build; linear framing does this in well under a second.
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    }
}
