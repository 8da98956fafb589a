//! A rule file as the user typed it: the serde shapes of `groups:` and `rules:`, with
//! YAML scalars of any type read as text where Prometheus reads strings.

use std::collections::BTreeMap;
use std::fmt;

use pharos_model::HumanDuration;
use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) interval: Option<HumanDuration>,
    #[serde(default)]
    pub(super) limit: Option<usize>,
    #[serde(default)]
    pub(super) query_offset: Option<HumanDuration>,
    /// Prometheus 3: labels added to every rule of the group.
    #[serde(default, deserialize_with = "string_map")]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    #[serde(default)]
    pub(super) record: Option<String>,
    #[serde(default)]
    pub(super) alert: Option<String>,
    #[serde(default, deserialize_with = "scalar_string")]
    pub(super) expr: Option<String>,
    #[serde(default, rename = "for")]
    pub(super) hold: Option<HumanDuration>,
    #[serde(default)]
    pub(super) keep_firing_for: Option<HumanDuration>,
    #[serde(default, deserialize_with = "string_map")]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "string_map")]
    pub(super) annotations: BTreeMap<String, String>,
}

/// YAML scalars of any type read as their text, as Go's YAML library does for a string
/// field (`severity: 1`, `expr: 1`).
#[derive(Clone)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| s.0))
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, Scalar>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}
