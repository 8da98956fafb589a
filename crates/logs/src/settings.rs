//! The store's part of the `logs:` section of `pharos.yaml`: how long entries are kept
//! (per service and level), the disk budget and the commit cadence, parsed into checked
//! types at the edge so the store never sees a string it has to interpret.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use pharos_model::{HumanDuration, LogEntry, LogLevel};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// ```yaml
/// logs:
///   retention:
///     default: 7d
///     rules:            # first match wins
///       - service: payments
///         keep: forever
///       - level: ">=CRITICAL"
///         keep: 30d
///   max_disk: 5GB
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub retention: RetentionSettings,
    /// Disk budget for the whole store (partitions + WAL). When over it, the oldest
    /// partitions lose their entries that no `forever` rule keeps, oldest day first.
    /// `None` (the default) means no budget.
    pub max_disk: Option<ByteSize>,
    /// How often indexed entries become searchable; also the longest a replay on start
    /// has to redo. Default 1s.
    pub commit_interval: HumanDuration,
    /// Memory the indexer may buffer per open partition before it flushes a segment.
    /// Default 64MB.
    pub indexer_memory: ByteSize,
    /// Indexing threads per open partition. Default 1: the cores are shared with
    /// everything else Pharos does.
    pub indexer_threads: usize,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            retention: RetentionSettings::default(),
            max_disk: None,
            commit_interval: HumanDuration::from_secs(1),
            indexer_memory: ByteSize(64 << 20),
            indexer_threads: 1,
        }
    }
}

impl LogSettings {
    pub fn max_disk_bytes(&self) -> Option<u64> {
        self.max_disk.map(|b| b.0)
    }

    pub(crate) fn commit_every(&self) -> Duration {
        let d = self.commit_interval.as_duration();
        if d.is_zero() {
            Duration::from_millis(200)
        } else {
            d
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// What an entry no rule matches keeps. Default 7d.
    pub default: Keep,
    /// Checked in order; the first rule whose conditions all hold decides.
    pub rules: Vec<RetentionRule>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            default: Keep::For(HumanDuration::from_secs(7 * 86_400)),
            rules: Vec::new(),
        }
    }
}

impl RetentionSettings {
    /// How long this entry is kept.
    pub fn keep_for(&self, entry: &LogEntry) -> Keep {
        self.keep_for_parts(&entry.service, entry.level)
    }

    pub(crate) fn keep_for_parts(&self, service: &str, level: Option<LogLevel>) -> Keep {
        self.rules
            .iter()
            .find(|r| r.matches(service, level))
            .map(|r| r.keep)
            .unwrap_or(self.default)
    }

    /// The longest any entry may be kept, `None` for forever: partitions older than this
    /// are dropped whole.
    pub fn longest(&self) -> Keep {
        std::iter::once(self.default)
            .chain(self.rules.iter().map(|r| r.keep))
            .max()
            .unwrap_or(self.default)
    }
}

/// One retention rule; a rule with no condition matches every entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// Exact service name.
    #[serde(default)]
    pub service: Option<String>,
    /// `ERROR`, `>=CRITICAL`, `<INFO`, …
    #[serde(default)]
    pub level: Option<LevelCondition>,
    pub keep: Keep,
}

impl RetentionRule {
    fn matches(&self, service: &str, level: Option<LogLevel>) -> bool {
        self.service.as_deref().is_none_or(|s| s == service)
            && self.level.as_ref().is_none_or(|c| c.matches(level))
    }
}

/// `7d`, `30d`, `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Keep {
    For(HumanDuration),
    Forever,
}

impl FromStr for Keep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("forever") {
            return Ok(Keep::Forever);
        }
        t.parse::<HumanDuration>()
            .map(Keep::For)
            .map_err(|e| format!("{e}, or `forever`"))
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::For(d) => write!(f, "{d}"),
            Keep::Forever => f.write_str("forever"),
        }
    }
}

