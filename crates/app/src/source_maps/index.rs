//! Which uploaded source map belongs to a frame: an in-memory index of every stored
//! bundle (by project and debug id; by project, release and file URL), rebuilt from the
//! store's bundle indexes at first use, and a cache of parsed maps bounded by size.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use pharos_ingest::sentry::source_maps::{MapLookup, ParsedMap, read_file};
use pharos_model::source_maps::{BundleFile, BundleFileKind, StoredBundle};
use pharos_store::Store;

/// Parsed maps kept at most, in bytes of the files they were read from. A parsed map
/// takes a few times its text; 64 MiB of maps stays well inside a small team's memory.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// The largest file read out of a bundle for symbolication.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Where one map lives: its bundle, its path in the bundle and the minified file's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MapRef {
    pub project_id: i64,
    pub checksum: String,
    pub map_path: String,
    pub map_url: String,
    pub minified_path: Option<String>,
}

#[derive(Default)]
pub(crate) struct BundleDirectory {
    by_debug_id: HashMap<(i64, String), MapRef>,
    /// (project, release or "", URL without its `~`) → map.
    by_url: HashMap<(i64, String, String), MapRef>,
    /// Stored bundles per project, oldest first, for the budget.
    pub bundles: HashMap<i64, Vec<StoredBundle>>,
}

impl BundleDirectory {
    pub fn from_bundles(all: Vec<StoredBundle>) -> BundleDirectory {
        let mut d = BundleDirectory::default();
        for b in all {
            d.add(b);
        }
        d
    }

    pub fn has_project(&self, project_id: i64) -> bool {
        self.bundles.get(&project_id).is_some_and(|b| !b.is_empty())
    }

    pub fn project_bytes(&self, project_id: i64) -> u64 {
        self.bundles
            .get(&project_id)
            .map_or(0, |b| b.iter().map(|b| b.bytes).sum())
    }

    /// Adds a bundle; its files take over debug ids and URLs older bundles had.
    pub fn add(&mut self, bundle: StoredBundle) {
        let files = &bundle.index.files;
        let release = bundle.index.release.clone().unwrap_or_default();
        let reference = |map: &BundleFile, minified: Option<&BundleFile>| MapRef {
            project_id: bundle.project_id,
            checksum: bundle.checksum.clone(),
            map_path: map.path.clone(),
            map_url: map.url.clone(),
            minified_path: minified.map(|m| m.path.clone()),
        };
        for map in files.iter().filter(|f| f.kind == BundleFileKind::SourceMap) {
            let minified = files.iter().find(|f| {
                f.kind == BundleFileKind::MinifiedSource
                    && ((f.debug_id.is_some() && f.debug_id == map.debug_id)
                        || f.sourcemap
                            .as_deref()
                            .is_some_and(|s| resolve(&f.url, s) == map.url))
            });
            if let Some(id) = &map.debug_id {
                self.by_debug_id
                    .insert((bundle.project_id, id.clone()), reference(map, minified));
            }
            if let Some(min) = minified {
                self.by_url.insert(
                    (bundle.project_id, release.clone(), url_key(&min.url)),
                    reference(map, Some(min)),
                );
            }
        }
        self.bundles
            .entry(bundle.project_id)
            .or_default()
            .push(bundle);
    }

    /// Forgets a bundle (dropped for the project's budget).
    pub fn remove(&mut self, project_id: i64, checksum: &str) {
        self.by_debug_id
            .retain(|_, r| !(r.project_id == project_id && r.checksum == checksum));
        self.by_url
            .retain(|_, r| !(r.project_id == project_id && r.checksum == checksum));
        if let Some(list) = self.bundles.get_mut(&project_id) {
            list.retain(|b| b.checksum != checksum);
        }
    }

    pub fn by_debug_id(&self, project_id: i64, debug_id: &str) -> Option<&MapRef> {
        self.by_debug_id.get(&(project_id, debug_id.to_owned()))
    }

