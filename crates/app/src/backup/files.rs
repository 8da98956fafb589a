//! File operations a backup and a restore are made of: synced writes, tree copies and
//! checksums.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Writes `path` under a temporary name, syncs it, renames it and syncs the directory,
/// so that after a crash the file is either the old one or the whole new one.
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Copies the files under `from` into `to`. Files written once under a temporary name
/// and renamed (source maps, dashboards, certificates) are hard-linked where the two are
/// on one file system; a `.tmp` file, or one removed meanwhile, was never finished.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let entries = match fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    fs::create_dir_all(to)?;
    for entry in entries {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            // Pharos writes none; one placed by hand is copied as the file it points at,
            // so the backup holds bytes, not a link that means something else elsewhere.
            if std::fs::metadata(&src).is_ok_and(|m| m.is_file()) {
                fs::copy(&src, &dst)?;
            }
        } else if !entry.file_name().to_string_lossy().ends_with(".tmp") {
            match fs::hard_link(&src, &dst).or_else(|_| fs::copy(&src, &dst).map(|_| ())) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Every regular file under `root`, as paths relative to it, sorted.
pub fn list_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if !kind.is_file() {
                // Only regular files are listed: a restore never follows a link.
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// The file's size and SHA-256 (hex). With `copy_to`, also writes the bytes read there
/// and syncs them, so a restore reads each file once.
pub fn checksum(path: &Path, copy_to: Option<&Path>) -> std::io::Result<(u64, String)> {
    let mut input = File::open(path)?;
    let mut out = match copy_to {
        Some(to) => {
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)?;
            }
            Some(File::create(to)?)
        }
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(out) = &mut out {
            out.write_all(&buf[..n])?;
        }
        size += n as u64;
    }
    if let Some(out) = out {
        out.sync_all()?;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Whether a directory a backup or restore is to write is free for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Missing,
    Empty,
    NotEmpty,
}

pub fn target(dir: &Path) -> std::io::Result<Target> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(if entries.next().is_some() {
            Target::NotEmpty
        } else {
            Target::Empty
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::Missing),
        Err(e) => Err(e),
    }
}