impl Serialize for Keep {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Keep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The comparisons the search language and retention rules share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    pub(crate) fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CompareOp::Eq => ord == Equal,
            CompareOp::Ne => ord != Equal,
            CompareOp::Lt => ord == Less,
            CompareOp::Le => ord != Greater,
            CompareOp::Gt => ord == Greater,
            CompareOp::Ge => ord != Less,
        }
    }
}

/// `ERROR` (same as `=ERROR`), `>=WARNING`, `!=DEBUG`; any spelling `LogLevel::parse` reads.
/// An entry without a level matches only `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelCondition {
    pub op: CompareOp,
    pub level: LogLevel,
}

impl LevelCondition {
    pub fn matches(&self, level: Option<LogLevel>) -> bool {
        match level {
            Some(l) => self.op.holds(l.cmp(&self.level)),
            None => self.op == CompareOp::Ne,
        }
    }
}

impl FromStr for LevelCondition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let (op, rest) = [
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            ("!=", CompareOp::Ne),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
            ("=", CompareOp::Eq),
        ]
        .iter()
        .find_map(|(p, op)| t.strip_prefix(p).map(|rest| (*op, rest)))
        .unwrap_or((CompareOp::Eq, t));
        let level = LogLevel::parse(rest)
            .ok_or_else(|| format!("unknown level {rest:?} in {s:?} (write e.g. >=ERROR)"))?;
        Ok(LevelCondition { op, level })
    }
}

impl fmt::Display for LevelCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.op == CompareOp::Eq {
            ""
        } else {
            self.op.as_str()
        };
        write!(f, "{op}{}", self.level)
    }
}

impl Serialize for LevelCondition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LevelCondition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `5GB`, `500MB`, `2GiB`, `1048576`; decimal units are powers of 1000, `i` units of 1024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("invalid size {s:?} (write it like 5GB or 500MB)"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "m" | "mb" => 1_000_000,
            "g" | "gb" => 1_000_000_000,
            "t" | "tb" => 1_000_000_000_000,
            "ki" | "kib" => 1 << 10,
            "mi" | "mib" => 1 << 20,
            "gi" | "gib" => 1 << 30,
            "ti" | "tib" => 1 << 40,
            other => return Err(format!("unknown size unit {other:?} in {s:?}")),
        };
        Ok(ByteSize((n * mult as f64) as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, size) in [
            ("TB", 1_000_000_000_000u64),
            ("GB", 1_000_000_000),
            ("MB", 1_000_000),
            ("KB", 1_000),
        ] {
            if b >= size && b.is_multiple_of(size) {
                return write!(f, "{}{unit}", b / size);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_rules_first_match_wins() {
        let s: LogSettings = serde_json::from_value(serde_json::json!({
            "retention": {
                "default": "7d",
                "rules": [
                    {"service": "migrations", "keep": "30d"},
                    {"service": "payments", "keep": "forever"},
                    {"level": ">=CRITICAL", "keep": "30d"}
                ]
            },
            "max_disk": "5GB"
        }))
        .unwrap();
        let r = &s.retention;
        let day = |d: u64| Keep::For(HumanDuration::from_secs(d * 86_400));
        assert_eq!(
            r.keep_for_parts("payments", Some(LogLevel::Debug)),
            Keep::Forever
        );
        assert_eq!(r.keep_for_parts("bot", Some(LogLevel::Critical)), day(30));
        assert_eq!(r.keep_for_parts("bot", Some(LogLevel::Error)), day(7));
        assert_eq!(r.keep_for_parts("bot", None), day(7));
        assert_eq!(r.longest(), Keep::Forever);
        assert_eq!(s.max_disk_bytes(), Some(5_000_000_000));
        assert!(
            serde_json::from_value::<LogSettings>(serde_json::json!({"retain": "1d"})).is_err()
        );
        assert!("sometimes".parse::<Keep>().is_err());
        assert!(">=BANANA".parse::<LevelCondition>().is_err());
    }
}
