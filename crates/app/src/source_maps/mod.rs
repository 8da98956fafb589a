//! JavaScript source maps: the part of Sentry's `/api/0/` that `sentry-cli sourcemaps
//! upload` speaks (chunk upload options, chunks named by SHA-1, artifact bundle assembly,
//! and the project and release look-ups around them), the per-upload and per-project
//! bounds, and symbolication of JavaScript events as they arrive ([`symbolicate`]).
//!
//! Org and project slugs: any organization slug is accepted (Pharos has one); a project
//! slug is a Pharos project's name (or its numeric id). A caller needs the
//! `sourcemaps:write` scope (or admin).

mod index;
pub mod symbolicate;

use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Duration;

use pharos_ingest::sentry::source_maps::{read_index, sha1_hex};
use pharos_model::access::Permission;
use pharos_model::source_maps::StoredBundle;
use pharos_store::Store;
use pharos_store::errors::Project;
use pharos_store::source_maps::is_sha1;

use crate::{App, AppError, Caller, blocking};
use index::{BundleDirectory, MapCache};

/// What sentry-cli is told to send, and what is refused beyond it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UploadLimits {
    /// One chunk, decompressed (Sentry's own size).
    pub chunk_bytes: usize,
    pub chunks_per_request: usize,
    /// One chunk-upload request, compressed, multipart framing included.
    pub request_bytes: usize,
    /// One assembled bundle.
    pub bundle_bytes: u64,
    /// Requests sentry-cli sends at once: the machine is small.
    pub concurrency: u8,
    /// Stored bundles per project; the oldest are dropped to make room for a new one.
    pub project_bytes: u64,
    /// Chunks uploaded and not yet assembled, across projects.
    pub pending_chunk_bytes: u64,
    /// A chunk no assemble request used is dropped after this.
    pub pending_chunk_age: Duration,
}

pub const UPLOAD_LIMITS: UploadLimits = UploadLimits {
    chunk_bytes: 8 * 1024 * 1024,
    chunks_per_request: 64,
    request_bytes: 32 * 1024 * 1024,
    bundle_bytes: 64 * 1024 * 1024,
    concurrency: 2,
    project_bytes: 512 * 1024 * 1024,
    pending_chunk_bytes: 256 * 1024 * 1024,
    pending_chunk_age: Duration::from_secs(3600),
};

/// One part of a chunk-upload request: the SHA-1 it is named by (the part's file name)
/// and its bytes, gzip'd when sent as `file_gzip`.
pub struct UploadedChunk {
    pub name: String,
    pub gzip: bool,
    pub data: Vec<u8>,
}

/// `POST /api/0/organizations/{org}/artifactbundle/assemble/`'s body.
#[derive(Debug, Clone)]
pub struct AssembleRequest {
    pub checksum: String,
    pub chunks: Vec<String>,
    pub projects: Vec<String>,
    /// The release (`--release`); the manifest's when absent.
    pub version: Option<String>,
    pub dist: Option<String>,
}

/// The states sentry-cli polls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssembleState {
    /// Stored (now or by an earlier upload of the same bundle).
    Ok,
    /// Chunks are missing: upload them and ask again.
    NotFound,
    /// The chunks do not make a usable bundle; `detail` says why.
    Error,
}

