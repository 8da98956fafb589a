//! What the running server knows about itself, as Prometheus's status endpoints report
//! it: when it started, the config file and whether its last load worked
//! (`/api/v1/status/runtimeinfo`), and Prometheus's command-line flags with the Pharos
//! settings that stand for them (`/api/v1/status/flags`). Start-up fills it in; a config
//! reload records its outcome here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use crate::App;

/// The outcome of the last config load, as Prometheus's `reloadConfigSuccess` and
/// `lastConfigTime` report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigLoad {
    /// Whether the last load (at start or a reload) was applied.
    pub success: bool,
    /// Unix ms of the last load that was applied.
    pub last_applied_ms: i64,
}

/// Set once at start, except the config load, which every reload records.
pub struct ServerInfo {
    pub started_at_ms: i64,
    pub config_file: Option<PathBuf>,
    /// How long metrics are kept, as Prometheus writes a retention (`15d`).
    pub storage_retention: String,
    /// Prometheus's flag names (`storage.tsdb.retention.time`) with Pharos's value for
    /// each one Pharos has an equivalent of.
    pub flags: BTreeMap<String, String>,
    config_load: RwLock<ConfigLoad>,
}

impl ServerInfo {
    /// A server started at `started_at_ms`, whose config was applied then.
    pub fn new(
        started_at_ms: i64,
        config_file: Option<PathBuf>,
        storage_retention: String,
        flags: BTreeMap<String, String>,
    ) -> ServerInfo {
        ServerInfo {
            started_at_ms,
            config_file,
            storage_retention,
            flags,
            config_load: RwLock::new(ConfigLoad {
                success: true,
                last_applied_ms: started_at_ms,
            }),
        }
    }

    /// Records a reload: a refused config keeps the time of the last one applied.
    pub fn record_config_load(&self, success: bool, at_ms: i64) {
        let mut load = self.config_load.write().unwrap_or_else(|p| p.into_inner());
        load.success = success;
        if success {
            load.last_applied_ms = at_ms;
        }
    }

    pub fn config_load(&self) -> ConfigLoad {
        *self.config_load.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// `/api/v1/status/runtimeinfo` in Pharos's terms: Go's goroutines and `GOMAXPROCS` are
/// the async tasks alive and the async worker threads.
#[derive(Clone, Debug)]
pub struct RuntimeInfo {
    pub start_time_ms: i64,
    pub cwd: String,
    pub hostname: String,
    pub server_time_ms: i64,
    pub reload_config_success: bool,
    pub last_config_time_ms: i64,
    /// WAL corruptions met at start; the stores repair torn tails themselves and keep
    /// no count, so this is 0 as in a healthy Prometheus.
    pub corruption_count: i64,
    pub goroutine_count: usize,
    pub gomaxprocs: usize,
    pub storage_retention: String,
}

impl App {
    pub fn runtime_info(&self, now_ms: i64) -> RuntimeInfo {
        let load = self.server.config_load();
        let (tasks, workers) = match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                let m = h.metrics();
                (m.num_alive_tasks(), m.num_workers())
            }
            Err(_) => (0, 0),
        };
        RuntimeInfo {
            start_time_ms: self.server.started_at_ms,
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|e| format!("<error retrieving current working directory: {e}>")),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
            server_time_ms: now_ms,
            reload_config_success: load.success,
            last_config_time_ms: load.last_applied_ms,
            corruption_count: 0,
            goroutine_count: tasks,
            gomaxprocs: workers,
            storage_retention: self.server.storage_retention.clone(),
        }
    }

    pub fn prometheus_flags(&self) -> BTreeMap<String, String> {
        self.server.flags.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_reload_keeps_the_time_of_the_last_config_applied() {
        let info = ServerInfo::new(1_000, None, "15d".into(), BTreeMap::new());
        info.record_config_load(false, 5_000);
        assert_eq!(
            info.config_load(),
            ConfigLoad {
                success: false,
                last_applied_ms: 1_000
            }
        );
        info.record_config_load(true, 9_000);
        assert_eq!(
            info.config_load(),
            ConfigLoad {
                success: true,
                last_applied_ms: 9_000
            }
        );
    }
}
