//! Minified JavaScript frames mapped back to the original file, line, column and function
//! through source maps, with source context from `sourcesContent`. Sentry's own
//! `sourcemap` crate reads the maps (regular and indexed) and recovers function names
//! from the minified source.
//!
//! Which map belongs to a frame: the debug id the SDK reports for the frame's file
//! (`debug_meta.images` of type `sourcemap`, `code_file` → `debug_id`), else a map found
//! by release and file name ([`MapLookup::by_url`]). The event keeps the minified frames
//! as each exception's `raw_stacktrace`, as Sentry does; a frame whose map is missing or
//! malformed stays minified, and the reason goes into the event's `errors`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use sourcemap::{DecodedMap, SourceView};

use super::normalise_debug_id;

/// Frames mapped per event at most: a deep recursion is cut, not mapped frame by frame.
const MAX_FRAMES: usize = 500;
/// Lines of source context either side of the frame's line, as Sentry shows.
const CONTEXT_LINES: u32 = 5;
/// A context line longer than this (minified or generated code) is cut around the column.
const MAX_CONTEXT_LINE_CHARS: usize = 300;

/// A parsed source map, with the minified file it belongs to when the bundle has it
/// (function names are recovered from the minified code).
pub struct ParsedMap {
    map: DecodedMap,
    minified: Option<SourceView>,
    /// The URL it was uploaded under, shown beside the mapped frames.
    pub url: String,
    /// What it costs to keep parsed, roughly: the bytes it was read from.
    pub weight: usize,
}

impl ParsedMap {
    pub fn parse(map: &[u8], minified: Option<&[u8]>, url: &str) -> Result<ParsedMap, String> {
        let decoded = sourcemap::decode_slice(map)
            .map_err(|e| format!("the source map {url} is not valid: {e}"))?;
        if let DecodedMap::Index(ref idx) = decoded
            && idx.sections().any(|s| s.get_sourcemap().is_none())
        {
            return Err(format!(
                "the source map {url} is an index map that points to other files; upload it flattened"
            ));
        }
        let minified =
            minified.map(|m| SourceView::from_string(String::from_utf8_lossy(m).into_owned()));
        Ok(ParsedMap {
            weight: map.len() + minified.as_ref().map_or(0, |m| m.source().len()),
            map: decoded,
            minified,
            url: url.to_owned(),
        })
    }
}

/// Where symbolication finds maps. `Ok(None)`: nothing uploaded for it; `Err`: a map was
/// found but cannot be used, with the reason.
pub trait MapLookup {
    fn by_debug_id(&self, debug_id: &str) -> Result<Option<Arc<ParsedMap>>, String>;
    /// A map for the file at `abs_path` (a URL or a path), by release and file name.
    fn by_url(&self, abs_path: &str) -> Result<Option<Arc<ParsedMap>>, String>;
}

/// What symbolication did to one event.
#[derive(Debug, Default, PartialEq)]
pub struct Symbolicated {
    pub frames_mapped: usize,
    /// Files whose frames stayed minified, with the reason.
    pub errors: Vec<(String, String)>,
}

