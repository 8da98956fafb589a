//! Which format each store of a data directory is in, so that a newer Pharos upgrades an
//! older directory and an older Pharos refuses a newer one instead of misreading it.
//! `format.json` in the data directory records the formats and the Pharos that wrote
//! them; it is checked before any store opens and written again once all have opened.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const FILE: &str = "format.json";

/// Each store's format, by the name of its file or directory in the data directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreFormats(pub BTreeMap<String, u32>);

impl StoreFormats {
    /// The formats this Pharos writes (and reads, with every older one).
    pub fn current() -> StoreFormats {
        StoreFormats(BTreeMap::from([
            ("pharos.db".to_string(), pharos_store::PHAROS_DB_FORMAT),
            ("errors.db".to_string(), pharos_store::ERRORS_DB_FORMAT),
            ("metrics".to_string(), pharos_tsdb::STORE_FORMAT),
            ("logs".to_string(), pharos_logs::STORE_FORMAT),
        ]))
    }

    /// The stores in `self` newer than this Pharos reads, as `name format N (reads up to M)`.
    pub fn newer_than_current(&self) -> Vec<String> {
        let current = StoreFormats::current();
        self.0
            .iter()
            .filter_map(|(name, &found)| {
                let known = current.0.get(name).copied().unwrap_or(0);
                (found > known)
                    .then(|| format!("{name} is format {found} (this Pharos reads up to {known})"))
            })
            .collect()
    }
}

/// What `format.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataFormat {
    /// `pharos <version> (commit <sha>)` of the binary that last opened the directory.
    pub written_by: String,
    pub stores: StoreFormats,
}

/// Refuses a data directory a newer Pharos wrote. A directory without `format.json` is
/// new or older than format records, and opens (its databases are checked again by the
/// store itself).
pub fn check_data_dir(data_dir: &Path) -> Result<(), String> {
    let path = data_dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let found: DataFormat = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a data directory format record: {e}",
            path.display()
        )
    })?;
    let newer = found.stores.newer_than_current();
    if newer.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the data directory {} was written by a newer Pharos ({}): {}. This Pharos would misread it: run {} or newer, or restore a backup taken before the upgrade",
        data_dir.display(),
        found.written_by,
        newer.join("; "),
        found.written_by,
    ))
}

/// Records this Pharos's formats, once every store has opened (and so upgraded).
pub fn record(data_dir: &Path, written_by: &str) -> std::io::Result<()> {
    record_formats(data_dir, written_by, &StoreFormats::current())
}

/// Records `stores` as the formats of the directory's stores (a restore records the
/// backup's).
pub fn record_formats(
    data_dir: &Path,
    written_by: &str,
    stores: &StoreFormats,
) -> std::io::Result<()> {
    let record = DataFormat {
        written_by: written_by.to_string(),
        stores: stores.clone(),
    };
    let text = serde_json::to_string_pretty(&record).map_err(std::io::Error::other)?;
    super::files::write_synced(&data_dir.join(FILE), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_from_a_newer_pharos_is_refused_by_name_and_version() {
        let dir = std::env::temp_dir().join(format!("pharos-format-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(check_data_dir(&dir), Ok(()), "a new directory");
        record(&dir, "pharos 0.1.0 (commit abc)").unwrap();
        assert_eq!(check_data_dir(&dir), Ok(()), "this Pharos's own record");
        let mut newer = StoreFormats::current();
        *newer.0.get_mut("metrics").unwrap() += 1;
        let text = serde_json::to_string(&DataFormat {
            written_by: "pharos 9.0.0 (commit fff)".into(),
            stores: newer,
        })
        .unwrap();
        std::fs::write(dir.join(FILE), text).unwrap();
        let e = check_data_dir(&dir).unwrap_err();
        assert!(
            e.contains("written by a newer Pharos (pharos 9.0.0 (commit fff))"),
            "{e}"
        );
        assert!(
            e.contains(&format!(
                "metrics is format {}",
                pharos_tsdb::STORE_FORMAT + 1
            )),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
