//! Uploaded JavaScript source maps, as files in `data_dir/sourcemaps/` (not in
//! `errors.db`: bundles run to megabytes, and writing them must not hold up the error
//! store's writer):
//!
//! - `chunks/<sha1>`: chunks `sentry-cli` uploaded and no bundle has used yet;
//! - `bundles/<project id>/<sha1>.zip`: an assembled artifact bundle, and beside it
//!   `<sha1>.json`, its [`StoredBundle`] (project, size, time, the manifest's index).
//!
//! Every file is written to a temporary name, synced and renamed, and the directory
//! synced, before the call returns; a bundle's `.json` is written after its `.zip`, so a
//! bundle without one was never acknowledged and is removed at open. The store knows no
//! zip or manifest format: the index comes from the caller.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pharos_model::source_maps::StoredBundle;

use crate::{Result, StoreError};

pub struct SourceMapStore {
    dir: PathBuf,
}

/// Chunk and bundle names are SHA-1s; anything else never becomes a path.
pub fn is_sha1(name: &str) -> bool {
    name.len() == 40 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl SourceMapStore {
    pub fn open(dir: &Path) -> Result<SourceMapStore> {
        let s = SourceMapStore {
            dir: dir.to_path_buf(),
        };
        fs::create_dir_all(s.chunks_dir()).map_err(|e| io(&s.chunks_dir(), e))?;
        fs::create_dir_all(s.bundles_dir()).map_err(|e| io(&s.bundles_dir(), e))?;
        s.remove_unfinished()?;
        Ok(s)
    }

    fn chunks_dir(&self) -> PathBuf {
        self.dir.join("chunks")
    }

    fn bundles_dir(&self) -> PathBuf {
        self.dir.join("bundles")
    }

    fn bundle_dir(&self, project_id: i64) -> PathBuf {
        self.bundles_dir().join(project_id.to_string())
    }

    /// Temporary files of writes a crash cut short, and bundles without their index.
    fn remove_unfinished(&self) -> Result<()> {
        for dir in self.all_dirs()? {
            for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))?.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                let orphan_zip = name
                    .strip_suffix(".zip")
                    .is_some_and(|stem| !dir.join(format!("{stem}.json")).exists());
                if name.ends_with(".tmp") || orphan_zip {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        Ok(())
    }

    fn all_dirs(&self) -> Result<Vec<PathBuf>> {
        let mut dirs = vec![self.chunks_dir()];
        let bundles = self.bundles_dir();
        for entry in fs::read_dir(&bundles)
            .map_err(|e| io(&bundles, e))?
            .flatten()
        {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(entry.path());
            }
        }
        Ok(dirs)
    }

    /// Stores a chunk under its SHA-1 (checked by the caller).
    pub fn put_chunk(&self, sha1: &str, data: &[u8]) -> Result<()> {
        let path = self.chunk_path(sha1)?;
        write_durably(&path, data)
    }

    pub fn has_chunk(&self, sha1: &str) -> bool {
        self.chunk_path(sha1).is_ok_and(|p| p.exists())
    }

    pub fn read_chunk(&self, sha1: &str) -> Result<Option<Vec<u8>>> {
        let path = self.chunk_path(sha1)?;
        match fs::read(&path) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    pub fn remove_chunk(&self, sha1: &str) -> Result<()> {
        let path = self.chunk_path(sha1)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Bytes held by chunks not yet assembled, after dropping those older than `max_age`
    /// (an upload that never asked for its bundle to be assembled).
    pub fn pending_chunk_bytes(&self, max_age: Duration) -> Result<u64> {
        let dir = self.chunks_dir();
        let now = SystemTime::now();
        let mut total = 0;
        for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))?.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .unwrap_or_default();
            if age > max_age {
                let _ = fs::remove_file(entry.path());
            } else {
                total += meta.len();
            }
        }
        Ok(total)
    }

    fn chunk_path(&self, sha1: &str) -> Result<PathBuf> {
        if !is_sha1(sha1) {
            return Err(StoreError::Conflict(format!("{sha1:?} is not a SHA-1")));
        }
        Ok(self.chunks_dir().join(sha1))
    }

    /// Stores an assembled bundle and its index; durable when this returns.
    pub fn put_bundle(&self, bundle: &StoredBundle, data: &[u8]) -> Result<()> {
        if !is_sha1(&bundle.checksum) {
            return Err(StoreError::Conflict(format!(
                "{:?} is not a SHA-1",
                bundle.checksum
            )));
        }
        let dir = self.bundle_dir(bundle.project_id);
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        write_durably(&dir.join(format!("{}.zip", bundle.checksum)), data)?;
        let index = serde_json::to_vec(bundle).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        write_durably(&dir.join(format!("{}.json", bundle.checksum)), &index)
    }

    /// Every stored bundle's index, oldest first. An index that cannot be read is skipped
    /// with a warning (its bundle cannot be looked up, and is not lost).
    pub fn bundles(&self) -> Result<Vec<StoredBundle>> {
        let mut out = Vec::new();
        for dir in self.all_dirs()?.into_iter().skip(1) {
            for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))?.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                match fs::read(&path).map_err(|e| e.to_string()).and_then(|d| {
                    serde_json::from_slice::<StoredBundle>(&d).map_err(|e| e.to_string())
                }) {
                    Ok(b) => out.push(b),
                    Err(e) => {
                        tracing::warn!(operation = "source_maps_open", path = %path.display(), error = %e, "bundle index not read")
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            a.stored_at
                .cmp(&b.stored_at)
                .then(a.checksum.cmp(&b.checksum))
        });
        Ok(out)
    }

    pub fn read_bundle(&self, project_id: i64, checksum: &str) -> Result<Option<Vec<u8>>> {
        if !is_sha1(checksum) {
            return Ok(None);
        }
        let path = self.bundle_dir(project_id).join(format!("{checksum}.zip"));
        match fs::read(&path) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Removes a bundle: its index first, so a crash half-way leaves an orphan zip that the
    /// next open removes, never an index without its bundle.
    pub fn delete_bundle(&self, project_id: i64, checksum: &str) -> Result<()> {
        if !is_sha1(checksum) {
            return Ok(());
        }
        let dir = self.bundle_dir(project_id);
        for ext in ["json", "zip"] {
            let path = dir.join(format!("{checksum}.{ext}"));
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path, e)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Written under a temporary name, synced, renamed, and the directory synced.
fn write_durably(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(match path.extension() {
        Some(e) => format!("{}.tmp", e.to_string_lossy()),
        None => "tmp".into(),
    });
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(path, e)
    })
}

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::source_maps::BundleIndex;

    fn bundle(project_id: i64, checksum: &str, stored_at: i64) -> StoredBundle {
        StoredBundle {
            project_id,
            checksum: checksum.into(),
            bytes: 3,
            stored_at,
            index: BundleIndex {
                bundle_id: None,
                release: Some("1.0".into()),
                dist: None,
                files: Vec::new(),
            },
        }
    }

    #[test]
    fn chunks_and_bundles_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("pharos-sm-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let s = SourceMapStore::open(&dir).unwrap();
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        s.put_chunk(&a, b"abc").unwrap();
        assert!(s.has_chunk(&a));
        assert!(s.put_chunk("../../etc/passwd", b"x").is_err());
        s.put_bundle(&bundle(1, &b, 20), b"zip").unwrap();
        s.put_bundle(&bundle(2, &a, 10), b"zip").unwrap();
        // A crash between the zip and its index: the zip was never acknowledged.
        fs::write(
            dir.join("bundles/1")
                .join(format!("{}.zip", "c".repeat(40))),
            b"x",
        )
        .unwrap();
        fs::write(dir.join("chunks").join("x.tmp"), b"x").unwrap();
        drop(s);

        let s = SourceMapStore::open(&dir).unwrap();
        assert_eq!(s.read_chunk(&a).unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(s.pending_chunk_bytes(Duration::from_secs(3600)).unwrap(), 3);
        let all = s.bundles().unwrap();
        assert_eq!(
            all.iter().map(|b| b.stored_at).collect::<Vec<_>>(),
            vec![10, 20]
        );
        assert_eq!(s.read_bundle(1, &b).unwrap().as_deref(), Some(&b"zip"[..]));
        assert!(
            !dir.join("bundles/1")
                .join(format!("{}.zip", "c".repeat(40)))
                .exists()
        );
        assert!(!dir.join("chunks/x.tmp").exists());
        s.delete_bundle(1, &b).unwrap();
        assert_eq!(s.bundles().unwrap().len(), 1);
        assert_eq!(s.pending_chunk_bytes(Duration::ZERO).unwrap(), 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
