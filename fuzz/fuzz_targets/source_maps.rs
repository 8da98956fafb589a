//! What `sentry-cli sourcemaps upload` sends, after its chunks are joined: an artifact
//! bundle (zip + manifest) read as `App::assemble_source_map_bundle` reads it, and the
//! same bytes as a source map applied to a JavaScript event's frames.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use pharos_ingest::sentry::source_maps::{
    MapLookup, ParsedMap, read_file, read_index, symbolicate_event,
};

struct One(Option<Arc<ParsedMap>>);

impl MapLookup for One {
    fn by_debug_id(&self, _: &str) -> Result<Option<Arc<ParsedMap>>, String> {
        Ok(self.0.clone())
    }
    fn by_url(&self, _: &str) -> Result<Option<Arc<ParsedMap>>, String> {
        Ok(self.0.clone())
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = read_index(data) {
        for f in &index.files {
            let _ = read_file(data, &f.path, 1024 * 1024);
        }
    }
    let map = ParsedMap::parse(data, Some(b"function a(){throw new Error('x')}a();"), "~/a.js.map")
        .ok()
        .map(Arc::new);
    let mut event = serde_json::json!({
        "platform": "javascript",
        "exception": {"values": [{"type": "Error", "stacktrace": {"frames": [
            {"abs_path": "https://x/a.js", "function": "a", "lineno": 1, "colno": 14},
            {"abs_path": "https://x/a.js", "function": "b.c", "lineno": 4000000000u64, "colno": 0}
        ]}}]}
    });
    let _ = symbolicate_event(&mut event, &One(map));
});
