//! Request bodies as SDKs send them: plain, gzip, deflate, br or zstd, decoded with a cap
//! on the decoded size so that a small compressed body cannot expand without bound.

use std::io::Read;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body is larger than {limit} bytes once decoded")]
    TooLarge { limit: usize },
    #[error("unsupported Content-Encoding {0:?}")]
    Unsupported(String),
    #[error("body does not decode as {encoding}: {reason}")]
    Corrupt {
        encoding: &'static str,
        reason: String,
    },
}

/// Decodes `body` per its `Content-Encoding`, refusing more than `limit` decoded bytes.
pub fn decode(encoding: Option<&str>, body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    let encoding = match encoding.as_deref() {
        None | Some("") | Some("identity") => {
            // Some clients compress without saying so; gzip's magic number is unambiguous.
            if body.starts_with(&[0x1f, 0x8b]) {
                "gzip"
            } else {
                if body.len() > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                return Ok(body.to_vec());
            }
        }
        Some("gzip") | Some("x-gzip") => "gzip",
        Some("deflate") => "deflate",
        Some("br") => "br",
        Some("zstd") => "zstd",
        Some(other) => return Err(BodyError::Unsupported(other.to_string())),
    };
    match encoding {
        "gzip" => read_capped(flate2::read::MultiGzDecoder::new(body), "gzip", limit),
        // HTTP's "deflate" is zlib-wrapped, but some clients send raw deflate.
        "deflate" => {
            read_capped(flate2::read::ZlibDecoder::new(body), "deflate", limit).or_else(|e| match e
            {
                BodyError::TooLarge { .. } => Err(e),
                _ => read_capped(flate2::read::DeflateDecoder::new(body), "deflate", limit),
            })
        }
        "br" => read_capped(
            brotli_decompressor::Decompressor::new(body, 16 * 1024),
            "br",
            limit,
        ),
        _ => {
            let decoder =
                ruzstd::decoding::StreamingDecoder::new(body).map_err(|e| BodyError::Corrupt {
                    encoding: "zstd",
                    reason: e.to_string(),
                })?;
            read_capped(decoder, "zstd", limit)
        }
    }
}

/// The first line of a body (without its newline), decoding no more of it than that and
/// never more than `limit` bytes: `Ok(None)` when the bytes given end before the line does,
/// so a caller reading from the network can ask again with more. This is what may be read
/// of an envelope before its key (the header's `dsn`) is checked.
pub fn first_line(
    encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<Option<Vec<u8>>, BodyError> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    let sniffed_gzip = body.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read + '_> = match encoding.as_deref() {
        None | Some("") | Some("identity") if !sniffed_gzip => Box::new(body),
        None | Some("") | Some("identity") | Some("gzip") | Some("x-gzip") => {
            Box::new(flate2::read::MultiGzDecoder::new(body))
        }
        Some("deflate") if looks_like_zlib(body) => Box::new(flate2::read::ZlibDecoder::new(body)),
        Some("deflate") => Box::new(flate2::read::DeflateDecoder::new(body)),
        Some("br") => Box::new(brotli_decompressor::Decompressor::new(body, 4096)),
        Some("zstd") => match ruzstd::decoding::StreamingDecoder::new(body) {
            Ok(d) => Box::new(d),
            // Too few bytes for the frame header is not an error yet.
            Err(_) if body.len() < 32 => return Ok(None),
            Err(e) => {
                return Err(BodyError::Corrupt {
                    encoding: "zstd",
                    reason: e.to_string(),
                });
            }
        },
        Some(other) => return Err(BodyError::Unsupported(other.to_string())),
    };
    let mut reader = reader.take(limit as u64 + 1);
    let mut out = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            // A stream cut short is what a prefix of a compressed body looks like.
            Err(_) => return Ok(None),
        };
        let start = out.len();
        out.extend_from_slice(&chunk[..n]);
        if let Some(i) = out[start..].iter().position(|b| *b == b'\n') {
            out.truncate(start + i);
            return Ok(Some(out));
        }
        if out.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
    }
}

/// A zlib stream's two header bytes (RFC 1950: method 8, check bits).
fn looks_like_zlib(body: &[u8]) -> bool {
    match body {
        [a, b, ..] => a & 0x0f == 8 && (u16::from(*a) << 8 | u16::from(*b)) % 31 == 0,
        _ => false,
    }
}

fn read_capped(
    reader: impl Read,
    encoding: &'static str,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt {
            encoding,
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decodes_gzip_and_deflate_and_sniffs_gzip() {
        let data = b"{\"hello\":1}".repeat(10);
        assert_eq!(decode(Some("gzip"), &gzip(&data), 1000).unwrap(), data);
        assert_eq!(decode(None, &gzip(&data), 1000).unwrap(), data);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&data).unwrap();
        assert_eq!(
            decode(Some("deflate"), &z.finish().unwrap(), 1000).unwrap(),
            data
        );
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&data).unwrap();
        assert_eq!(
            decode(Some("deflate"), &raw.finish().unwrap(), 1000).unwrap(),
            data
        );
    }

    #[test]
    fn decodes_zstd() {
        let data = b"{\"zstd\":true}".repeat(50);
        let z = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(decode(Some("zstd"), &z, 10_000).unwrap(), data);
        assert!(matches!(
            decode(Some("zstd"), &z, 100),
            Err(BodyError::TooLarge { .. })
        ));
    }

    #[test]
    fn caps_the_decoded_size() {
        let bomb = gzip(&vec![b'a'; 100_000]);
        assert!(matches!(
            decode(Some("gzip"), &bomb, 10_000),
            Err(BodyError::TooLarge { .. })
        ));
        assert!(matches!(
            decode(None, &[b'x'; 20], 10),
            Err(BodyError::TooLarge { .. })
        ));
    }

    #[test]
    fn first_line_reads_only_the_envelope_header() {
        let mut body = b"{\"dsn\":\"http://k@h/1\"}\n".to_vec();
        body.extend(vec![b'a'; 1_000_000]);
        let line = b"{\"dsn\":\"http://k@h/1\"}".to_vec();
        assert_eq!(first_line(None, &body, 100).unwrap(), Some(line.clone()));
        let z = gzip(&body);
        assert_eq!(
            first_line(Some("gzip"), &z, 100).unwrap(),
            Some(line.clone())
        );
        // A prefix of the compressed bytes that holds the whole line is enough.
        assert_eq!(
            first_line(None, &z[..z.len() / 2], 100).unwrap(),
            Some(line)
        );
        assert_eq!(first_line(Some("gzip"), &z[..12], 100).unwrap(), None);
        // A first line longer than the cap is refused without decoding the rest.
        let bomb = gzip(&vec![b'a'; 16 * 1024 * 1024]);
        assert!(matches!(
            first_line(Some("gzip"), &bomb, 8192),
            Err(BodyError::TooLarge { .. })
        ));
    }

    #[test]
    fn rejects_unknown_and_corrupt() {
        assert!(matches!(
            decode(Some("lzma"), b"x", 10),
            Err(BodyError::Unsupported(_))
        ));
        assert!(matches!(
            decode(Some("br"), b"not brotli at all", 100),
            Err(BodyError::Corrupt { .. })
        ));
    }
}
