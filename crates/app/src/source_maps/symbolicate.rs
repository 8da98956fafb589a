//! Symbolication of JavaScript events as they arrive: between processing and the commit,
//! on a blocking thread (at most two events' worth at once), for projects with uploaded
//! maps. A frame whose map is missing or malformed stays minified with the reason in the
//! event; nothing here fails an event.

use std::sync::Arc;

use pharos_ingest::sentry::source_maps::{is_javascript, symbolicate_event};
use pharos_ingest::sentry::{Record, Scrubber, event::refresh_from_frames};
use pharos_store::Store;

use super::index::EventLookup;
use crate::sentry::ErrorIngest;
use crate::{App, AppError};

impl App {
    /// Maps the frames of the JavaScript events among `records` in place, and regroups
    /// those that changed.
    /// `Err` only when the blocking task was lost (the runtime shutting down): the records
    /// went with it, so the envelope must not be acknowledged.
    pub(crate) async fn symbolicate_records(
        &self,
        project_id: i64,
        records: &mut Vec<Record>,
    ) -> Result<(), AppError> {
        let wanted = records.iter().any(|r| match r {
            Record::Event(e) => is_javascript(&e.payload),
            _ => false,
        });
        if !wanted || !self.errors.source_maps.project_may_have_maps(project_id) {
            return Ok(());
        }
        let Ok(_permit) = self.errors.source_maps.symbolicating.acquire().await else {
            return Ok(());
        };
        let store = self.store.clone();
        let errors = self.errors.clone();
        let scrubber = self.errors.scrubber();
        let taken = std::mem::take(records);
        let done = tokio::task::spawn_blocking(move || {
            let mut taken = taken;
            // A bug in a map reader must not cost the events: they go on as they are.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                symbolicate_blocking(&store, &errors, &scrubber, project_id, &mut taken)
            }));
            if run.is_err() {
                tracing::error!(
                    operation = "symbolicate",
                    project = project_id,
                    "symbolication panicked; events kept as sent"
                );
            }
            taken
        })
        .await;
        match done {
            Ok(r) => {
                *records = r;
                Ok(())
            }
            // Only a cancelled runtime gets here (panics are caught above).
            Err(e) => {
                tracing::error!(operation = "symbolicate", project = project_id, error = %e, "symbolication task lost");
                Err(AppError::Unavailable(
                    "Pharos is shutting down; try again".into(),
                ))
            }
        }
    }
}

fn symbolicate_blocking(
    store: &Store,
    errors: &ErrorIngest,
    scrubber: &Arc<Scrubber>,
    project_id: i64,
    records: &mut [Record],
) {
    let state = &errors.source_maps;
    let directory = state
        .directory(store)
        .read()
        .unwrap_or_else(|p| p.into_inner());
    if !directory.has_project(project_id) {
        return;
    }
    for r in records.iter_mut() {
        let Record::Event(event) = r else { continue };
        if !is_javascript(&event.payload) {
            continue;
        }
        let lookup = EventLookup {
            project_id,
            release: event.release.clone().unwrap_or_default(),
            directory: &directory,
            cache: &state.cache,
            store,
        };
        let outcome = symbolicate_event(&mut event.payload, &lookup);
        if outcome.frames_mapped > 0 || !outcome.errors.is_empty() {
            // Source context comes from the uploaded maps: scrubbed like the rest.
            scrubber.scrub(&mut event.payload);
            refresh_from_frames(event);
        }
    }
}
