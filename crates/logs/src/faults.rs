//! Write failures the tests switch on and off, as a full disk or a read-only remount
//! would cause them, so recovery is tested without mount privileges.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub(crate) struct Faults {
    /// Every WAL write puts at most this many bytes on disk, then fails with ENOSPC.
    wal_short_write: Mutex<Option<usize>>,
    /// Cutting a torn WAL tail fails with EROFS.
    pub wal_truncate_fails: AtomicBool,
    /// Adding a document to the index fails with ENOSPC.
    pub index_fails: AtomicBool,
}

impl Faults {
    pub(crate) fn set_wal_short_write(&self, bytes: Option<usize>) {
        *self.wal_short_write.lock().unwrap() = bytes;
    }

    pub(crate) fn wal_short_write(&self) -> Option<usize> {
        *self.wal_short_write.lock().unwrap()
    }

    pub(crate) fn wal_truncate_fails(&self) -> bool {
        self.wal_truncate_fails.load(Ordering::Relaxed)
    }

    pub(crate) fn index_fails(&self) -> bool {
        self.index_fails.load(Ordering::Relaxed)
    }
}