    /// The map of the file at `abs_path` uploaded for `release`: the path matched against
    /// the uploaded URLs from the longest suffix down (`~/static/js/app.js`, then
    /// `~/js/app.js`, then `~/app.js`), whatever scheme and host the page was served from.
    pub fn by_url(&self, project_id: i64, release: &str, abs_path: &str) -> Option<&MapRef> {
        let path = strip_origin(abs_path);
        let mut rest = path.trim_start_matches('/');
        loop {
            let key = (project_id, release.to_owned(), format!("/{rest}"));
            if let Some(r) = self.by_url.get(&key) {
                return Some(r);
            }
            rest = rest.split_once('/')?.1;
        }
    }
}

/// `~/app.min.js` → `/app.min.js`; a full URL loses its origin.
fn url_key(url: &str) -> String {
    match url.strip_prefix('~') {
        Some(rest) => format!("/{}", rest.trim_start_matches('/')),
        None => format!("/{}", strip_origin(url).trim_start_matches('/')),
    }
}

/// `https://host/x/y.js?v=1` → `/x/y.js`; `file:///srv/y.js` → `/srv/y.js`; a path stays.
fn strip_origin(s: &str) -> &str {
    let s = s.split(['?', '#']).next().unwrap_or(s);
    match s.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => s,
    }
}

/// A `sourceMappingURL` relative to the minified file's URL.
fn resolve(base: &str, reference: &str) -> String {
    if reference.starts_with('~') || reference.contains("://") {
        return reference.to_owned();
    }
    match base.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{reference}"),
        None => reference.to_owned(),
    }
}

type Parsed = Result<Arc<ParsedMap>, String>;

/// Parsed maps by (bundle, path), the least recently used dropped first past
/// [`CACHE_BYTES`]. A map that failed to parse is kept as its reason, so a malformed
/// upload is not parsed again for every event.
#[derive(Default)]
pub(crate) struct MapCache {
    entries: HashMap<(String, String), (Parsed, usize)>,
    order: VecDeque<(String, String)>,
    bytes: usize,
}

impl MapCache {
    fn get(&mut self, key: &(String, String)) -> Option<Parsed> {
        let found = self.entries.get(key).map(|(p, _)| p.clone())?;
        if let Some(i) = self.order.iter().position(|k| k == key) {
            let k = self.order.remove(i).expect("position is in range");
            self.order.push_back(k);
        }
        Some(found)
    }

    fn put(&mut self, key: (String, String), parsed: Parsed) {
        let weight = match &parsed {
            Ok(m) => m.weight,
            Err(e) => e.len(),
        };
        while self.bytes + weight > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, w)) = self.entries.remove(&old) {
                self.bytes -= w;
            }
        }
        if weight > CACHE_BYTES {
            return;
        }
        self.bytes += weight;
        self.order.push_back(key.clone());
        self.entries.insert(key, (parsed, weight));
    }

    pub fn forget_bundle(&mut self, checksum: &str) {
        self.entries.retain(|k, (_, w)| {
            let keep = k.0 != checksum;
            if !keep {
                self.bytes -= *w;
            }
            keep
        });
        self.order.retain(|k| k.0 != checksum);
    }
}

/// The lookup one event's symbolication uses: its project and release, the directory and
/// the cache. Runs on a blocking thread (it reads bundles and parses maps).
pub(crate) struct EventLookup<'a> {
    pub project_id: i64,
    pub release: String,
    pub directory: &'a BundleDirectory,
    pub cache: &'a Mutex<MapCache>,
    pub store: &'a Store,
}

