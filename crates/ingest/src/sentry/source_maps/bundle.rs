//! Artifact bundles: the zip `sentry-cli sourcemaps upload` sends in chunks, with a
//! `manifest.json` naming each file's URL, type and debug id. Reading is bounded: the
//! number of files, the manifest's size and each file's decompressed size.

use std::io::{Cursor, Read};

use pharos_model::source_maps::{BundleFile, BundleFileKind, BundleIndex};
use serde_json::Value;
use sha1::{Digest, Sha1};

use super::normalise_debug_id;

/// More files than any front end's build output; a zip claiming more is refused before
/// its entries are read.
pub const MAX_BUNDLE_FILES: usize = 20_000;
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle is not a zip file: {0}")]
    NotZip(String),
    #[error("the bundle has no manifest.json")]
    NoManifest,
    #[error("manifest.json is not valid: {0}")]
    Manifest(String),
    #[error("the bundle holds {0} files; at most {MAX_BUNDLE_FILES} are accepted")]
    TooManyFiles(usize),
    #[error("manifest.json lists {0}, which the bundle does not hold")]
    MissingFile(String),
    #[error("{path} is larger than {max_bytes} bytes once decompressed")]
    FileTooLarge { path: String, max_bytes: u64 },
    #[error("{path} could not be read: {reason}")]
    Read { path: String, reason: String },
}

/// SHA-1 as 40 lowercase hex characters: how sentry-cli names chunks and bundles.
pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// The bundle's index from its manifest; every file the manifest lists must be in the zip.
pub fn read_index(bytes: &[u8]) -> Result<BundleIndex, BundleError> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| BundleError::NotZip(e.to_string()))?;
    if zip.len() > MAX_BUNDLE_FILES {
        return Err(BundleError::TooManyFiles(zip.len()));
    }
    let manifest =
        read_entry(&mut zip, "manifest.json", MAX_MANIFEST_BYTES).map_err(|e| match e {
            BundleError::MissingFile(_) => BundleError::NoManifest,
            other => other,
        })?;
    let manifest: Value =
        serde_json::from_slice(&manifest).map_err(|e| BundleError::Manifest(e.to_string()))?;
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let Some(listed) = manifest.get("files").and_then(Value::as_object) else {
        return Err(BundleError::Manifest("`files` is not an object".into()));
    };
    let mut files = Vec::with_capacity(listed.len());
    for (path, f) in listed {
        if zip.index_for_name(path).is_none() {
            return Err(BundleError::MissingFile(path.clone()));
        }
        let Some(url) = text(f.get("url")) else {
            return Err(BundleError::Manifest(format!("{path} has no `url`")));
        };
        let kind = match f.get("type").and_then(Value::as_str).unwrap_or("") {
            "minified_source" => BundleFileKind::MinifiedSource,
            "source_map" => BundleFileKind::SourceMap,
            "source" => BundleFileKind::Source,
            "indexed_ram_bundle" => BundleFileKind::IndexedRamBundle,
            _ => BundleFileKind::Other,
        };
        // Header names as sentry-cli writes them, compared without case as HTTP headers.
        let header = |name: &str| {
            f.get("headers")
                .and_then(Value::as_object)
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_owned)
        };
        files.push(BundleFile {
            path: path.clone(),
            url,
            kind,
            debug_id: header("debug-id").as_deref().and_then(normalise_debug_id),
            sourcemap: header("sourcemap").or_else(|| header("x-sourcemap")),
        });
    }
    Ok(BundleIndex {
        bundle_id: text(manifest.get("debug_id"))
            .as_deref()
            .and_then(normalise_debug_id),
        release: text(manifest.get("release")),
        dist: text(manifest.get("dist")),
        files,
    })
}

/// One file of a bundle, decompressed, refused beyond `max_bytes`.
pub fn read_file(bytes: &[u8], path: &str, max_bytes: u64) -> Result<Vec<u8>, BundleError> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| BundleError::NotZip(e.to_string()))?;
    read_entry(&mut zip, path, max_bytes)
}

fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    path: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, BundleError> {
    let entry = match zip.by_name(path) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(BundleError::MissingFile(path.to_owned()));
        }
        Err(e) => {
            return Err(BundleError::Read {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let too_large = || BundleError::FileTooLarge {
        path: path.to_owned(),
        max_bytes,
    };
    if entry.size() > max_bytes {
        return Err(too_large());
    }
    // The declared size can lie: read one byte past the limit to tell.
    let mut out = Vec::with_capacity(entry.size() as usize);
    entry
        .take(max_bytes + 1)
        .read_to_end(&mut out)
        .map_err(|e| BundleError::Read {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if out.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A bundle as sentry-cli 3.8 builds it (the manifest copied from a real upload).
    pub(crate) fn bundle(files: &[(&str, &[u8])], manifest: &str) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut z = zip::ZipWriter::new(Cursor::new(&mut out));
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, data) in files {
                z.start_file(*name, opts).unwrap();
                z.write_all(data).unwrap();
            }
            z.start_file("manifest.json", opts).unwrap();
            z.write_all(manifest.as_bytes()).unwrap();
            z.finish().unwrap();
        }
        out
    }

    pub(crate) const MANIFEST: &str = r#"{"files":{"files/_/_/app.min.js":{"type":"minified_source","url":"~/app.min.js","headers":{"debug-id":"f9e36468-0e5a-59e6-bfff-1f71202f98ba","sourcemap":"app.min.js.map"}},"files/_/_/app.min.js.map":{"type":"source_map","url":"~/app.min.js.map","headers":{"debug-id":"f9e36468-0e5a-59e6-bfff-1f71202f98ba"}}},"debug_id":"8c0ec8c8-5468-5681-a38a-390fdcb843d9","org":"myorg","project":"myproj","release":"1.0"}"#;

    #[test]
    fn a_sentry_cli_bundle_is_indexed() {
        let b = bundle(
            &[
                ("files/_/_/app.min.js", b"function a(){}"),
                ("files/_/_/app.min.js.map", b"{}"),
            ],
            MANIFEST,
        );
        let index = read_index(&b).unwrap();
        assert_eq!(index.release.as_deref(), Some("1.0"));
        assert_eq!(index.files.len(), 2);
        let min = index
            .files
            .iter()
            .find(|f| f.kind == BundleFileKind::MinifiedSource)
            .unwrap();
        assert_eq!(min.url, "~/app.min.js");
        assert_eq!(min.sourcemap.as_deref(), Some("app.min.js.map"));
        assert_eq!(
            min.debug_id.as_deref(),
            Some("f9e36468-0e5a-59e6-bfff-1f71202f98ba")
        );
        assert_eq!(
            read_file(&b, "files/_/_/app.min.js", 100).unwrap(),
            b"function a(){}"
        );
        assert!(matches!(
            read_file(&b, "files/_/_/app.min.js", 3),
            Err(BundleError::FileTooLarge { .. })
        ));
    }

    #[test]
    fn malformed_bundles_are_named() {
        assert!(matches!(
            read_index(b"not a zip"),
            Err(BundleError::NotZip(_))
        ));
        let b = bundle(&[], MANIFEST);
        assert!(matches!(read_index(&b), Err(BundleError::MissingFile(_))));
        let b = bundle(&[("files/x.js", b"x")], "{\"files\": 3}");
        assert!(matches!(read_index(&b), Err(BundleError::Manifest(_))));
        let mut out = Vec::new();
        {
            let mut z = zip::ZipWriter::new(Cursor::new(&mut out));
            z.start_file("x", zip::write::SimpleFileOptions::default())
                .unwrap();
            z.finish().unwrap();
        }
        assert!(matches!(read_index(&out), Err(BundleError::NoManifest)));
    }
}
