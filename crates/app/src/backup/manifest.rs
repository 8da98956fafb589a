//! `manifest.json`: what a backup holds and how to tell it is whole. It is written last,
//! so a backup without one was interrupted.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::formats::StoreFormats;

pub const FILE: &str = "manifest.json";

/// The layout of a backup directory; a restore refuses a later one.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    /// `pharos <version> (commit <sha>)` of the Pharos that took the backup.
    pub written_by: String,
    /// When the backup began: everything acknowledged before this is in it.
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub stores: StoreFormats,
    pub files: Vec<ManifestFile>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// Reads a backup's manifest, saying plainly when the directory is not a whole backup.
    pub fn read(backup: &Path) -> Result<Manifest, String> {
        let path = backup.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "{} is not a complete backup: it has no {FILE} (a backup writes it last, so the backup was interrupted or this is not a backup directory)",
                    backup.display()
                ));
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| format!("{} is damaged: {e}", path.display()))?;
        if manifest.manifest_version > MANIFEST_VERSION {
            return Err(format!(
                "{} was written by a newer Pharos ({}; backup layout {}, this Pharos reads up to {MANIFEST_VERSION})",
                backup.display(),
                manifest.written_by,
                manifest.manifest_version
            ));
        }
        for f in &manifest.files {
            // A manifest names files inside the backup, never `..` or an absolute path.
            if f.path.is_absolute()
                || f.path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(format!(
                    "{} is damaged: it names {}",
                    path.display(),
                    f.path.display()
                ));
            }
        }
        Ok(manifest)
    }
}
