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
