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
/// file's size and SHA-256 on the way. The copy is staged in a hidden directory inside
/// `data_dir` and moved into place only when every file checked, so a failed restore
/// leaves `data_dir` as it found it.
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
    // Staged inside the data directory itself: its parent (`/var/lib`) is often not
    // writable by the user Pharos runs as, the directory is.
    let created = !data_dir.exists();
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let staging = data_dir.join(format!(".restoring-{}", std::process::id()));
    let give_up = |why: String| {
        let _ = std::fs::remove_dir_all(&staging);
        if created {
            let _ = std::fs::remove_dir(data_dir);
        }
        why
    };
    std::fs::create_dir_all(&staging)
        .map_err(|e| give_up(format!("cannot create {}: {e}", staging.display())))?;
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
        return Err(give_up(message));
    }
    // Every file checked: move the top-level entries into place.
    let entries = std::fs::read_dir(&staging)
        .map_err(|e| give_up(format!("cannot read {}: {e}", staging.display())))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| give_up(format!("cannot read {}: {e}", staging.display())))?;
        let to = data_dir.join(entry.file_name());
        std::fs::rename(entry.path(), &to).map_err(|e| {
            give_up(format!(
                "cannot move the restored {} into place: {e}",
                to.display()
            ))
        })?;
    }
    std::fs::remove_dir(&staging)
        .map_err(|e| format!("cannot remove {}: {e}", staging.display()))?;
    // The formats the backup's stores are in, so an older Pharos refuses the directory.
    super::formats::record_formats(data_dir, &manifest.written_by, &manifest.stores).map_err(
        |e| {
            format!(
                "cannot write {}: {e}",
                data_dir.join(super::formats::FILE).display()
            )
        },
    )?;
    files::sync_dir(data_dir).map_err(|e| format!("cannot sync {}: {e}", data_dir.display()))?;
    Ok(RestoreReport {
        files: manifest.files.len(),
        bytes: manifest.total_bytes(),
        written_by: manifest.written_by,
        started_at: manifest.started_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::formats::StoreFormats;
    use crate::backup::manifest::{FILE, MANIFEST_VERSION, ManifestFile};

    fn backup_with(dir: &Path, files: &[(&str, &[u8])]) {
        std::fs::create_dir_all(dir).unwrap();
        let mut listed = Vec::new();
        for (name, bytes) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
            let (bytes, sha256) = files::checksum(&path, None).unwrap();
            listed.push(ManifestFile {
                path: name.into(),
                bytes,
                sha256,
            });
        }
        let manifest = Manifest {
            manifest_version: MANIFEST_VERSION,
            written_by: "pharos test".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            stores: StoreFormats::current(),
            files: listed,
        };
        std::fs::write(dir.join(FILE), serde_json::to_vec(&manifest).unwrap()).unwrap();
    }

    /// The packaged layout: `/var/lib/pharos` exists, empty, owned by the service user,
    /// whose parent it cannot write; the restore works inside it.
    #[test]
    fn a_restore_fills_an_existing_empty_directory_and_refuses_a_full_one() {
        let root = std::env::temp_dir().join(format!("pharos-restore-{}", rand::random::<u64>()));
        let backup = root.join("backup");
        backup_with(
            &backup,
            &[("pharos.db", b"db"), ("metrics/wal/00000001", b"wal")],
        );
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let report = restore(&backup, &data).unwrap();
        assert_eq!(report.files, 2);
        assert_eq!(
            std::fs::read(data.join("metrics/wal/00000001")).unwrap(),
            b"wal"
        );
        let names: Vec<String> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains("restoring")), "{names:?}");
        // Review finding: without the backup's formats recorded, an older Pharos would
        // open a restored directory of a newer one.
        let format: serde_json::Value = serde_json::from_slice(
            &std::fs::read(data.join(crate::backup::formats::FILE)).unwrap(),
        )
        .unwrap();
        assert_eq!(format["written_by"], "pharos test");
        let e = restore(&backup, &data).unwrap_err();
        assert!(e.contains("is not empty"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
