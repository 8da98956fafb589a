//! A consistent copy of the databases while Pharos runs. Each
//! database is copied by `VACUUM INTO` on a connection of its own: one read transaction,
//! which in WAL mode does not hold up the writers, so the copy is the database as of its
//! start, compacted, in a single file.

use std::path::Path;

use rusqlite::Connection;

use crate::{Result, Store};

impl Store {
    /// Writes `pharos.db` and `errors.db` into `dest` (an existing directory). The
    /// source-map files are plain files, copied by the caller. Blocking: run it off the
    /// async threads.
    pub fn snapshot(&self, dest: &Path) -> Result<()> {
        for db in ["pharos.db", "errors.db"] {
            let conn = Connection::open(self.dir.join(db))?;
            conn.execute_batch("PRAGMA busy_timeout=5000;")?;
            let to = dest.join(db);
            conn.execute("VACUUM INTO ?1", [to.to_string_lossy()])?;
        }
        Ok(())
    }
}
