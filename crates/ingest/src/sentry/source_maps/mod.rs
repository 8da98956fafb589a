//! JavaScript source maps, pure: artifact bundles as `sentry-cli sourcemaps upload` builds
//! them ([`bundle`]: the zip, its manifest, the SHA-1 they are named by) and the mapping of
//! minified stack frames back to the original file, line, column and function
//! ([`symbolicate`]). Where the bundles are kept and how maps are cached is the store's
//! and the application's business.

pub mod bundle;
pub mod symbolicate;

pub use bundle::{BundleError, read_file, read_index, sha1_hex};
pub use symbolicate::{MapLookup, ParsedMap, Symbolicated, is_javascript, symbolicate_event};

/// A debug id in the form sentry-cli writes it (lowercase, hyphenated UUID), whatever form
/// it came in (upper case, no hyphens, a trailing appendix); `None` when it is not one.
pub fn normalise_debug_id(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != '-')
        .take(32)
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_ids_are_normalised() {
        assert_eq!(
            normalise_debug_id("F9E364680E5A59E6BFFF1F71202F98BA").as_deref(),
            Some("f9e36468-0e5a-59e6-bfff-1f71202f98ba")
        );
        assert_eq!(
            normalise_debug_id("f9e36468-0e5a-59e6-bfff-1f71202f98ba").as_deref(),
            Some("f9e36468-0e5a-59e6-bfff-1f71202f98ba")
        );
        assert_eq!(normalise_debug_id("not-a-uuid"), None);
    }
}
