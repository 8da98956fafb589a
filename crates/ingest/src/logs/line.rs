//! (being written)

use pharos_model::LogEntry;

pub fn structure(_entry: &mut LogEntry) {}