/// Whether an event has frames worth looking maps up for: a JavaScript platform, or
/// frames with a column in a `.js`-like file.
pub fn is_javascript(event: &Value) -> bool {
    if matches!(
        event.get("platform").and_then(Value::as_str),
        Some("javascript" | "node")
    ) {
        return true;
    }
    super::super::grouping::exception_values(event)
        .into_iter()
        .flat_map(super::super::grouping::frames)
        .any(|f| {
            f.get("colno").is_some()
                && f.get("abs_path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| [".js", ".mjs", ".cjs"].iter().any(|e| p.ends_with(e)))
        })
}

/// Maps the frames of every exception of `event` in place. The grouping and title the
/// event had are the caller's to recompute.
pub fn symbolicate_event(event: &mut Value, lookup: &dyn MapLookup) -> Symbolicated {
    let debug_ids = debug_ids_of(event);
    let mut out = Symbolicated::default();
    let mut maps: HashMap<String, Result<Option<Arc<ParsedMap>>, String>> = HashMap::new();
    let mut budget = MAX_FRAMES;
    let Some(values) = exception_values_mut(event) else {
        return out;
    };
    for exception in values {
        let Some(frames) = exception
            .get_mut("stacktrace")
            .and_then(|s| s.get_mut("frames"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        let raw = frames.clone();
        let mut mapped_here = 0;
        // The newest frames are last; map from the top of the stack down.
        for frame in frames.iter_mut().rev() {
            if budget == 0 {
                break;
            }
            let Some(abs_path) = frame
                .get("abs_path")
                .or_else(|| frame.get("filename"))
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            budget -= 1;
            let found =
                maps.entry(abs_path.clone())
                    .or_insert_with(|| match debug_ids.get(&abs_path) {
                        Some(id) => match lookup.by_debug_id(id) {
                            Ok(None) => lookup.by_url(&abs_path).and_then(|m| {
                                m.map(Some).ok_or_else(|| {
                                    format!("no source map was uploaded with debug id {id}")
                                })
                            }),
                            other => other,
                        },
                        None => lookup.by_url(&abs_path),
                    });
            match found {
                Ok(Some(map)) => match map_frame(frame, map) {
                    Ok(()) => mapped_here += 1,
                    Err(reason) => note_error(&mut out, frame, &abs_path, reason),
                },
                Ok(None) => {}
                Err(reason) => {
                    let reason = reason.clone();
                    note_error(&mut out, frame, &abs_path, reason);
                }
            }
        }
        if mapped_here > 0 {
            if let Some(obj) = exception.as_object_mut() {
                obj.insert("raw_stacktrace".into(), json!({ "frames": raw }));
            }
            out.frames_mapped += mapped_here;
        }
    }
    if !out.errors.is_empty()
        && let Some(obj) = event.as_object_mut()
    {
        let errors = obj
            .entry("errors")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = errors.as_array_mut() {
            for (url, reason) in &out.errors {
                list.push(json!({"type": "js_invalid_source_map", "url": url, "reason": reason}));
            }
        }
    }
    out
}

fn note_error(out: &mut Symbolicated, frame: &mut Value, abs_path: &str, reason: String) {
    if let Some(data) = frame_data(frame) {
        data.insert("sourcemap_error".into(), Value::String(reason.clone()));
    }
    if !out.errors.iter().any(|(u, _)| u == abs_path) {
        out.errors.push((abs_path.to_owned(), reason));
    }
}

fn frame_data(frame: &mut Value) -> Option<&mut Map<String, Value>> {
    frame
        .as_object_mut()?
        .entry("data")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

/// `code_file` → debug id from `debug_meta.images` of type `sourcemap`.
fn debug_ids_of(event: &Value) -> HashMap<String, String> {
    event
        .get("debug_meta")
        .and_then(|d| d.get("images"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("sourcemap"))
        .filter_map(|i| {
            let file = i.get("code_file").and_then(Value::as_str)?;
            let id = i
                .get("debug_id")
                .and_then(Value::as_str)
                .and_then(normalise_debug_id)?;
            Some((file.to_owned(), id))
        })
        .collect()
}

fn exception_values_mut(event: &mut Value) -> Option<&mut Vec<Value>> {
    match event.get_mut("exception")? {
        Value::Object(o) => o.get_mut("values")?.as_array_mut(),
        Value::Array(a) => Some(a),
        _ => None,
    }
}

/// Maps one frame. Lines and columns in events are 1-based, in source maps 0-based.
fn map_frame(frame: &mut Value, parsed: &ParsedMap) -> Result<(), String> {
    let line = frame.get("lineno").and_then(Value::as_u64);
    let col = frame.get("colno").and_then(Value::as_u64);
    let (Some(line), Some(col)) = (line, col) else {
        return Err("the frame has no line and column to map".into());
    };
    let (line0, col0) = (
        line.saturating_sub(1).min(u32::MAX as u64) as u32,
        col.saturating_sub(1).min(u32::MAX as u64) as u32,
    );
    let Some(token) = parsed.map.lookup_token(line0, col0) else {
        return Err(format!(
            "line {line}, column {col} is outside the source map {}",
            parsed.url
        ));
    };
    let Some(source) = token.get_source().map(str::to_owned) else {
        return Err(format!(
            "line {line}, column {col} has no original source in {}",
            parsed.url
        ));
    };
    let minified_function = frame
        .get("function")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let function = minified_function.as_deref().and_then(|name| {
        // `Foo.a`: the method's own name is what the minifier renamed.
        let (prefix, last) = match name.rsplit_once('.') {
            Some((p, l)) => (Some(p), l),
            None => (None, name),
        };
        let original = parsed.map.get_original_function_name(
            line0,
            col0,
            Some(last),
            parsed.minified.as_ref(),
        )?;
        Some(match prefix {
            Some(p) => format!("{p}.{original}"),
            None => original.to_owned(),
        })
    });
    let src_line = token.get_src_line();
    let context = token.get_source_view().map(|view| {
        let text = |i: u32| {
            view.get_line(i)
                .map(|l| cut_line(l, token.get_src_col() as usize))
        };
        let pre: Vec<Value> = (src_line.saturating_sub(CONTEXT_LINES)..src_line)
            .filter_map(text)
            .map(Value::String)
            .collect();
        // A map may name any line, up to u32::MAX (found by fuzzing).
        let post: Vec<Value> = (src_line.saturating_add(1)
            ..=src_line.saturating_add(CONTEXT_LINES))
            .filter_map(text)
            .map(Value::String)
            .collect();
        (text(src_line), pre, post)
    });

    let Some(obj) = frame.as_object_mut() else {
        return Err("the frame is not an object".into());
    };
    let clean = clean_source_path(&source);
    obj.insert("abs_path".into(), Value::String(source.clone()));
    obj.insert("filename".into(), Value::String(clean.clone()));
    obj.insert("lineno".into(), json!(src_line as u64 + 1));
    obj.insert("colno".into(), json!(token.get_src_col() as u64 + 1));
    if let Some(f) = function {
        obj.insert("function".into(), Value::String(f));
    }
    // The module was derived from the minified file's name; the original's is the one
    // grouping should use.
    obj.insert(
        "module".into(),
        Value::String(
            clean
                .rsplit_once('.')
                .map_or(clean.as_str(), |(stem, _)| stem)
                .to_owned(),
        ),
    );
    if source.contains("/node_modules/") {
        obj.insert("in_app".into(), Value::Bool(false));
    }
    for k in ["context_line", "pre_context", "post_context"] {
        obj.remove(k);
    }
    if let Some((Some(line), pre, post)) = context {
        obj.insert("context_line".into(), Value::String(line));
        obj.insert("pre_context".into(), Value::Array(pre));
        obj.insert("post_context".into(), Value::Array(post));
    }
    if let Some(data) = frame_data(frame) {
        data.insert("sourcemap".into(), Value::String(parsed.url.clone()));
        data.insert("symbolicated".into(), Value::Bool(true));
        if let Some(m) = minified_function {
            data.insert("minified_function".into(), Value::String(m));
        }
    }
    Ok(())
}

/// The original source path as people name it: bundler prefixes (`webpack://app/`) and
/// leading `./` and `../` dropped.
fn clean_source_path(source: &str) -> String {
    let mut s = source;
    if let Some((scheme, rest)) = s.split_once("://")
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+')
    {
        s = rest;
        if scheme != "file" {
            // `webpack://app-name/src/x.js`: the first segment is the project's name.
            s = s.split_once('/').map_or(s, |(_, p)| p);
        }
    }
    while let Some(rest) = s.strip_prefix("./").or_else(|| s.strip_prefix("../")) {
        s = rest;
    }
    s.to_owned()
}

fn cut_line(line: &str, col: usize) -> String {
    if line.chars().count() <= MAX_CONTEXT_LINE_CHARS {
        return line.to_owned();
    }
    let half = MAX_CONTEXT_LINE_CHARS / 2;
    let start = col.saturating_sub(half);
    line.chars()
        .skip(start)
        .take(MAX_CONTEXT_LINE_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // `function explode() {\n  throw new Error("boom");\n}\nexplode();\n` minified to
    // `function a(){throw new Error("boom")}a();` with sentry-cli's debug id injected.
    const MINIFIED: &str =
        "function a(){throw new Error(\"boom\")}a();\n//# sourceMappingURL=app.min.js.map\n";
    const MAP: &str = r#"{"version":3,"sources":["../src/app.js"],"sourcesContent":["function explode() {\n  throw new Error(\"boom\");\n}\nexplode();\n"],"names":["explode"],"mappings":"AAAA,SAASA,IACP,MAAM,IAAI,MAAM,MAAM,CACxB,CACAA,GAAQ","debugId":"f9e36468-0e5a-59e6-bfff-1f71202f98ba"}"#;
    const DEBUG_ID: &str = "f9e36468-0e5a-59e6-bfff-1f71202f98ba";

    struct Maps(HashMap<String, Result<Option<Arc<ParsedMap>>, String>>);

    impl MapLookup for Maps {
        fn by_debug_id(&self, id: &str) -> Result<Option<Arc<ParsedMap>>, String> {
            self.0.get(id).cloned().unwrap_or(Ok(None))
        }
        fn by_url(&self, abs_path: &str) -> Result<Option<Arc<ParsedMap>>, String> {
            self.0.get(abs_path).cloned().unwrap_or(Ok(None))
        }
    }

    fn event(with_debug_id: bool) -> Value {
        let mut e = json!({
            "platform": "node",
            "exception": {"values": [{"type": "Error", "value": "boom", "stacktrace": {"frames": [
                {"filename": "/srv/dist/app.min.js", "abs_path": "/srv/dist/app.min.js", "function": "a", "lineno": 1, "colno": 38, "in_app": true},
                {"filename": "/srv/dist/app.min.js", "abs_path": "/srv/dist/app.min.js", "function": "a", "lineno": 1, "colno": 14, "in_app": true, "module": "app.min"}
            ]}}]}
        });
        if with_debug_id {
            e["debug_meta"] = json!({"images": [{"type": "sourcemap", "code_file": "/srv/dist/app.min.js", "debug_id": DEBUG_ID}]});
        }
        e
    }

    fn parsed() -> Arc<ParsedMap> {
        Arc::new(
            ParsedMap::parse(
                MAP.as_bytes(),
                Some(MINIFIED.as_bytes()),
                "~/app.min.js.map",
            )
            .unwrap(),
        )
    }

    #[test]
    fn frames_are_mapped_by_debug_id_with_context() {
        let maps = Maps([(DEBUG_ID.to_string(), Ok(Some(parsed())))].into());
        let mut e = event(true);
        let out = symbolicate_event(&mut e, &maps);
        assert_eq!(out.frames_mapped, 2);
        assert!(out.errors.is_empty());
        let top = &e["exception"]["values"][0]["stacktrace"]["frames"][1];
        assert_eq!(top["filename"], "src/app.js");
        assert_eq!(top["abs_path"], "../src/app.js");
        assert_eq!(top["lineno"], 2);
        assert_eq!(top["colno"], 3);
        assert_eq!(top["function"], "explode");
        assert_eq!(top["module"], "src/app");
        assert_eq!(top["context_line"], "  throw new Error(\"boom\");");
        assert_eq!(top["pre_context"], json!(["function explode() {"]));
        assert_eq!(top["post_context"], json!(["}", "explode();", ""]));
        assert_eq!(top["data"]["symbolicated"], true);
        assert_eq!(top["data"]["minified_function"], "a");
        let raw = &e["exception"]["values"][0]["raw_stacktrace"]["frames"][1];
        assert_eq!(raw["function"], "a");
        assert_eq!(raw["colno"], 14);
    }

    #[test]
    fn frames_are_mapped_by_file_name_without_debug_id() {
        let maps = Maps([("/srv/dist/app.min.js".to_string(), Ok(Some(parsed())))].into());
        let mut e = event(false);
        assert_eq!(symbolicate_event(&mut e, &maps).frames_mapped, 2);
        assert_eq!(
            e["exception"]["values"][0]["stacktrace"]["frames"][0]["lineno"],
            4
        );
    }

    #[test]
    fn a_malformed_map_leaves_frames_minified_with_the_reason() {
        let bad = ParsedMap::parse(
            b"{\"version\": 3, \"mappings\": 7}",
            None,
            "~/app.min.js.map",
        );
        let reason = bad.err().expect("refused");
        assert!(reason.contains("not valid"), "{reason}");
        let maps = Maps([(DEBUG_ID.to_string(), Err(reason.clone()))].into());
        let mut e = event(true);
        let out = symbolicate_event(&mut e, &maps);
        assert_eq!(out.frames_mapped, 0);
        assert_eq!(
            out.errors,
            vec![("/srv/dist/app.min.js".to_string(), reason.clone())]
        );
        let top = &e["exception"]["values"][0]["stacktrace"]["frames"][1];
        assert_eq!(top["function"], "a");
        assert_eq!(top["data"]["sourcemap_error"], reason.as_str());
        assert_eq!(e["errors"][0]["type"], "js_invalid_source_map");
        assert!(e["exception"]["values"][0].get("raw_stacktrace").is_none());
    }

    #[test]
    fn a_debug_id_without_an_upload_is_reported() {
        let mut e = event(true);
        let out = symbolicate_event(&mut e, &Maps(HashMap::new()));
        assert_eq!(out.frames_mapped, 0);
        assert!(out.errors[0].1.contains("no source map was uploaded"));
    }

    #[test]
    fn platform_and_file_names_tell_javascript() {
        assert!(is_javascript(&event(false)));
        assert!(!is_javascript(
            &json!({"platform": "python", "exception": {"values": [{"stacktrace": {"frames": [{"abs_path": "/app/x.py", "lineno": 3}]}}]}})
        ));
    }

    #[test]
    fn source_paths_are_cleaned() {
        assert_eq!(clean_source_path("webpack://my-app/src/x.js"), "src/x.js");
        assert_eq!(clean_source_path("../../src/x.ts"), "src/x.ts");
        assert_eq!(clean_source_path("file:///srv/src/x.js"), "/srv/src/x.js");
    }

    /// Found by the `source_maps` fuzz target: a map whose mappings point at a source line
    /// its (cut short) `sourcesContent` does not have, against frames past the minified file.
    #[test]
    fn a_map_pointing_past_its_sources_leaves_the_frames_usable() {
        let map = include_bytes!("../../../tests/fixtures/sentry/sourcemap-fuzz-crash-001.map");
        let parsed = ParsedMap::parse(
            map,
            Some(b"function a(){throw new Error('x')}a();"),
            "~/a.js.map",
        )
        .unwrap();
        let maps = Maps([("https://x/a.js".to_string(), Ok(Some(Arc::new(parsed))))].into());
        let mut e = json!({
            "platform": "javascript",
            "exception": {"values": [{"type": "Error", "stacktrace": {"frames": [
                {"abs_path": "https://x/a.js", "function": "a", "lineno": 1, "colno": 14},
                {"abs_path": "https://x/a.js", "function": "b.c", "lineno": 4000000000u64, "colno": 0}
            ]}}]}
        });
        let _ = symbolicate_event(&mut e, &maps);
        assert_eq!(
            e["exception"]["values"][0]["stacktrace"]["frames"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
