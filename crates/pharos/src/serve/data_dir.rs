//! Who may read the data directory: only the user Pharos runs as. It holds the admin
//! token, the key that seals credentials, every event, log line and series, so the
//! directory is 0700 and what Pharos writes in it 0600 (umask 077), and a directory made
//! by an older version, 0755 with 0644 files, is closed at start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;

/// Sets the process umask to 077, makes the directory if needed, and takes group and
/// other permissions off it and everything under it (symbolic links are not followed).
pub fn make_private(data_dir: &Path) -> anyhow::Result<()> {
    // SAFETY: umask only changes the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    close(data_dir)
        .with_context(|| format!("cannot restrict permissions under {}", data_dir.display()))
}

fn close(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7700))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            close(&entry?.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_open_data_directory_is_closed_at_start() {
        let dir = std::env::temp_dir().join(format!("pharos-data-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("metrics/wal")).unwrap();
        std::fs::write(dir.join("pharos.db"), b"x").unwrap();
        std::fs::write(dir.join("metrics/wal/000001"), b"x").unwrap();
        for p in [&dir, &dir.join("metrics"), &dir.join("metrics/wal")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for p in [dir.join("pharos.db"), dir.join("metrics/wal/000001")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        make_private(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("metrics/wal")), 0o700);
        assert_eq!(mode(&dir.join("pharos.db")), 0o600);
        assert_eq!(mode(&dir.join("metrics/wal/000001")), 0o600);
        std::fs::write(dir.join("new.db"), b"x").unwrap();
        assert_eq!(mode(&dir.join("new.db")), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
