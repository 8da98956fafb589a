//! Target discovery: `static_configs` and `file_sd_configs` (JSON or YAML files of target
//! groups, re-read every `refresh_interval` and whenever the config is reloaded), turned
//! into target groups with Prometheus's discovery labels (`__address__`,
//! `__meta_filepath`), ready for `relabel_configs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ScrapeError;
use crate::config::{FileSdConfig, StaticConfig};

/// Targets that share labels, as both static configs and SD files write them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Where the group came from (`static`, or the file path).
    #[serde(skip)]
    pub source: String,
}

pub fn static_groups(configs: &[StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| TargetGroup {
            targets: c.targets.clone(),
            labels: c.labels.clone(),
            source: format!("static/{i}"),
        })
        .collect()
}

/// Prometheus allows a glob only in the last path segment (`dir/*.json`), and only the
/// extensions .json, .yml and .yaml.
pub fn check_file_pattern(pattern: &str) -> Result<(), ScrapeError> {
    let p = Path::new(pattern);
    let parent = p
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    if parent.contains(['*', '?', '[']) {
        return Err(ScrapeError::GlobInDirectory {
            pattern: pattern.to_string(),
        });
    }
    let ok = [".json", ".yml", ".yaml"]
        .iter()
        .any(|ext| pattern.ends_with(ext));
    if !ok {
        return Err(ScrapeError::FileExtension {
            pattern: pattern.to_string(),
        });
    }
    Ok(())
}

/// The files a pattern names now, sorted. Relative patterns are taken from `base` (the
/// config file's directory).
pub fn expand_pattern(pattern: &str, base: &Path) -> Vec<PathBuf> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return if full.exists() {
            vec![full]
        } else {
            Vec::new()
        };
    }
    let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
    let Ok(re) = regex::Regex::new(&glob_regex(&name)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| re.is_match(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// A shell glob (`*`, `?`, `[...]`) as an anchored regex over one file name.
fn glob_regex(glob: &str) -> String {
    let mut re = String::from("^");
    let mut in_class = false;
    for c in glob.chars() {
        match (c, in_class) {
            ('*', false) => re.push_str("[^/]*"),
            ('?', false) => re.push_str("[^/]"),
            ('[', false) => {
                in_class = true;
                re.push('[');
            }
            (']', true) => {
                in_class = false;
                re.push(']');
            }
            ('!', true) if re.ends_with('[') => re.push('^'),
            (c, _) => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

/// Reads one SD file. An unreadable or malformed file is an error for that file only;
/// Prometheus keeps the groups it last read from it.
pub fn read_file(path: &Path) -> Result<Vec<TargetGroup>, ScrapeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScrapeError::ReadSdFile {
        path: path.to_path_buf(),
        source,
    })?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    let mut groups: Vec<TargetGroup> = if is_json {
        serde_json::from_str(&text).map_err(|source| ScrapeError::SdFileJson {
            path: path.to_path_buf(),
            source,
        })?
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_norway::from_str(&text).map_err(|source| ScrapeError::SdFileYaml {
            path: path.to_path_buf(),
            source,
        })?
    };
    let source = path.display().to_string();
    for g in &mut groups {
        g.labels.insert("__meta_filepath".into(), source.clone());
        g.source = source.clone();
    }
    Ok(groups)
}

/// The groups of every file of a `file_sd_configs` entry; files that fail keep their
/// previous groups (from `previous`), and the errors are returned beside.
pub fn file_groups(
    config: &FileSdConfig,
    base: &Path,
    previous: &BTreeMap<PathBuf, Vec<TargetGroup>>,
) -> (BTreeMap<PathBuf, Vec<TargetGroup>>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for pattern in &config.files {
        for path in expand_pattern(pattern, base) {
            match read_file(&path) {
                Ok(g) => {
                    out.insert(path, g);
                }
                Err(e) => {
                    errors.push(e.to_string());
                    if let Some(g) = previous.get(&path) {
                        out.insert(path, g.clone());
                    }
                }
            }
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_files_in_json_and_yaml_with_globs() {
        let dir = std::env::temp_dir().join(format!("pharos-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.json"),
            r#"[{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod"}}]"#,
        )
        .unwrap();
        std::fs::write(dir.join("b.yml"), "- targets: ['h3:9100']\n").unwrap();
        std::fs::write(dir.join("c.json"), "not json").unwrap();
        let cfg = FileSdConfig {
            files: vec!["*.json".into(), "b.yml".into()],
            refresh_interval: pharos_model::HumanDuration::from_secs(60),
        };
        let (groups, errors) = file_groups(&cfg, &dir, &BTreeMap::new());
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(errors.len(), 1);
        let a = &groups[&dir.join("a.json")][0];
        assert_eq!(a.targets.len(), 2);
        assert_eq!(
            a.labels["__meta_filepath"],
            dir.join("a.json").display().to_string()
        );
        // A broken file keeps what was read from it before.
        let (again, _) = file_groups(
            &cfg,
            &dir,
            &BTreeMap::from([(dir.join("c.json"), vec![a.clone()])]),
        );
        assert_eq!(again.len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(check_file_pattern("/etc/*/x.json").is_err());
        assert!(check_file_pattern("/etc/x.txt").is_err());
        assert!(check_file_pattern("/etc/t_*.yaml").is_ok());
    }

    #[test]
    fn an_unreadable_file_is_named_with_the_io_error() {
        let path =
            std::env::temp_dir().join(format!("pharos-sd-missing-{}.json", std::process::id()));
        let e = read_file(&path).unwrap_err();
        let ScrapeError::ReadSdFile { source, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(e.to_string(), format!("{}: {source}", path.display()));
    }
}
