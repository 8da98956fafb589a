//! Runbooks: what to do about an alert, shown beside its incident. A `runbook_url`
//! annotation links to one elsewhere; `runbooks:` in `pharos.yaml` maps an alert name to
//! a Markdown file, and `runbooks_dir:` holds `<alertname>.md` files. Files are read when
//! the incident page asks, so an edited runbook shows without a reload.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pharos_model::Alert;
use serde::Serialize;

/// The largest runbook file read; a runbook is a page, not a manual.
const MAX_RUNBOOK_BYTES: u64 = 256 * 1024;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Runbooks {
    /// Alert name → Markdown file (resolved against the config file's directory).
    pub files: BTreeMap<String, PathBuf>,
    pub dir: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Runbook {
    /// From a `runbook_url` annotation.
    Link { alertname: String, url: String },
    /// A Markdown file from the config; `markdown` is the raw text, rendered by the UI.
    Markdown {
        alertname: String,
        path: String,
        markdown: String,
    },
}

/// An alert name is used as a file name only when it cannot leave the directory.
fn safe_file_stem(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

impl Runbooks {
    /// The runbooks of these alerts, one per alert name (a link and a file may both be).
    pub fn for_alerts(&self, alerts: &[Alert]) -> Vec<Runbook> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for a in alerts {
            let name = a.name().to_string();
            if let Some(url) = a.annotations.get("runbook_url")
                && (url.starts_with("https://") || url.starts_with("http://"))
                && seen.insert(("link", url.clone()))
            {
                out.push(Runbook::Link {
                    alertname: name.clone(),
                    url: url.clone(),
                });
            }
            if !seen.insert(("file", name.clone())) {
                continue;
            }
            if let Some(rb) = self.file_for(&name) {
                out.push(rb);
            }
        }
        out
    }

    fn file_for(&self, name: &str) -> Option<Runbook> {
        let path = match self.files.get(name) {
            Some(p) => p.clone(),
            None => {
                let dir = self.dir.as_ref()?;
                if !safe_file_stem(name) {
                    return None;
                }
                let p = dir.join(format!("{name}.md"));
                if !p.is_file() {
                    return None;
                }
                p
            }
        };
        let markdown = match read_limited(&path) {
            Ok(t) => t,
            Err(e) => format!(
                "*The runbook file `{}` cannot be read: {e}*",
                path.display()
            ),
        };
        Some(Runbook::Markdown {
            alertname: name.to_string(),
            path: path.display().to_string(),
            markdown,
        })
    }
}

fn read_limited(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_RUNBOOK_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use pharos_model::{AlertState, Labels};

    fn alert(name: &str, runbook_url: Option<&str>) -> Alert {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), name.into());
        let mut annotations = Labels::new();
        if let Some(u) = runbook_url {
            annotations.insert("runbook_url".into(), u.into());
        }
        Alert {
            fingerprint: Alert::fingerprint_of(&labels),
            labels,
            annotations,
            state: AlertState::Firing,
            starts_at: Utc::now(),
            ends_at: None,
            generator_url: String::new(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn files_directory_and_links() {
        let dir = std::env::temp_dir().join(format!("pharos-runbooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("DatabaseDown.md"), "# Runbook: Database\n").unwrap();
        std::fs::write(dir.join("mapped.md"), "# Mapped\n").unwrap();
        let rb = Runbooks {
            files: [("MonitorDown".to_string(), dir.join("mapped.md"))].into(),
            dir: Some(dir.clone()),
        };
        let found = rb.for_alerts(&[
            alert("MonitorDown", Some("https://wiki.example.com/monitor-down")),
            alert("DatabaseDown", None),
            alert("../etc/passwd", None),
            alert("NoBook", Some("javascript:alert(1)")),
        ]);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(matches!(&found[0], Runbook::Link { url, .. } if url.contains("wiki")));
        assert!(
            matches!(&found[1], Runbook::Markdown { markdown, .. } if markdown == "# Mapped\n")
        );
        assert!(
            matches!(&found[2], Runbook::Markdown { markdown, .. } if markdown.contains("Database"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