impl AssembleState {
    pub fn as_str(self) -> &'static str {
        match self {
            AssembleState::Ok => "ok",
            AssembleState::NotFound => "not_found",
            AssembleState::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AssembleAnswer {
    pub state: AssembleState,
    pub missing_chunks: Vec<String>,
    pub detail: Option<String>,
}

impl AssembleAnswer {
    fn error(detail: impl Into<String>) -> AssembleAnswer {
        AssembleAnswer {
            state: AssembleState::Error,
            missing_chunks: Vec::new(),
            detail: Some(detail.into()),
        }
    }
}

/// Source-map state: the directory of stored bundles (built at first use), the parsed
/// map cache, and the locks that keep uploads and symbolication bounded.
pub struct SourceMaps {
    directory: OnceLock<RwLock<BundleDirectory>>,
    cache: Mutex<MapCache>,
    /// One assembly at a time, so the per-project budget is counted right.
    assembling: Mutex<()>,
    /// Events symbolicated at once (each on a blocking thread).
    pub(crate) symbolicating: tokio::sync::Semaphore,
}

impl Default for SourceMaps {
    fn default() -> Self {
        SourceMaps {
            directory: OnceLock::new(),
            cache: Mutex::new(MapCache::default()),
            assembling: Mutex::new(()),
            symbolicating: tokio::sync::Semaphore::new(2),
        }
    }
}

impl SourceMaps {
    /// The directory, read from the store's bundle indexes the first time (blocking).
    fn directory(&self, store: &Store) -> &RwLock<BundleDirectory> {
        self.directory.get_or_init(|| {
            let bundles = store.source_maps().bundles().unwrap_or_else(|e| {
                tracing::warn!(operation = "source_maps_open", error = %e, "stored source maps not read");
                Vec::new()
            });
            RwLock::new(BundleDirectory::from_bundles(bundles))
        })
    }

    /// `Some(false)` when the directory is loaded and the project has no bundles: events
    /// of such projects skip symbolication without a blocking call.
    pub(crate) fn project_may_have_maps(&self, project_id: i64) -> bool {
        match self.directory.get() {
            Some(d) => d
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .has_project(project_id),
            None => true,
        }
    }
}

impl App {
    /// The Pharos projects sentry-cli's slugs name: a project's name, its name in slug form
    /// (lower case, `-` for anything else) or its id. Unknown slugs are a 404 naming them.
    pub async fn sentry_cli_projects(
        &self,
        caller: &Caller,
        slugs: &[String],
    ) -> Result<Vec<Project>, AppError> {
        caller.require(Permission::UploadSourceMaps, "upload source maps")?;
        let projects = self.with_store(|s| s.errors().projects()).await?;
        let mut out = Vec::new();
        for slug in slugs {
            let found = projects.iter().find(|p| {
                p.name == *slug || slugify(&p.name) == *slug || p.id.to_string() == *slug
            });
            match found {
                Some(p) => out.push(p.clone()),
                None => {
                    return Err(AppError::NotFound(format!(
                        "project {slug:?} (the project slug is a Pharos project's name)"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Stores the chunks of one chunk-upload request, each checked against its SHA-1.
    pub async fn upload_source_map_chunks(
        &self,
        caller: &Caller,
        chunks: Vec<UploadedChunk>,
    ) -> Result<usize, AppError> {
        caller.require(Permission::UploadSourceMaps, "upload source maps")?;
        let limits = UPLOAD_LIMITS;
        if chunks.len() > limits.chunks_per_request {
            return Err(AppError::TooLarge(format!(
                "{} chunks in one request; at most {} are accepted",
                chunks.len(),
                limits.chunks_per_request
            )));
        }
        let mut checked = Vec::with_capacity(chunks.len());
        for c in chunks {
            let name = c.name.to_ascii_lowercase();
            if !is_sha1(&name) {
                return Err(AppError::invalid_field(
                    "file",
                    format!("chunk name {:?} is not a SHA-1 (40 hex characters)", c.name),
                ));
            }
            let data = if c.gzip {
                pharos_ingest::sentry::body::decode(Some("gzip"), &c.data, limits.chunk_bytes)
                    .map_err(|e| match e {
                        pharos_ingest::sentry::body::BodyError::TooLarge { .. } => {
                            too_large_chunk(&name)
                        }
                        other => {
                            AppError::invalid_field("file_gzip", format!("chunk {name}: {other}"))
                        }
                    })?
            } else if c.data.len() > limits.chunk_bytes {
                return Err(too_large_chunk(&name));
            } else {
                c.data
            };
            let actual = sha1_hex(&data);
            if actual != name {
                return Err(AppError::invalid_field(
                    "file",
                    format!(
                        "chunk {name} has SHA-1 {actual}: it was damaged on the way or misnamed"
                    ),
                ));
            }
            checked.push((name, data));
        }
        let count = checked.len();
        let store = self.store.clone();
        blocking(move || -> Result<(), AppError> {
            let maps = store.source_maps();
            let pending = maps.pending_chunk_bytes(limits.pending_chunk_age)?;
            let adding: u64 = checked.iter().map(|(_, d)| d.len() as u64).sum();
            if pending + adding > limits.pending_chunk_bytes {
                return Err(AppError::RateLimited {
                    message: format!(
                        "{pending} bytes of chunks are waiting to be assembled; at most {} may wait",
                        limits.pending_chunk_bytes
                    ),
                    retry_after_secs: 60,
                });
            }
            for (name, data) in &checked {
                maps.put_chunk(name, data)?;
            }
            Ok(())
        })
        .await??;
        Ok(count)
    }

    /// Assembles an artifact bundle from its chunks, checks it against its checksum and
    /// its manifest, and stores it for each project named. A bundle that cannot be used
    /// is an `error` answer with the reason; nothing already stored is touched.
    pub async fn assemble_source_map_bundle(
        &self,
        caller: &Caller,
        request: AssembleRequest,
    ) -> Result<AssembleAnswer, AppError> {
        caller.require(Permission::UploadSourceMaps, "upload source maps")?;
        let checksum = request.checksum.to_ascii_lowercase();
        if !is_sha1(&checksum) {
            return Err(AppError::invalid_field(
                "checksum",
                "is not a SHA-1 (40 hex characters)",
            ));
        }
        let chunks: Vec<String> = request
            .chunks
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if let Some(bad) = chunks.iter().find(|c| !is_sha1(c)) {
            return Err(AppError::invalid_field(
                "chunks",
                format!("{bad:?} is not a SHA-1"),
            ));
        }
        let max_chunks = UPLOAD_LIMITS.bundle_bytes as usize / UPLOAD_LIMITS.chunk_bytes;
        if chunks.is_empty() || chunks.len() > max_chunks {
            return Err(AppError::invalid_field(
                "chunks",
                format!("a bundle is 1 to {max_chunks} chunks"),
            ));
        }
        if request.projects.is_empty() {
            return Err(AppError::invalid_field(
                "projects",
                "name at least one project (--project)",
            ));
        }
        let projects = self.sentry_cli_projects(caller, &request.projects).await?;
        let store = self.store.clone();
        let errors = self.errors.clone();
        let project_ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
        blocking(move || {
            assemble(
                &store,
                &errors.source_maps,
                &checksum,
                &chunks,
                &project_ids,
                &request,
            )
        })
        .await?
    }
}

fn too_large_chunk(name: &str) -> AppError {
    AppError::TooLarge(format!(
        "chunk {name} is larger than {} bytes (the chunkSize this server announced)",
        UPLOAD_LIMITS.chunk_bytes
    ))
}

fn slugify(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn assemble(
    store: &Store,
    state: &SourceMaps,
    checksum: &str,
    chunks: &[String],
    projects: &[i64],
    request: &AssembleRequest,
) -> Result<AssembleAnswer, AppError> {
    let _one_at_a_time = state.assembling.lock().unwrap_or_else(|p| p.into_inner());
    let maps = store.source_maps();
    let directory = state.directory(store);
    let stored_for_all = {
        let d = directory.read().unwrap_or_else(|p| p.into_inner());
        projects.iter().all(|p| {
            d.bundles
                .get(p)
                .is_some_and(|b| b.iter().any(|b| b.checksum == checksum))
        })
    };
    if stored_for_all {
        return Ok(AssembleAnswer {
            state: AssembleState::Ok,
            missing_chunks: Vec::new(),
            detail: None,
        });
    }
    let missing: Vec<String> = chunks
        .iter()
        .filter(|c| !maps.has_chunk(c))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Ok(AssembleAnswer {
            state: AssembleState::NotFound,
            missing_chunks: missing,
            detail: None,
        });
    }
    let mut data = Vec::new();
    for c in chunks {
        let Some(chunk) = maps.read_chunk(c)? else {
            // Dropped for its age between the check and now: ask for it again.
            return Ok(AssembleAnswer {
                state: AssembleState::NotFound,
                missing_chunks: vec![c.clone()],
                detail: None,
            });
        };
        if (data.len() + chunk.len()) as u64 > UPLOAD_LIMITS.bundle_bytes {
            return Ok(AssembleAnswer::error(format!(
                "the bundle is larger than {} bytes; upload fewer files at once",
                UPLOAD_LIMITS.bundle_bytes
            )));
        }
        data.extend_from_slice(&chunk);
    }
    let actual = sha1_hex(&data);
    if actual != checksum {
        return Ok(AssembleAnswer::error(format!(
            "the chunks make a bundle with SHA-1 {actual}, not the checksum {checksum} the request named"
        )));
    }
    let mut index = match read_index(&data) {
        Ok(i) => i,
        Err(e) => {
            return Ok(AssembleAnswer::error(format!(
                "the bundle cannot be used: {e}"
            )));
        }
    };
    if let Some(v) = request.version.as_deref().filter(|v| !v.is_empty()) {
        index.release = Some(v.to_owned());
    }
    if let Some(d) = request.dist.as_deref().filter(|d| !d.is_empty()) {
        index.dist = Some(d.to_owned());
    }
    let bytes = data.len() as u64;
    if bytes > UPLOAD_LIMITS.project_bytes {
        return Ok(AssembleAnswer::error(format!(
            "the bundle is larger than a project's {} bytes of source maps",
            UPLOAD_LIMITS.project_bytes
        )));
    }
    let now = chrono::Utc::now().timestamp();
    for &p in projects {
        make_room(store, state, p, bytes)?;
        let bundle = StoredBundle {
            project_id: p,
            checksum: checksum.to_owned(),
            bytes,
            stored_at: now,
            index: index.clone(),
        };
        maps.put_bundle(&bundle, &data)?;
        directory
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add(bundle);
        tracing::info!(operation = "source_maps_upload", project = p, bundle = %checksum, bytes, files = index.files.len(), release = index.release.as_deref().unwrap_or(""), "source map bundle stored");
    }
    for c in chunks {
        if let Err(e) = maps.remove_chunk(c) {
            tracing::warn!(operation = "source_maps_upload", error = %e, "used chunk not removed");
        }
    }
    Ok(AssembleAnswer {
        state: AssembleState::Ok,
        missing_chunks: Vec::new(),
        detail: None,
    })
}

/// Drops the project's oldest bundles until `adding` more bytes fit its budget.
fn make_room(store: &Store, state: &SourceMaps, project: i64, adding: u64) -> Result<(), AppError> {
    let directory = state.directory(store);
    loop {
        let oldest = {
            let d = directory.read().unwrap_or_else(|p| p.into_inner());
            if d.project_bytes(project) + adding <= UPLOAD_LIMITS.project_bytes {
                return Ok(());
            }
            d.bundles
                .get(&project)
                .and_then(|b| b.first())
                .map(|b| b.checksum.clone())
        };
        let Some(oldest) = oldest else {
            return Ok(());
        };
        store.source_maps().delete_bundle(project, &oldest)?;
        directory
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(project, &oldest);
        state
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget_bundle(&oldest);
        tracing::info!(operation = "source_maps_upload", project, bundle = %oldest, "oldest source map bundle dropped for the project's budget");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("pharos-sm-app-{}", rand::random::<u64>()));
        (Store::open(&dir).unwrap(), dir)
    }

    fn bundle(manifest: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut out));
            let opts = zip::write::SimpleFileOptions::default();
            for (name, data) in files {
                z.start_file(*name, opts).unwrap();
                z.write_all(data).unwrap();
            }
            z.start_file("manifest.json", opts).unwrap();
            z.write_all(manifest.as_bytes()).unwrap();
            z.finish().unwrap();
        }
        out
    }

    const MANIFEST: &str = r#"{"files":{"files/_/_/app.min.js.map":{"type":"source_map","url":"~/app.min.js.map","headers":{"debug-id":"f9e36468-0e5a-59e6-bfff-1f71202f98ba"}}},"release":"1.0"}"#;

    fn request(checksum: &str, chunks: &[&str]) -> AssembleRequest {
        AssembleRequest {
            checksum: checksum.into(),
            chunks: chunks.iter().map(|c| c.to_string()).collect(),
            projects: vec!["web".into()],
            version: None,
            dist: None,
        }
    }

    /// Splits `data` in two chunks and stores them as a chunk upload would.
    fn upload(store: &Store, data: &[u8]) -> Vec<String> {
        data.chunks(data.len() / 2 + 1)
            .map(|c| {
                let name = sha1_hex(c);
                store.source_maps().put_chunk(&name, c).unwrap();
                name
            })
            .collect()
    }

    #[test]
    fn a_bundle_is_assembled_from_its_chunks_once_they_are_all_there() {
        let (store, dir) = store();
        let state = SourceMaps::default();
        let data = bundle(MANIFEST, &[("files/_/_/app.min.js.map", b"{}")]);
        let checksum = sha1_hex(&data);
        let names: Vec<String> = data.chunks(data.len() / 2 + 1).map(sha1_hex).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let r = request(&checksum, &refs);
        let first = assemble(&store, &state, &checksum, &names, &[1], &r).unwrap();
        assert_eq!(first.state, AssembleState::NotFound);
        assert_eq!(first.missing_chunks, names);
        assert_eq!(upload(&store, &data), names);
        let done = assemble(&store, &state, &checksum, &names, &[1], &r).unwrap();
        assert_eq!(done.state, AssembleState::Ok, "{done:?}");
        // Used chunks are gone; asking again answers ok from what is stored.
        assert!(!store.source_maps().has_chunk(&names[0]));
        let again = assemble(&store, &state, &checksum, &names, &[1], &r).unwrap();
        assert_eq!(again.state, AssembleState::Ok);
        let d = state.directory(&store).read().unwrap();
        assert!(
            d.by_debug_id(1, "f9e36468-0e5a-59e6-bfff-1f71202f98ba")
                .is_some()
        );
        assert_eq!(store.source_maps().bundles().unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_wrong_checksum_or_a_malformed_bundle_is_an_error_answer() {
        let (store, dir) = store();
        let state = SourceMaps::default();
        let data = bundle(MANIFEST, &[("files/_/_/app.min.js.map", b"{}")]);
        let names = upload(&store, &data);
        let wrong = "1".repeat(40);
        let a = assemble(&store, &state, &wrong, &names, &[1], &request(&wrong, &[])).unwrap();
        assert_eq!(a.state, AssembleState::Error);
        assert!(a.detail.unwrap().contains("not the checksum"));

        let not_zip = b"plain text, not a bundle";
        let names = upload(&store, not_zip);
        let checksum = sha1_hex(not_zip);
        let a = assemble(
            &store,
            &state,
            &checksum,
            &names,
            &[1],
            &request(&checksum, &[]),
        )
        .unwrap();
        assert_eq!(a.state, AssembleState::Error);
        assert!(a.detail.unwrap().contains("not a zip"));

        let missing = bundle(MANIFEST, &[]);
        let names = upload(&store, &missing);
        let checksum = sha1_hex(&missing);
        let a = assemble(
            &store,
            &state,
            &checksum,
            &names,
            &[1],
            &request(&checksum, &[]),
        )
        .unwrap();
        assert!(a.detail.unwrap().contains("does not hold"));
        assert!(store.source_maps().bundles().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_oldest_bundles_make_room_within_the_project_budget() {
        let (store, dir) = store();
        let state = SourceMaps::default();
        let old = StoredBundle {
            project_id: 1,
            checksum: "a".repeat(40),
            bytes: UPLOAD_LIMITS.project_bytes - 10,
            stored_at: 1,
            index: read_index(&bundle(MANIFEST, &[("files/_/_/app.min.js.map", b"{}")])).unwrap(),
        };
        store.source_maps().put_bundle(&old, b"zip").unwrap();
        let data = bundle(MANIFEST, &[("files/_/_/app.min.js.map", b"{}")]);
        let names = upload(&store, &data);
        let checksum = sha1_hex(&data);
        let a = assemble(
            &store,
            &state,
            &checksum,
            &names,
            &[1],
            &request(&checksum, &[]),
        )
        .unwrap();
        assert_eq!(a.state, AssembleState::Ok);
        let left: Vec<String> = store
            .source_maps()
            .bundles()
            .unwrap()
            .into_iter()
            .map(|b| b.checksum)
            .collect();
        assert_eq!(left, vec![checksum]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
