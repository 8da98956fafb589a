//! Durable stores in the data directory. One SQLite database (`pharos.db`, WAL mode) holds
//! monitors and their status, every probe result with hourly uptime roll-ups, alerts,
//! notification deliveries and maintenance windows. A lock file keeps a second process off
//! the same directory.
//!
//! Durability: every write commits before the caller answers anyone. WAL with
//! `synchronous=NORMAL` survives a killed process (the OS keeps the pages); a power cut may
//! lose the last transactions, the trade-off Prometheus's WAL makes too.
//!
//! Error tracking lives in a second file, `errors.db` (see [`errors`]); uploaded source
//! maps are files in `sourcemaps/` (see [`source_maps`]).
//!
//! Every method is blocking; async callers use `spawn_blocking`.

mod access;
pub use access::{TokenGrant, UserCredential};
mod alerts;
mod deliveries;
pub mod errors;
mod history;
mod incidents;
mod maintenance;
mod monitors;
mod notification_log;
mod results;
mod schema;
mod scrape_jobs;
mod silences;
mod snapshot;
pub mod source_maps;
mod status_pages;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

pub use alerts::AlertRecord;
pub use deliveries::{Delivery, DeliveryOutcome, NewDelivery};
pub use errors::ERRORS_DB_FORMAT;
pub use errors::ErrorStore;
pub use history::{AlertSearch, DeliverySearch, IntegrationRecord};
pub use incidents::{
    IncidentEvent, IncidentQuery, IncidentRecord, IncidentState, NewIncident, NewIncidentEvent,
};
pub use monitors::{MonitorRecord, MonitorSealer, MonitorSource, MonitorStatus, StatusCounts};
pub use notification_log::NotificationLogEntry;
pub use results::{HourlyChecks, LatencySummary, Outage, ResultBucket, Uptime};
pub use schema::PHAROS_DB_FORMAT;
pub use scrape_jobs::ScrapeJobRecord;
pub use silences::{SilenceMatcher, SilenceRecord, new_silence_id};
pub use status_pages::{DayChecks, NewStatusPost, NewStatusUpdate, StatusPostChange};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "data directory {path} is in use by another Pharos process (lock file {path}/LOCK); stop it or choose another --data-dir"
    )]
    Locked { path: PathBuf },
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} was written by a newer Pharos (schema version {found}; this Pharos knows up to {known}): run that version or a newer one, or restore a backup taken before the upgrade",
        path.display()
    )]
    NewerFormat {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the store is busy; try again shortly")]
    Busy,
    /// An issue search with an `is:` value that is not an issue state.
    #[error("is:{0} is not a state (unresolved, resolved, ignored, regressed, new)")]
    UnknownIssueState(String),
    /// An issue search with an `assigned:` value that is neither `me`, `none` nor a user id.
    #[error("assigned:{0} is not a user (me, none or a user id)")]
    UnknownAssignee(String),
    /// An issue search with a `project:` value that is not a number.
    #[error("project:{value} is not a project id")]
    InvalidProjectId {
        value: String,
        source: std::num::ParseIntError,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One SQLite database file: a writer connection and a small pool of readers.
pub(crate) struct Db {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

const READERS: usize = 4;

impl Db {
    fn open(path: &Path, migrate: impl FnOnce(&Connection) -> Result<()>) -> Result<Db> {
        let writer = Connection::open(path)?;
        writer.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        )?;
        migrate(&writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = Connection::open(path)?;
            c.execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;")?;
            readers.push(c);
        }
        Ok(Db {
            writer: Mutex::new(writer),
            readers: Mutex::new(readers),
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match conn {
            Some(conn) => {
                let out = f(&conn);
                self.readers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
                out
            }
            // All readers busy: the writer connection reads just as well.
            None => self.write(|c| f(c)),
        }
    }
}

/// The embedded store. Cheap to share behind an `Arc`.
pub struct Store {
    dir: PathBuf,
    db: Db,
    errors: ErrorStore,
    source_maps: source_maps::SourceMapStore,
    // Held for the life of the process: the OS lock is released when the file closes,
    // including on kill -9, so a crashed Pharos never leaves a stale lock behind.
    _lock: File,
    /// Seals API monitors' credentials; until it is set they are stored as given.
    monitor_sealer: std::sync::OnceLock<std::sync::Arc<dyn monitors::MonitorSealer>>,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_with(dir, true)
    }

    /// Opens the databases of a data directory a running Pharos may hold, without its
    /// lock, for short admin commands (`pharos user add`); SQLite serialises the writes.
    pub fn open_alongside(dir: &Path) -> Result<Store> {
        Store::open_with(dir, false)
    }

    fn open_with(dir: &Path, exclusive: bool) -> Result<Store> {
        let io = |source| StoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(io)?;
        if exclusive {
            match lock.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Locked {
                        path: dir.to_path_buf(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        let db = Db::open(&dir.join("pharos.db"), schema::migrate)?;
        let errors = ErrorStore::open(&dir.join("errors.db"))?;
        let source_maps = source_maps::SourceMapStore::open(&dir.join("sourcemaps"))?;
        Ok(Store {
            dir: dir.to_path_buf(),
            db,
            errors,
            source_maps,
            _lock: lock,
            monitor_sealer: std::sync::OnceLock::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The error-tracking store (projects, issues, events, transactions, sessions), a
    /// database file of its own so that event bursts never wait on monitor writes.
    pub fn errors(&self) -> &ErrorStore {
        &self.errors
    }

    /// Uploaded source-map bundles, files in `sourcemaps/` (see [`source_maps`]).
    pub fn source_maps(&self) -> &source_maps::SourceMapStore {
        &self.source_maps
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.db.write(f)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.db.read(f)
    }

    /// Size of the database files on disk, for `/metrics` and the readiness check.
    pub fn size_bytes(&self) -> u64 {
        [
            "pharos.db",
            "pharos.db-wal",
            "pharos.db-shm",
            "errors.db",
            "errors.db-wal",
            "errors.db-shm",
        ]
        .iter()
        .filter_map(|f| std::fs::metadata(self.dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
    }

    /// A real write round-trip to both databases, for `/health/ready`.
    pub fn check_writable(&self) -> Result<()> {
        self.write(|c| {
            c.execute("INSERT INTO meta(key, value) VALUES('ready_check', datetime('now')) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [])?;
            Ok(())
        })?;
        self.errors.check_writable()
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.read(|c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write(|c| {
            c.execute("INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])?;
            Ok(())
        })
    }
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(v).unwrap_or_default()
}

#[cfg(test)]
pub(crate) fn temp_store() -> (Store, PathBuf) {
    let dir = std::env::temp_dir().join(format!("pharos-store-test-{}", rand::random::<u64>()));
    (Store::open(&dir).unwrap(), dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_of_one_directory_is_refused() {
        let (_store, dir) = temp_store();
        let err = Store::open(&dir).err().expect("second open must fail");
        assert!(
            err.to_string().contains("in use by another Pharos"),
            "{err}"
        );
    }

    /// A downgrade: the database has seen a schema step this Pharos does not know.
    #[test]
    fn a_database_from_a_newer_pharos_is_refused_and_left_as_it_was() {
        let (store, dir) = temp_store();
        drop(store);
        let newer = i64::from(PHAROS_DB_FORMAT) + 1;
        Connection::open(dir.join("pharos.db"))
            .unwrap()
            .execute_batch(&format!("PRAGMA user_version = {newer};"))
            .unwrap();
        let err = Store::open(&dir)
            .err()
            .expect("a newer database must be refused");
        assert!(
            matches!(err, StoreError::NewerFormat { found, .. } if found == newer),
            "{err}"
        );
        assert!(
            err.to_string().contains("written by a newer Pharos"),
            "{err}"
        );
        let version: i64 = Connection::open(dir.join("pharos.db"))
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, newer, "the file is not touched");
    }

    #[test]
    fn a_snapshot_holds_what_was_committed_before_it() {
        let (store, dir) = temp_store();
        store.set_meta("before", "yes").unwrap();
        let copy = dir.with_extension("copy");
        std::fs::create_dir_all(&copy).unwrap();
        store.snapshot(&copy).unwrap();
        store.set_meta("after", "yes").unwrap();
        drop(store);
        let restored = Store::open(&copy).unwrap();
        assert_eq!(restored.meta("before").unwrap().as_deref(), Some("yes"));
        assert_eq!(restored.meta("after").unwrap(), None);
    }
}