impl EventLookup<'_> {
    fn load(&self, r: &MapRef) -> Parsed {
        let key = (r.checksum.clone(), r.map_path.clone());
        if let Some(p) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return p;
        }
        let parsed = self.parse(r);
        if let Err(e) = &parsed {
            tracing::info!(operation = "symbolicate", project = r.project_id, map = %r.map_url, error_type = "invalid_source_map", error = %e, "source map not used");
        }
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(key, parsed.clone());
        parsed
    }

    fn parse(&self, r: &MapRef) -> Parsed {
        let bundle = self
            .store
            .source_maps()
            .read_bundle(r.project_id, &r.checksum)
            .map_err(|e| format!("the bundle holding {} could not be read: {e}", r.map_url))?
            .ok_or_else(|| format!("the bundle holding {} is gone", r.map_url))?;
        let map = read_file(&bundle, &r.map_path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
        let minified = r
            .minified_path
            .as_deref()
            .and_then(|p| read_file(&bundle, p, MAX_FILE_BYTES).ok());
        ParsedMap::parse(&map, minified.as_deref(), &r.map_url).map(Arc::new)
    }
}

impl MapLookup for EventLookup<'_> {
    fn by_debug_id(&self, debug_id: &str) -> Result<Option<Arc<ParsedMap>>, String> {
        match self.directory.by_debug_id(self.project_id, debug_id) {
            Some(r) => self.load(r).map(Some),
            None => Ok(None),
        }
    }

    fn by_url(&self, abs_path: &str) -> Result<Option<Arc<ParsedMap>>, String> {
        match self
            .directory
            .by_url(self.project_id, &self.release, abs_path)
        {
            Some(r) => self.load(r).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::source_maps::BundleIndex;

    fn bundle(checksum: &str, release: Option<&str>) -> StoredBundle {
        StoredBundle {
            project_id: 1,
            checksum: checksum.into(),
            bytes: 10,
            stored_at: 0,
            index: BundleIndex {
                bundle_id: None,
                release: release.map(str::to_owned),
                dist: None,
                files: vec![
                    BundleFile {
                        path: "files/_/_/static/app.min.js".into(),
                        url: "~/static/app.min.js".into(),
                        kind: BundleFileKind::MinifiedSource,
                        debug_id: None,
                        sourcemap: Some("app.min.js.map".into()),
                    },
                    BundleFile {
                        path: "files/_/_/static/app.min.js.map".into(),
                        url: "~/static/app.min.js.map".into(),
                        kind: BundleFileKind::SourceMap,
                        debug_id: Some("f9e36468-0e5a-59e6-bfff-1f71202f98ba".into()),
                        sourcemap: None,
                    },
                ],
            },
        }
    }

    #[test]
    fn maps_are_found_by_debug_id_and_by_release_and_file_name() {
        let mut d = BundleDirectory::from_bundles(vec![bundle("a", Some("1.0"))]);
        let r = d
            .by_debug_id(1, "f9e36468-0e5a-59e6-bfff-1f71202f98ba")
            .unwrap();
        assert_eq!(r.map_path, "files/_/_/static/app.min.js.map");
        assert_eq!(
            r.minified_path.as_deref(),
            Some("files/_/_/static/app.min.js")
        );
        for path in [
            "https://example.com/static/app.min.js?v=3",
            "/srv/www/static/app.min.js",
            "app:///static/app.min.js",
        ] {
            assert!(d.by_url(1, "1.0", path).is_some(), "{path}");
        }
        assert!(d.by_url(1, "2.0", "/static/app.min.js").is_none());
        assert!(d.by_url(1, "1.0", "/static/other.js").is_none());
        assert!(d.by_url(2, "1.0", "/static/app.min.js").is_none());
        d.remove(1, "a");
        assert!(
            d.by_debug_id(1, "f9e36468-0e5a-59e6-bfff-1f71202f98ba")
                .is_none()
        );
        assert!(!d.has_project(1));
    }

    #[test]
    fn the_cache_stays_within_its_size() {
        let mut c = MapCache::default();
        let big = "x".repeat(CACHE_BYTES / 2 + 1);
        c.put(("a".into(), "1".into()), Err(big.clone()));
        c.put(("b".into(), "1".into()), Err(big));
        assert!(c.get(&("a".into(), "1".into())).is_none());
        assert!(c.get(&("b".into(), "1".into())).is_some());
        assert!(c.bytes <= CACHE_BYTES);
        c.forget_bundle("b");
        assert_eq!(c.bytes, 0);
    }
}
