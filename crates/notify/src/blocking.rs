//! Store work for the dispatcher and the incident service: SQLite calls block, so they
//! run on tokio's blocking pool instead of holding up the async worker threads.

use std::sync::Arc;

use pharos_store::{Store, StoreError};

/// Runs `f` with the store on the blocking pool. `task_failed` makes the caller's error
/// for a task that panicked or was cancelled.
pub(crate) async fn with_store<T, E>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    task_failed: fn(String) -> E,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError>,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| task_failed(e.to_string()))?
        .map_err(E::from)
}
