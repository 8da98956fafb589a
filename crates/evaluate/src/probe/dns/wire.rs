//! The DNS message format (RFC 1035, EDNS0 from RFC 6891), only as far as a monitor needs
//! it: one question out, the answer section back, each record of a known type read into
//! the text people write it as (`10 mx.example.com` for MX).

use std::net::{Ipv4Addr, Ipv6Addr};

/// What was wrong with a message that does not parse as a DNS answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DNS answer: {0}")]
pub struct MalformedAnswer(pub &'static str);

/// The UDP payload size Pharos offers in its EDNS0 record: the DNS flag day 2020 value,
/// below common path MTUs, so large answers come over TCP instead of as fragments.
pub const EDNS_UDP_SIZE: u16 = 1232;

const CLASS_IN: u16 = 1;
const TYPE_OPT: u16 = 41;

/// A recursive query for `name` (lower-case, without the final dot; empty for the root)
/// of type `qtype`, with an EDNS0 record.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD: recursion desired
    out.extend_from_slice(&1u16.to_be_bytes()); // one question
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // the OPT record
    for label in name.split('.').filter(|l| !l.is_empty()) {
        // Names are checked to have labels of at most 63 bytes when the monitor is read.
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = UDP payload size, TTL = extended flags, no data.
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&EDNS_UDP_SIZE.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    out
}

/// The parts of an answer a monitor looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub id: u16,
    /// The TC bit: the answer did not fit and must be asked for again over TCP.
    pub truncated: bool,
    pub rcode: u8,
    /// Records of the answer section: their type and their value as text.
    pub records: Vec<(u16, String)>,
}

/// The name of a response code, for error messages.
pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR (the resolver could not read the query)",
        2 => "SERVFAIL (the resolver could not get an answer)",
        3 => "NXDOMAIN (no such name)",
        4 => "NOTIMP (query type not supported)",
        5 => "REFUSED (the resolver refused to answer)",
        _ => "an unknown error code",
    }
}

fn u16_at(msg: &[u8], pos: usize) -> Result<u16, MalformedAnswer> {
    msg.get(pos..pos + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(MalformedAnswer("cut short"))
}

/// Reads a possibly compressed name at `pos`: the name (lower-case, no final dot) and the
/// position just after it where it was written.
fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), MalformedAnswer> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos).ok_or(MalformedAnswer("name cut short"))?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                return Ok((name, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(MalformedAnswer("label cut short"))?;
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
                if name.len() > 255 {
                    return Err(MalformedAnswer("name longer than 255 bytes"));
                }
                pos += 1 + usize::from(len);
            }
            0xC0 => {
                let target = usize::from(u16_at(msg, pos)? & 0x3FFF);
                end.get_or_insert(pos + 2);
                jumps += 1;
                if jumps > 32 {
                    return Err(MalformedAnswer("name compression loops"));
                }
                pos = target;
            }
            _ => return Err(MalformedAnswer("unknown label type")),
        }
    }
}

/// The record's data as text, for the types a monitor can ask for; `None` for others.
fn record_text(
    msg: &[u8],
    rtype: u16,
    start: usize,
    data: &[u8],
) -> Result<Option<String>, MalformedAnswer> {
    let bad = MalformedAnswer("record data does not fit its type");
    Ok(Some(match rtype {
        1 => {
            let b: [u8; 4] = data.try_into().map_err(|_| bad)?;
            Ipv4Addr::from(b).to_string()
        }
        28 => {
            let b: [u8; 16] = data.try_into().map_err(|_| bad)?;
            Ipv6Addr::from(b).to_string()
        }
        2 | 5 | 12 => read_name(msg, start)?.0,
        15 => {
            let preference = u16_at(msg, start)?;
            format!("{preference} {}", read_name(msg, start + 2)?.0)
        }
        16 => {
            let mut text = Vec::new();
            let mut rest = data;
            while let Some((&len, tail)) = rest.split_first() {
                let chunk = tail.get(..usize::from(len)).ok_or(bad.clone())?;
                text.extend_from_slice(chunk);
                rest = &tail[usize::from(len)..];
            }
            String::from_utf8_lossy(&text).into_owned()
        }
        6 => {
            let (mname, after) = read_name(msg, start)?;
            let (rname, after) = read_name(msg, after)?;
            let nums = msg
                .get(after..after + 20)
                .ok_or(MalformedAnswer("SOA cut short"))?;
            let n = |i: usize| u32::from_be_bytes([nums[i], nums[i + 1], nums[i + 2], nums[i + 3]]);
            format!(
                "{mname} {rname} {} {} {} {} {}",
                n(0),
                n(4),
                n(8),
                n(12),
                n(16)
            )
        }
        33 => {
            let (p, w, port) = (
                u16_at(msg, start)?,
                u16_at(msg, start + 2)?,
                u16_at(msg, start + 4)?,
            );
            format!("{p} {w} {port} {}", read_name(msg, start + 6)?.0)
        }
        257 => {
            let (&flags, rest) = data.split_first().ok_or(bad.clone())?;
            let (&tag_len, rest) = rest.split_first().ok_or(bad.clone())?;
            let tag = rest.get(..usize::from(tag_len)).ok_or(bad)?;
            let value = &rest[usize::from(tag_len)..];
            format!(
                "{flags} {} {}",
                String::from_utf8_lossy(tag).to_ascii_lowercase(),
                String::from_utf8_lossy(value)
            )
        }
        _ => return Ok(None),
    }))
}

