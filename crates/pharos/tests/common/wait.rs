//! Waiting for a condition: one polling loop for every test that waits for something to
//! happen (a monitor going down, a webhook arriving, a query answering, a process ending).
//! Only std and tokio, so that test crates without the Pharos harness can include it with
//! `#[path]`.

#![allow(dead_code)]

use std::fmt::Display;
use std::panic::Location;
use std::time::{Duration, Instant};

/// How long [`poll_until`] sleeps between two probes.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// What one probe answers: ready (with the value to return), or not yet (with, perhaps,
/// what it saw instead, for the failure message).
pub trait Outcome {
    type Ready;
    fn into_ready(self) -> Result<Self::Ready, Option<String>>;
}

/// `Some(value)` is ready; `None` is not yet.
impl<T> Outcome for Option<T> {
    type Ready = T;
    fn into_ready(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

/// `Ok(value)` is ready; `Err(seen)` is not yet, `seen` being what the probe saw instead.
impl<T, E: Display> Outcome for Result<T, E> {
    type Ready = T;
    fn into_ready(self) -> Result<T, Option<String>> {
        self.map_err(|seen| Some(seen.to_string()))
    }
}

/// `true` is ready.
impl Outcome for bool {
    type Ready = ();
    fn into_ready(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

/// Probes until `probe` answers ready, sleeping [`POLL_EVERY`] between probes, giving up
/// on the first probe not ready that ends `within` or more after the start (so at least
/// one probe). `Err` when it gave up, with what the last probe saw (if it said).
pub async fn poll_until<O: Outcome>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> O,
) -> Result<O::Ready, Option<String>> {
    let deadline = Instant::now() + within;
    loop {
        match probe().await.into_ready() {
            Ok(ready) => return Ok(ready),
            Err(seen) if Instant::now() >= deadline => return Err(seen),
            Err(_) => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

/// Waits until `probe` answers ready (see [`Outcome`]) and returns what it answered; fails
/// after `within` saying `what` was awaited, where, for how long, and what the last probe
/// saw.
///
/// Not an `async fn` so that `#[track_caller]` can name the line that waited (the panic
/// itself is raised here).
#[track_caller]
pub fn wait_until<O: Outcome>(
    within: Duration,
    what: &str,
    probe: impl AsyncFnMut() -> O,
) -> impl Future<Output = O::Ready> {
    wait_until_with(within, what, probe, String::new)
}

/// [`wait_until`], with `context()` (a log, say) added to the failure message.
#[track_caller]
pub fn wait_until_with<O: Outcome>(
    within: Duration,
    what: &str,
    probe: impl AsyncFnMut() -> O,
    context: impl FnOnce() -> String,
) -> impl Future<Output = O::Ready> {
    let waited_at = Location::caller();
    async move {
        match poll_until(within, probe).await {
            Ok(ready) => ready,
            Err(seen) => {
                let mut message =
                    format!("timed out after {within:?} waiting for {what} (at {waited_at})");
                if let Some(seen) = seen {
                    message += &format!("; last: {seen}");
                }
                let context = context();
                if !context.is_empty() {
                    message += &format!("\n{context}");
                }
                panic!("{message}")
            }
        }
    }
}
