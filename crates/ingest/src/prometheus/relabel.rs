//! Prometheus relabelling (`relabel_configs`, `metric_relabel_configs`,
//! `write_relabel_configs`): the YAML shape Prometheus reads, the checks `promtool` makes,
//! and the rewriting rules of Prometheus's `relabel.Process`, so a user's rules behave
//! here as they did there.

use std::fmt;

use md5::{Digest, Md5};
use pharos_model::series::LabelSet;
use regex::Regex;
use serde::{Deserialize, Deserializer};

use crate::IngestError;

/// What a rule does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

/// A regex anchored at both ends, as Prometheus anchors relabelling regexes.
#[derive(Clone)]
pub struct AnchoredRegex {
    source: String,
    regex: Regex,
}

impl AnchoredRegex {
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        Ok(AnchoredRegex {
            source: source.to_string(),
            regex: Regex::new(&format!("^(?s:{source})$"))?,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

impl fmt::Debug for AnchoredRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl Default for AnchoredRegex {
    fn default() -> Self {
        AnchoredRegex::new("(.*)").expect("the default regex compiles")
    }
}

impl<'de> Deserialize<'de> for AnchoredRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AnchoredRegex::new(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid regex {s:?}: {e}")))
    }
}

fn default_separator() -> String {
    ";".into()
}

fn default_replacement() -> String {
    "$1".into()
}

/// One relabelling rule as written in `prometheus.yml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default)]
    pub target_label: Option<String>,
    #[serde(default)]
    pub regex: AnchoredRegex,
    #[serde(default)]
    pub modulus: Option<u64>,
    #[serde(default = "default_replacement")]
    pub replacement: String,
    #[serde(default)]
    pub action: Action,
}

impl RelabelConfig {
    /// The checks Prometheus makes when it loads a config, with its messages.
    pub fn validate(&self) -> Result<(), IngestError> {
        let action = self.action;
        let target = self.target_label.as_deref().unwrap_or("");
        match self.action {
            Action::Replace
            | Action::HashMod
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
                if target.is_empty() =>
            {
                return Err(IngestError::RelabelTargetLabel { action });
            }
            _ => {}
        }
        if self.action == Action::HashMod && self.modulus.unwrap_or(0) == 0 {
            return Err(IngestError::RelabelModulus);
        }
        if matches!(self.action, Action::KeepEqual | Action::DropEqual)
            && self.source_labels.is_empty()
        {
            return Err(IngestError::RelabelSourceLabels { action });
        }
        if matches!(
            self.action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        ) && (self.replacement != "$1" || self.regex.as_str() != "(.*)")
        {
            return Err(IngestError::RelabelOnlyLabels { action });
        }
        if matches!(self.action, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || !target.is_empty()
                || self.modulus.is_some()
                || self.separator != ";"
                || self.replacement != "$1")
        {
            return Err(IngestError::RelabelOnlyRegex { action });
        }
        Ok(())
    }
}

/// Applies rules in order; `None` when a rule drops the label set. Labels whose value
/// becomes empty are removed.
pub fn process(labels: &LabelSet, rules: &[RelabelConfig]) -> Option<LabelSet> {
    let mut lb = labels.clone();
    for rule in rules {
        if !apply(rule, &mut lb) {
            return None;
        }
    }
    Some(lb)
}

fn apply(rule: &RelabelConfig, lb: &mut LabelSet) -> bool {
    let val = rule
        .source_labels
        .iter()
        .map(|n| lb.get(n).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(&rule.separator);
    let target = rule.target_label.as_deref().unwrap_or("");
    match rule.action {
        Action::Drop => return !rule.regex.is_match(&val),
        Action::Keep => return rule.regex.is_match(&val),
        Action::DropEqual => return lb.get(target).unwrap_or("") != val,
        Action::KeepEqual => return lb.get(target).unwrap_or("") == val,
        Action::Replace => {
            let Some(caps) = rule.regex.regex.captures(&val) else {
                return true;
            };
            let mut name = String::new();
            caps.expand(target, &mut name);
            if name.is_empty() {
                return true;
            }
            let mut value = String::new();
            caps.expand(&rule.replacement, &mut value);
            lb.set(&name, value);
        }
        Action::Lowercase => lb.set(target, val.to_lowercase()),
        Action::Uppercase => lb.set(target, val.to_uppercase()),
        Action::HashMod => {
            let hash = Md5::digest(val.as_bytes());
            let tail: [u8; 8] = hash[8..16].try_into().expect("md5 is 16 bytes");
            let m = u64::from_be_bytes(tail) % rule.modulus.unwrap_or(1).max(1);
            lb.set(target, m.to_string());
        }
        Action::LabelMap => {
            for l in lb.clone().iter() {
                if rule.regex.is_match(&l.name) {
                    let name = rule
                        .regex
                        .regex
                        .replace_all(&l.name, rule.replacement.as_str())
                        .into_owned();
                    lb.set(&name, l.value.clone());
                }
            }
        }
        Action::LabelDrop | Action::LabelKeep => {
            let drop_matching = rule.action == Action::LabelDrop;
            let names: Vec<String> = lb
                .iter()
                .filter(|l| rule.regex.is_match(&l.name) == drop_matching)
                .map(|l| l.name.clone())
                .collect();
            for n in names {
                lb.remove(&n);
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<RelabelConfig> {
        let r: Vec<RelabelConfig> = serde_norway::from_str(yaml).unwrap();
        for x in &r {
            x.validate().unwrap();
        }
        r
    }

    #[test]
    fn replace_keep_drop_as_prometheus_does() {
        let l = LabelSet::new([
            ("__address__", "10.0.0.1:9100"),
            ("__meta_env", "prod"),
            ("job", "node"),
        ]);
        let r = rules(
            r#"
- source_labels: [__address__]
  regex: '([^:]+):\d+'
  target_label: host
- source_labels: [__meta_env, job]
  separator: '/'
  target_label: path
- source_labels: [job]
  regex: 'node|api'
  action: keep
- source_labels: [missing]
  regex: 'x'
  target_label: never
  replacement: set
- source_labels: [job]
  target_label: job
  replacement: ''
"#,
        );
        let out = process(&l, &r).unwrap();
        assert_eq!(out.get("host"), Some("10.0.0.1"));
        assert_eq!(out.get("path"), Some("prod/node"));
        assert_eq!(out.get("never"), None);
        assert_eq!(
            out.get("job"),
            None,
            "an empty replacement deletes the label"
        );
        let drop = rules("- source_labels: [__meta_env]\n  regex: prod\n  action: drop\n");
        assert!(process(&l, &drop).is_none());
    }

    #[test]
    fn labelmap_labeldrop_labelkeep_case_and_equal() {
        let l = LabelSet::new([
            ("__meta_kubernetes_pod_label_app", "web"),
            ("__meta_x", "1"),
            ("a", "A"),
            ("b", "A"),
        ]);
        let r = rules(
            r#"
- action: labelmap
  regex: __meta_kubernetes_pod_label_(.+)
- action: labeldrop
  regex: __meta_.*
- source_labels: [a]
  target_label: lower
  action: lowercase
- source_labels: [a]
  target_label: b
  action: keepequal
"#,
        );
        let out = process(&l, &r).unwrap();
        assert_eq!(out.to_string(), r#"{a="A", app="web", b="A", lower="a"}"#);
        let keep = rules("- action: labelkeep\n  regex: a|b\n");
        assert_eq!(
            process(&out, &keep).unwrap().to_string(),
            r#"{a="A", b="A"}"#
        );
        let dropeq = rules("- source_labels: [a]\n  target_label: b\n  action: dropequal\n");
        assert!(process(&out, &dropeq).is_none());
    }

    #[test]
    fn hashmod_matches_prometheus() {
        // Prometheus: md5("10.0.0.1:9100") low 64 bits big-endian, modulo 8.
        let l = LabelSet::new([("__address__", "10.0.0.1:9100")]);
        let r = rules(
            "- source_labels: [__address__]\n  modulus: 8\n  target_label: __tmp_hash\n  action: hashmod\n",
        );
        let out = process(&l, &r).unwrap();
        let digest = Md5::digest(b"10.0.0.1:9100");
        let want = u64::from_be_bytes(digest[8..].try_into().unwrap()) % 8;
        assert_eq!(out.get("__tmp_hash"), Some(want.to_string().as_str()));
    }

    #[test]
    fn invalid_rules_are_refused_with_prometheus_messages() {
        for (yaml, want) in [
            (
                "- source_labels: [a]\n",
                "relabel configuration for replace action requires 'target_label' value",
            ),
            (
                "- action: hashmod\n  target_label: x\n  source_labels: [a]\n",
                "relabel configuration for hashmod requires non-zero modulus",
            ),
            (
                "- action: keepequal\n  target_label: x\n",
                "relabel configuration for keepequal action requires 'source_labels' value",
            ),
            (
                "- action: lowercase\n  target_label: x\n  source_labels: [a]\n  regex: a\n",
                "lowercase action requires only 'source_labels' and `target_label`, and no other fields",
            ),
            (
                "- action: labeldrop\n  regex: a\n  source_labels: [b]\n",
                "labeldrop action requires only 'regex', and no other fields",
            ),
        ] {
            let r: Vec<RelabelConfig> = serde_norway::from_str(yaml).unwrap();
            let e = r[0].validate().unwrap_err();
            assert_eq!(e.to_string(), want, "{yaml}");
        }
        assert!(serde_norway::from_str::<Vec<RelabelConfig>>("- regex: '('\n").is_err());
        assert!(serde_norway::from_str::<Vec<RelabelConfig>>("- action: explode\n").is_err());
    }
}
