//! Which HTTP status codes count as success: `200`, `200-299`, `2xx`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An inclusive range of status codes; a single code is a range of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRange {
    pub low: u16,
    pub high: u16,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid status code {0:?}: write 200, 200-299 or 2xx")]
pub struct StatusRangeError(String);

impl StatusRange {
    pub fn contains(self, code: u16) -> bool {
        (self.low..=self.high).contains(&code)
    }

    /// What most uptime checkers accept when nothing is said: any 2xx or 3xx.
    pub fn default_success() -> Vec<StatusRange> {
        vec![StatusRange {
            low: 200,
            high: 399,
        }]
    }
}

impl FromStr for StatusRange {
    type Err = StatusRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || StatusRangeError(s.to_string());
        let t = s.trim();
        let code = |x: &str| -> Result<u16, StatusRangeError> {
            let n: u16 = x.trim().parse().map_err(|_| err())?;
            if (100..=599).contains(&n) {
                Ok(n)
            } else {
                Err(err())
            }
        };
        let range = if let Some(class) = t.strip_suffix("xx").or_else(|| t.strip_suffix("XX")) {
            let d: u16 = class.parse().map_err(|_| err())?;
            if !(1..=5).contains(&d) {
                return Err(err());
            }
            StatusRange {
                low: d * 100,
                high: d * 100 + 99,
            }
        } else if let Some((a, b)) = t.split_once('-') {
            StatusRange {
                low: code(a)?,
                high: code(b)?,
            }
        } else {
            let c = code(t)?;
            StatusRange { low: c, high: c }
        };
        if range.low > range.high {
            return Err(err());
        }
        Ok(range)
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else if self.low.is_multiple_of(100) && self.high == self.low + 99 {
            write!(f, "{}xx", self.low / 100)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl Serialize for StatusRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_ranges_and_classes() {
        assert!("200".parse::<StatusRange>().unwrap().contains(200));
        assert!("2xx".parse::<StatusRange>().unwrap().contains(204));
        assert!(!"2xx".parse::<StatusRange>().unwrap().contains(301));
        assert!("200-302".parse::<StatusRange>().unwrap().contains(302));
        assert!("700".parse::<StatusRange>().is_err());
        assert!("300-200".parse::<StatusRange>().is_err());
        assert!("9xx".parse::<StatusRange>().is_err());
    }
}
