//! What Pharos knows of an uploaded artifact bundle (`sentry-cli sourcemaps upload`): its
//! release and the files it holds, each with the URL it was served under and its debug
//! id. The store keeps this index beside the bundle; symbolication looks maps up by it.

use serde::{Deserialize, Serialize};

/// The files of one artifact bundle, as its `manifest.json` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleIndex {
    /// The bundle's own id (`debug_id` of the manifest), when sentry-cli sent one.
    #[serde(default)]
    pub bundle_id: Option<String>,
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub dist: Option<String>,
    pub files: Vec<BundleFile>,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleFile {
    /// Its path inside the zip (`files/_/_/app.min.js`).
    pub path: String,
    /// The URL it was served under, `~/` standing for any scheme and host (`~/app.min.js`).
    pub url: String,
    pub kind: BundleFileKind,
    /// Lowercase hyphenated UUID (`sentry-cli sourcemaps inject` writes the same id into
    /// the minified file and its map).
    #[serde(default)]
    pub debug_id: Option<String>,
    /// For a minified file: its `sourceMappingURL` (relative to `url`).
    #[serde(default)]
    pub sourcemap: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleFileKind {
    MinifiedSource,
    SourceMap,
    Source,
    IndexedRamBundle,
    Other,
}

/// A stored bundle: which project it belongs to, its SHA-1 and size, and its index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredBundle {
    pub project_id: i64,
    /// SHA-1 of the bundle, 40 lowercase hex characters (its name on disk).
    pub checksum: String,
    pub bytes: u64,
    /// Seconds since the epoch when it was stored; the oldest go first when a project is
    /// over its budget.
    pub stored_at: i64,
    pub index: BundleIndex,
}