/// Reads an answer. Records of types Pharos does not read are left out.
pub fn decode_answer(msg: &[u8]) -> Result<Answer, MalformedAnswer> {
    let id = u16_at(msg, 0)?;
    let flags = u16_at(msg, 2)?;
    if flags & 0x8000 == 0 {
        return Err(MalformedAnswer("a query, not a response"));
    }
    let questions = u16_at(msg, 4)?;
    let answers = u16_at(msg, 6)?;
    let mut pos = 12;
    for _ in 0..questions {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        let (_, after) = read_name(msg, pos)?;
        let rtype = u16_at(msg, after)?;
        let len = usize::from(u16_at(msg, after + 8)?);
        let start = after + 10;
        let data = msg
            .get(start..start + len)
            .ok_or(MalformedAnswer("record cut short"))?;
        if let Some(text) = record_text(msg, rtype, start, data)? {
            records.push((rtype, text));
        }
        pos = start + len;
    }
    Ok(Answer {
        id,
        truncated: flags & 0x0200 != 0,
        rcode: (flags & 0x000F) as u8,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `query` with the given answer records (name pointer to the question).
    fn response(query: &[u8], rcode: u8, records: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let question_end = read_name(query, 12).unwrap().1 + 4;
        let mut out = query[..question_end].to_vec();
        out[2] = 0x81;
        out[3] = 0x80 | rcode;
        out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        out[10..12].copy_from_slice(&0u16.to_be_bytes());
        for (rtype, data) in records {
            out.extend_from_slice(&[0xC0, 12]);
            out.extend_from_slice(&rtype.to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn a_query_is_what_dig_sends() {
        let q = encode_query(0xBEEF, "example.com", 1);
        assert_eq!(&q[..12], &[0xBE, 0xEF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&q[12..29], b"\x07example\x03com\x00\x00\x01\x00\x01");
        assert_eq!(&q[29..], &[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn records_read_as_people_write_them() {
        let q = encode_query(7, "example.com", 15);
        // MX 10 pointing at "mx1" + the question's name through a pointer.
        let mx = [&[0, 10, 3][..], b"mx1", &[0xC0, 12]].concat();
        let txt = [&[5][..], b"v=spf", &[3], b"1 a"].concat();
        let caa = [&[0, 5][..], b"issue", b"letsencrypt.org"].concat();
        let msg = response(
            &q,
            0,
            &[
                (15, mx),
                (1, vec![192, 0, 2, 1]),
                (28, Ipv6Addr::LOCALHOST.octets().to_vec()),
                (16, txt),
                (257, caa),
                (99, vec![1, 2, 3]),
            ],
        );
        let a = decode_answer(&msg).unwrap();
        assert_eq!((a.id, a.rcode, a.truncated), (7, 0, false));
        assert_eq!(
            a.records,
            vec![
                (15, "10 mx1.example.com".to_string()),
                (1, "192.0.2.1".to_string()),
                (28, "::1".to_string()),
                (16, "v=spf1 a".to_string()),
                (257, "0 issue letsencrypt.org".to_string()),
            ]
        );
    }

    #[test]
    fn broken_answers_are_errors_not_panics() {
        let q = encode_query(7, "example.com", 1);
        let msg = response(&q, 3, &[(1, vec![192, 0, 2, 1])]);
        assert_eq!(decode_answer(&msg).unwrap().rcode, 3);
        for cut in 0..msg.len() {
            let _ = decode_answer(&msg[..cut]);
        }
        assert!(decode_answer(&msg[..msg.len() - 1]).is_err());
        assert!(decode_answer(&q).is_err(), "a query is not an answer");
        // A name pointing at itself.
        let mut looped = response(&q, 0, &[(5, vec![0xC0, 0])]);
        let at = looped.len() - 2;
        looped[at + 1] = at as u8;
        assert_eq!(
            decode_answer(&looped).unwrap_err(),
            MalformedAnswer("name compression loops")
        );
    }
}
