//! Every background task Pharos runs, registered under a name with one shutdown signal.
//! On `SIGTERM` (or Ctrl-C) the HTTP server stops accepting and finishes the requests in
//! flight, every registered task is stopped, and `serve` then closes the stores (flushing
//! their write-ahead logs), all within [`SHUTDOWN_BUDGET`]. The HTTP server's connection
//! cap and timeouts are in [`http`].

mod http;

pub use http::ConnectionLimits;

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stop may take in all; a process manager's kill usually follows at 10 s.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(8);
/// Of that, how long requests in flight (an envelope waiting for its commit, a log
/// batch for its fsync) get to finish; open streams (live tail) are cut after it.
pub const REQUEST_GRACE: Duration = Duration::from_secs(5);
/// How long the tasks get to notice the signal and end.
const TASK_GRACE: Duration = Duration::from_secs(2);

/// A task's view of the shutdown signal (mini-redis's `Shutdown`).
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once shutdown has begun.
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// The registered tasks and the sender of their one shutdown signal.
pub struct Tasks {
    stop: watch::Sender<bool>,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks {
            stop: watch::channel(false).0,
            running: Vec::new(),
        }
    }
}

impl Tasks {
    pub fn shutdown(&self) -> Shutdown {
        Shutdown(self.stop.subscribe())
    }

    /// Runs `task` until it ends or shutdown begins, whichever is first. A task stopped
    /// this way is dropped at an await point: store writes are transactions, so none is
    /// left half done.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown();
        let handle = tokio::spawn(async move {
            tokio::select! {
                () = task => {}
                () = shutdown.wait() => {}
            }
        });
        self.running.push((name, handle));
    }

    /// Sends the signal (the HTTP server's graceful shutdown listens to it too).
    pub fn begin_shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Sends the signal and waits for every task to end, naming any that did not in time.
    pub async fn stop(self) {
        self.begin_shutdown();
        let deadline = tokio::time::Instant::now() + TASK_GRACE;
        for (name, handle) in self.running {
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                tracing::warn!(
                    operation = "shutdown",
                    task = name,
                    "task did not stop in time"
                );
            }
        }
    }
}

/// Serves HTTP until a termination signal; then stops accepting and gives the requests in
/// flight [`REQUEST_GRACE`], so every write a client was answered 2xx for is committed.
pub async fn serve_until_terminated(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    tasks: &Tasks,
) {
    let server = http::serve(listener, router, limits, tasks.shutdown());
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        () = termination() => {
            let stopping = std::time::Instant::now();
            tracing::info!(operation = "shutdown", "stopping: no new connections, finishing requests in flight");
            tasks.begin_shutdown();
            if tokio::time::timeout(REQUEST_GRACE, &mut server).await.is_err() {
                tracing::warn!(operation = "shutdown", "requests still open after the grace period (live tails); closing them");
            }
            tracing::info!(operation = "shutdown", duration_ms = stopping.elapsed().as_millis() as u64, "server stopped");
        }
    }
}

/// Raises the soft limit on open files to the hard one: every connection is a file, and
/// the usual soft limit of 1,024 would stop Pharos accepting long before its connection
/// caps do. Returns the limit now in force.
#[cfg(unix)]
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` and `setrlimit` only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    // `rlim_t` is u64 on Linux but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Ok(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Resolves on `SIGTERM` or Ctrl-C.
pub async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets its flag when dropped, as a task's state is when the task ends.
    struct Dropped(std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn one_signal_stops_every_task() {
        let mut tasks = Tasks::default();
        let flags: Vec<_> = (0..3)
            .map(|_| std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)))
            .collect();
        for flag in &flags {
            let guard = Dropped(flag.clone());
            tasks.spawn("forever", async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
        }
        let shutdown = tasks.shutdown();
        tokio::time::timeout(Duration::from_secs(5), tasks.stop())
            .await
            .expect("tasks stop within their grace");
        assert!(
            flags
                .iter()
                .all(|f| f.load(std::sync::atomic::Ordering::SeqCst))
        );
        // A task subscribing late still sees the signal.
        tokio::time::timeout(Duration::from_secs(1), shutdown.wait())
            .await
            .expect("the signal stays set");
    }
}
