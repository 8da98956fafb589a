//! A log line as every source hands it to the log store: Loki pushes, syslog, OTLP,
//! `POST /api/v1/logs`, `pharos ship` and the `log` items of Sentry envelopes all end as
//! [`LogEntry`] values, so parsing, redaction, storage, search and log rules see one shape.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Severity in Python `logging`'s words, ordered so that `level >= WARNING` is a
/// comparison. Syslog's and OTLP's finer scales fold into these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    pub const ALL: [LogLevel; 7] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
    ];

    /// Python's spelling (`WARNING`), as shown and as written in queries.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Notice => "NOTICE",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }

    /// A small number that keeps the order; what the store indexes.
    pub fn rank(self) -> u8 {
        self as u8
    }

    pub fn from_rank(rank: u8) -> Option<LogLevel> {
        LogLevel::ALL.get(rank as usize).copied()
    }

    /// Reads the spellings loggers use, case-insensitively: Python's names and numbers
    /// (`WARNING`, `30`), the short forms (`warn`, `err`, `crit`, `dbg`), syslog's keywords
    /// (`emerg`, `alert`, `notice`), `fatal`/`panic`, OTLP's `INFO2`-style suffixes.
    pub fn parse(s: &str) -> Option<LogLevel> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        // OTLP severity texts may carry a digit suffix (INFO2, WARN4).
        let word = lower.trim_end_matches(|c: char| c.is_ascii_digit());
        let level = match word {
            "trace" | "trc" | "verbose" => LogLevel::Trace,
            "debug" | "dbg" | "d" => LogLevel::Debug,
            "info" | "information" | "informational" | "inf" | "i" => LogLevel::Info,
            "notice" => LogLevel::Notice,
            "warn" | "warning" | "wrn" | "w" => LogLevel::Warning,
            "error" | "err" | "e" | "eror" => LogLevel::Error,
            "critical" | "crit" | "fatal" | "panic" | "emerg" | "emergency" | "alert" | "f" => {
                LogLevel::Critical
            }
            "" => return LogLevel::from_python_number(lower.parse().ok()?),
            _ => return None,
        };
        Some(level)
    }

    /// Python's numeric levels (`logging.WARNING == 30`); values between round to the
    /// level below, as `logging.getLevelName` would not name them either.
    pub fn from_python_number(n: u32) -> Option<LogLevel> {
        Some(match n {
            0..=9 => LogLevel::Trace,
            10..=19 => LogLevel::Debug,
            20..=29 => LogLevel::Info,
            30..=39 => LogLevel::Warning,
            40..=49 => LogLevel::Error,
            50..=100 => LogLevel::Critical,
            _ => return None,
        })
    }

    /// RFC 5424 severity (0 emergency … 7 debug).
    pub fn from_syslog_severity(severity: u8) -> LogLevel {
        match severity {
            0..=2 => LogLevel::Critical,
            3 => LogLevel::Error,
            4 => LogLevel::Warning,
            5 => LogLevel::Notice,
            6 => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }

    /// OTLP `SeverityNumber` (1–4 trace, 5–8 debug, 9–12 info, 13–16 warn, 17–20 error,
    /// 21–24 fatal); 0 is "unspecified".
    pub fn from_otlp_severity(number: i32) -> Option<LogLevel> {
        Some(match number {
            1..=4 => LogLevel::Trace,
            5..=8 => LogLevel::Debug,
            9..=12 => LogLevel::Info,
            13..=16 => LogLevel::Warning,
            17..=20 => LogLevel::Error,
            21..=24 => LogLevel::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which protocol brought a line in; shown beside it and filterable (`source=syslog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// `POST /loki/api/v1/push`.
    Loki,
    /// RFC 5424 / RFC 3164 over UDP or TCP.
    Syslog,
    /// `POST /api/v1/logs` (also what `pharos ship` sends).
    Http,
    /// OTLP/HTTP `/v1/logs`.
    Otlp,
    /// The `log` items of Sentry envelopes.
    Sentry,
}

impl LogSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LogSource::Loki => "loki",
            LogSource::Syslog => "syslog",
            LogSource::Http => "http",
            LogSource::Otlp => "otlp",
            LogSource::Sentry => "sentry",
        }
    }
}

/// One log entry: a line, or several when a Python traceback continues it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When the app wrote it: its own timestamp when the line had one, else `received`.
    pub time: DateTime<Utc>,
    /// When Pharos accepted it.
    pub received: DateTime<Utc>,
    /// The service that wrote it (`service=bot`): named by the request, the stream's
    /// `service_name`/`service`/`job`/`app` label, syslog's app name, or OTLP's
    /// `service.name`.
    pub service: String,
    /// `None` when the line states no level.
    pub level: Option<LogLevel>,
    /// The logger's name (`logger` / `name` in Python's records).
    pub logger: Option<String>,
    /// The message, with a traceback that followed it appended after a newline.
    pub message: String,
    pub host: Option<String>,
    pub source: LogSource,
    /// W3C / Sentry trace id (32 hex digits) when the line carries one; links the line to
    /// the error events and transactions of the same trace.
    pub trace_id: Option<String>,
    /// Every other field: extra fields of a JSON line, logfmt pairs, stream labels,
    /// structured data, OTLP attributes. `request_id`, `user_id`, `duration_ms`, … live
    /// here and are searchable by name.
    pub fields: Map<String, Value>,
}

impl LogEntry {
    /// An entry with only a message; sources fill in the rest.
    pub fn new(
        service: impl Into<String>,
        source: LogSource,
        received: DateTime<Utc>,
        message: impl Into<String>,
    ) -> LogEntry {
        LogEntry {
            time: received,
            received,
            service: service.into(),
            level: None,
            logger: None,
            message: message.into(),
            host: None,
            source,
            trace_id: None,
            fields: Map::new(),
        }
    }

    /// `request_id` (or `requestId`, `request-id`) when the line carries one.
    pub fn request_id(&self) -> Option<&str> {
        ["request_id", "requestId", "request-id", "x_request_id"]
            .iter()
            .find_map(|k| self.fields.get(*k).and_then(Value::as_str))
    }
}

/// A part of a batch that was refused, and why; the rest of the batch is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedLine {
    /// Where in the request: `line 3`, `streams[0].values[2]`, `resourceLogs[0]…`.
    pub position: String,
    pub reason: String,
}

/// What a decoder made of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedLogs {
    pub entries: Vec<LogEntry>,
    pub rejected: Vec<RejectedLine>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_in_every_spelling_and_keep_order() {
        assert_eq!(LogLevel::parse("WARNING"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::parse("warn"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::parse("Err"), Some(LogLevel::Error));
        assert_eq!(LogLevel::parse("30"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::parse("INFO2"), Some(LogLevel::Info));
        assert_eq!(LogLevel::parse("fatal"), Some(LogLevel::Critical));
        assert_eq!(LogLevel::parse("banana"), None);
        assert!(LogLevel::Error > LogLevel::Warning);
        assert_eq!(
            LogLevel::from_rank(LogLevel::Error.rank()),
            Some(LogLevel::Error)
        );
        assert_eq!(LogLevel::from_syslog_severity(3), LogLevel::Error);
        assert_eq!(LogLevel::from_otlp_severity(17), Some(LogLevel::Error));
    }
}
