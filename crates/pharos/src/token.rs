//! The admin token: from `PHAROS_ADMIN_TOKEN`, or made on first start and kept in the
//! data directory (mode 0600). It is printed once, when made, and never logged.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use rand::RngCore;

pub const FILE: &str = "admin_token";

pub struct AdminToken {
    pub value: String,
    /// True when made just now, so the caller shows it once.
    pub created: bool,
}

pub fn load_or_create(data_dir: &Path) -> anyhow::Result<AdminToken> {
    if let Ok(v) = std::env::var("PHAROS_ADMIN_TOKEN") {
        let v = v.trim().to_string();
        if v.len() < 16 {
            bail!("PHAROS_ADMIN_TOKEN is too short: use at least 16 characters");
        }
        return Ok(AdminToken {
            value: v,
            created: false,
        });
    }
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(v) if !v.trim().is_empty() => {
            return Ok(AdminToken {
                value: v.trim().to_string(),
                created: false,
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let value = format!("pharos_{}", hex::encode(bytes));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(value.as_bytes())?;
    f.sync_all()?;
    Ok(AdminToken {
        value,
        created: true,
    })
}
