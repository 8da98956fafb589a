//! The layering of ARCHITECTURE.md as a checked invariant: each crate's `[dependencies]`
//! on other Pharos crates, read from the workspace's manifests, must be within what the
//! map allows, so a wrong dependency fails CI instead of going stale in a document.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each crate may depend on among the Pharos crates. Stages depend down towards
/// `model`; the application layer sees every stage; `web` (the HTTP edge) sees only the
/// application layer and `model`; the pages (`ui`) read through `web` and `app` and may
/// read stage types for display; only the binary sees everything.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("template", &["model"]),
    ("ingest", &["model"]),
    ("promql", &["model"]),
    ("tsdb", &["model"]),
    ("logs", &["model"]),
    ("store", &["model"]),
    ("scrape", &["model", "ingest", "tsdb"]),
    (
        "evaluate",
        &["model", "store", "template", "promql", "tsdb"],
    ),
    ("notify", &["model", "store", "template"]),
    (
        "app",
        &[
            "model", "ingest", "store", "evaluate", "notify", "tsdb", "promql", "scrape", "logs",
        ],
    ),
    ("web", &["model", "app"]),
    (
        "ui",
        &[
            "model", "app", "web", "ingest", "store", "evaluate", "notify", "promql", "logs",
        ],
    ),
    (
        "pharos",
        &[
            "model", "ingest", "store", "evaluate", "notify", "tsdb", "promql", "scrape", "logs",
            "app", "web", "ui",
        ],
    ),
];

/// Dependencies that break the map, each with why (none today); the test fails when one of
/// them goes away (so the list shrinks) or when any other appears.
const KNOWN_EXCEPTIONS: &[(&str, &str, &str)] = &[];

fn pharos_dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut in_deps = false;
    let mut deps = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some(rest) = line.strip_prefix("pharos-") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            deps.insert(name);
        }
    }
    deps
}

#[test]
fn crate_dependencies_follow_the_map() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut found = BTreeSet::new();
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let Some(ok) = allowed.get(name.as_str()) else {
            problems.push(format!(
                "crate {name} is not in the map (ARCHITECTURE.md and ALLOWED)"
            ));
            continue;
        };
        for dep in pharos_dependencies(&manifest) {
            let excepted = KNOWN_EXCEPTIONS
                .iter()
                .any(|(from, to, _)| *from == name && *to == dep);
            if excepted {
                found.insert((name.clone(), dep));
            } else if !ok.contains(&dep.as_str()) {
                problems.push(format!("{name} must not depend on {dep}"));
            }
        }
    }
    for (from, to, why) in KNOWN_EXCEPTIONS {
        if !found.contains(&(from.to_string(), to.to_string())) {
            problems.push(format!(
                "{from} no longer depends on {to} ({why}): remove the exception"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
