//! Envelope framing, written by hand: a header line, then items, each an item-header line
//! and a payload of `length` bytes or, without `length`, up to the next newline.
//! An unknown item type is kept as an opaque item (the caller skips it), and a framing error
//! stops parsing without losing the items read before it.

use serde_json::{Map, Value};

#[derive(Debug)]
pub struct Envelope<'a> {
    pub header: Map<String, Value>,
    pub items: Vec<Item<'a>>,
    /// Set when the envelope was cut short or mis-framed after the items above.
    pub error: Option<FramingError>,
}

#[derive(Debug)]
pub struct Item<'a> {
    pub ty: String,
    pub headers: Map<String, Value>,
    pub payload: &'a [u8],
}

impl Item<'_> {
    pub fn header_str(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FramingError {
    #[error("envelope header is not a JSON object: {0}")]
    Header(String),
    #[error("item {index}: header is not a JSON object: {reason}")]
    ItemHeader { index: usize, reason: String },
    #[error("item {index}: header has no \"type\"")]
    ItemType { index: usize },
    #[error("item {index}: length {length} runs past the end of the envelope ({left} bytes left)")]
    Truncated {
        index: usize,
        length: usize,
        left: usize,
    },
    #[error("item {index}: payload of length {length} is not followed by a newline")]
    BadLength { index: usize, length: usize },
}

impl<'a> Envelope<'a> {
    /// Parses an envelope. Only an unreadable envelope header is an `Err`: anything after it
    /// yields the items read so far plus [`Envelope::error`].
    pub fn parse(body: &'a [u8]) -> Result<Envelope<'a>, FramingError> {
        let (line, mut rest) = split_line(body);
        let header = parse_object(line).map_err(FramingError::Header)?;
        let mut items = Vec::new();
        let mut error = None;
        loop {
            // Blank lines between items (and the trailing newline) are tolerated.
            while let Some(r) = rest.strip_prefix(b"\n") {
                rest = r;
            }
            if rest.is_empty() {
                break;
            }
            let index = items.len();
            let (line, after) = split_line(rest);
            let headers = match parse_object(line) {
                Ok(h) => h,
                Err(reason) => {
                    error = Some(FramingError::ItemHeader { index, reason });
                    break;
                }
            };
            let Some(ty) = headers
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                error = Some(FramingError::ItemType { index });
                break;
            };
            let length = headers.get("length").and_then(Value::as_u64);
            let payload;
            match length {
                Some(length) => {
                    let length = length as usize;
                    if length > after.len() {
                        error = Some(FramingError::Truncated {
                            index,
                            length,
                            left: after.len(),
                        });
                        break;
                    }
                    payload = &after[..length];
                    rest = &after[length..];
                    if !rest.is_empty() && rest[0] != b'\n' {
                        error = Some(FramingError::BadLength { index, length });
                        break;
                    }
                }
                None => {
                    let (p, r) = split_line(after);
                    payload = p;
                    rest = r;
                }
            }
            items.push(Item {
                ty,
                headers,
                payload,
            });
        }
        Ok(Envelope {
            header,
            items,
            error,
        })
    }

    pub fn event_id(&self) -> Option<&str> {
        self.header.get("event_id").and_then(Value::as_str)
    }

    pub fn dsn(&self) -> Option<&str> {
        self.header.get("dsn").and_then(Value::as_str)
    }
}

/// The line up to `\n` (without it) and what follows the newline.
fn split_line(b: &[u8]) -> (&[u8], &[u8]) {
    match memchr(b) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn parse_object(line: &[u8]) -> Result<Map<String, Value>, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        // An empty envelope header is allowed (`{}` is usual, but nothing is fine too).
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("not an object".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_and_without_length() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"attachment\",\"length\":10}\n\xef\xbb\xbfHello\r\n\n{\"type\":\"event\"}\n{\"message\":\"hi\"}\n";
        let env = Envelope::parse(body).unwrap();
        assert_eq!(env.error, None);
        assert_eq!(env.items.len(), 2);
        assert_eq!(env.items[0].payload, b"\xef\xbb\xbfHello\r\n");
        assert_eq!(env.items[1].ty, "event");
        assert_eq!(env.items[1].payload, b"{\"message\":\"hi\"}");
        assert_eq!(env.event_id(), Some("9ec79c33ec9942ab8353589fcb2e04dc"));
    }

    #[test]
    fn truncated_envelope_keeps_earlier_items() {
        let body = b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n{\"type\":\"event\",\"length\":50}\n{\"x\":1}";
        let env = Envelope::parse(body).unwrap();
        assert_eq!(env.items.len(), 1);
        assert!(matches!(
            env.error,
            Some(FramingError::Truncated { index: 1, .. })
        ));
    }

    #[test]
    fn wrong_length_is_a_framing_error() {
        let body = b"{}\n{\"type\":\"event\",\"length\":3}\n{\"a\":1}\n";
        let env = Envelope::parse(body).unwrap();
        assert!(env.items.is_empty());
        assert!(matches!(env.error, Some(FramingError::BadLength { .. })));
    }

    #[test]
    fn bad_header_is_an_error() {
        assert!(Envelope::parse(b"nope\n").is_err());
        assert!(Envelope::parse(b"").unwrap().items.is_empty());
    }
}
