//! `pharos restore`: a backup into a new data directory, checked file by file against its
//! manifest first, so a damaged or partial backup is refused before anything is written
//! where Pharos will look.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::files;
use super::manifest::Manifest;

#[derive(Debug)]
pub struct RestoreReport {
    pub files: usize,
    pub bytes: u64,
    pub written_by: String,
    pub started_at: DateTime<Utc>,
}

/// How many problems a refusal lists before it says "and N more".
const LISTED: usize = 10;

/// Copies the backup into `data_dir` (which must not exist, or be empty), checking every
/// file's size and SHA-256 on the way. The copy is made beside `data_dir` and renamed into
/// place only when every file checked, so a failed restore leaves nothing behind.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<RestoreReport, String> {
    let manifest = Manifest::read(backup)?;
    let newer = manifest.stores.newer_than_current();
    if !newer.is_empty() {
        return Err(format!(
            "{} was taken by a newer Pharos ({}): {}; restore it with that version or a newer one",
            backup.display(),
            manifest.written_by,
            newer.join("; ")
        ));
    }
    match files::target(data_dir) {
        Ok(files::Target::NotEmpty) => {
            return Err(format!(
                "{} is not empty: restore into a new directory (stop Pharos and move the old one aside first)",
                data_dir.display()
            ));
        }
        Ok(_) => {}
        Err(e) => return Err(format!("cannot read {}: {e}", data_dir.display())),
    }
    let name = data_dir
        .file_name()
        .ok_or_else(|| format!("{} names no directory", data_dir.display()))?;
    let parent = match data_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = parent.join(format!(
        ".{}.restoring-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let mut problems = Vec::new();
    for f in &manifest.files {
        match files::checksum(&backup.join(&f.path), Some(&staging.join(&f.path))) {
            Ok((bytes, sha256)) if bytes == f.bytes && sha256 == f.sha256 => {}
            Ok((bytes, _)) if bytes != f.bytes => problems.push(format!(
                "{}: {bytes} bytes, the manifest says {}",
                f.path.display(),
                f.bytes
            )),
            Ok(_) => problems.push(format!(
                "{}: its checksum differs from the manifest's",
                f.path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("{}: missing", f.path.display()))
            }
            Err(e) => problems.push(format!("{}: {e}", f.path.display())),
        }
    }
    if !problems.is_empty() {
        let _ = std::fs::remove_dir_all(&staging);
        let more = problems.len().saturating_sub(LISTED);
        problems.truncate(LISTED);
        let mut message = format!(
            "{} is damaged; nothing was restored:\n  {}",
            backup.display(),
            problems.join("\n  ")
        );
        if more > 0 {
            message.push_str(&format!("\n  and {more} more"));
        }
        return Err(message);
    }
    if data_dir.exists() {
        std::fs::remove_dir(data_dir)
            .map_err(|e| format!("cannot replace {}: {e}", data_dir.display()))?;
    }
    std::fs::rename(&staging, data_dir).map_err(|e| {
        format!(
            "cannot move the restored files to {}: {e}",
            data_dir.display()
        )
    })?;
    files::sync_dir(&parent).map_err(|e| format!("cannot sync {}: {e}", parent.display()))?;
    Ok(RestoreReport {
        files: manifest.files.len(),
        bytes: manifest.total_bytes(),
        written_by: manifest.written_by,
        started_at: manifest.started_at,
    })
}
