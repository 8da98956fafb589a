//! Grouping raw lines into entries, so that a Python traceback stays one entry with the
//! log line that logged it: `Traceback (most recent call last):`, the indented frames and
//! code lines, the chaining sentences, blank lines between chained tracebacks, and the
//! final `ValueError: msg` line all continue the entry before them.

/// Most lines one entry holds; the next line starts a new entry.
pub const MAX_ENTRY_LINES: usize = 1000;
/// Most bytes one entry holds; the line that would pass it starts a new entry.
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024;

const TRACEBACK_HEADERS: &[&str] = &[
    "Traceback (most recent call last):",
    // `logger.info(..., stack_info=True)`
    "Stack (most recent call last):",
];

const CHAINING_SENTENCES: &[&str] = &[
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
];

/// Where in a traceback the last line was; decides whether an unindented line continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not in a traceback: only indented lines continue.
    Text,
    /// After a traceback header or its frames: the exception line is still to come.
    Frames,
    /// After the exception line: a chaining sentence may follow, after a blank line.
    Ended,
}

/// Feeds lines in order; each completed entry comes back once the line after it shows it
/// is complete, or from [`flush`](MultilineGrouper::flush) at the end of the input or
/// after a quiet time.
#[derive(Debug)]
pub struct MultilineGrouper {
    current: Option<String>,
    lines: usize,
    /// Blank lines seen after `current`: kept only if the entry continues after them.
    blanks: usize,
    phase: Phase,
}

impl Default for MultilineGrouper {
    fn default() -> Self {
        MultilineGrouper::new()
    }
}

impl MultilineGrouper {
    pub fn new() -> MultilineGrouper {
        MultilineGrouper {
            current: None,
            lines: 0,
            blanks: 0,
            phase: Phase::Text,
        }
    }

    /// Takes the next line (without its line ending); returns the previous entry's text
    /// when `line` starts a new one.
    pub fn push(&mut self, line: &str) -> Option<String> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if self.current.is_some() {
                self.blanks += 1;
            }
            return None;
        }
        let continues = self.current.is_some() && self.continues(line);
        let fits = self.lines + self.blanks < MAX_ENTRY_LINES
            && self.current.as_ref().map_or(0, String::len) + self.blanks + 1 + line.len()
                <= MAX_ENTRY_BYTES;
        if continues && fits {
            let current = self.current.get_or_insert_with(String::new);
            for _ in 0..self.blanks {
                current.push('\n');
            }
            current.push('\n');
            current.push_str(line);
            self.lines += self.blanks + 1;
            self.blanks = 0;
            return None;
        }
        let done = self.current.replace(line.to_string());
        self.lines = 1;
        self.blanks = 0;
        self.phase = if is_traceback_header(line) {
            Phase::Frames
        } else {
            Phase::Text
        };
        done
    }

    /// The entry being gathered, if any, as it stands.
    pub fn flush(&mut self) -> Option<String> {
        self.lines = 0;
        self.blanks = 0;
        self.phase = Phase::Text;
        self.current.take()
    }

    /// Whether an entry is waiting for the line that completes it (a tailer flushes it
    /// after a quiet time).
    pub fn pending(&self) -> bool {
        self.current.is_some()
    }

    /// Whether `line` (not blank) continues the current entry; moves the traceback phase.
    fn continues(&mut self, line: &str) -> bool {
        if is_traceback_header(line) {
            self.phase = Phase::Frames;
            return true;
        }
        if CHAINING_SENTENCES.contains(&line.trim_end()) {
            self.phase = Phase::Text;
            return true;
        }
        if line.starts_with([' ', '\t']) {
            return true;
        }
        // A blank line ends a traceback's frames only before a chaining sentence; the
        // exception line comes right after the frames.
        if self.phase == Phase::Frames && self.blanks == 0 && is_exception_line(line) {
            self.phase = Phase::Ended;
            return true;
        }
        false
    }
}

fn is_traceback_header(line: &str) -> bool {
    TRACEBACK_HEADERS.contains(&line.trim_end())
}

/// `ValueError: msg`, `requests.exceptions.ConnectionError: …`, `KeyboardInterrupt`:
/// a dotted class name, then `:` or the end of the line. Level words (`WARNING:root:…`)
/// are log lines, not exception classes.
fn is_exception_line(line: &str) -> bool {
    let name_end = line
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let after = &line[name_end..];
    let last = name.rsplit('.').next().unwrap_or(name);
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && (after.is_empty() || after.starts_with(':'))
        && last.chars().next().is_some_and(char::is_uppercase)
        && !last.chars().all(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(text: &str) -> Vec<String> {
        let mut g = MultilineGrouper::new();
        let mut out: Vec<String> = text.lines().filter_map(|l| g.push(l)).collect();
        out.extend(g.flush());
        assert!(!g.pending());
        out
    }

    #[test]
    fn a_traceback_stays_with_the_line_that_logged_it() {
        let tb = "2025-10-06 12:00:00,123 - app.payments - ERROR - Failed to send message: division by zero
Traceback (most recent call last):
  File \"/app/payments.py\", line 42, in charge
    total = amount / count
            ~~~~~~~^~~~~~~
ZeroDivisionError: division by zero";
        let text = format!("{tb}\n2025-10-06 12:00:01,000 - app - INFO - next\n");
        assert_eq!(
            group(&text),
            vec![
                tb.to_string(),
                "2025-10-06 12:00:01,000 - app - INFO - next".into()
            ]
        );
    }

    #[test]
    fn chained_tracebacks_with_blank_lines_are_one_entry() {
        let tb = "ERROR:app.jobs:job crashed
Traceback (most recent call last):
  File \"/app/jobs.py\", line 10, in run
    data = json.loads(raw)
  File \"/usr/lib/python3.12/json/__init__.py\", line 346, in loads
    return _default_decoder.decode(s)
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File \"/app/jobs.py\", line 12, in run
    raise JobError(\"bad payload\") from None
app.errors.JobError: bad payload

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File \"/app/worker.py\", line 5, in main
    run()
RuntimeError: worker failed";
        let text = format!("INFO:app:start\n{tb}\n\nWARNING:root:after\n");
        assert_eq!(
            group(&text),
            vec![
                "INFO:app:start".to_string(),
                tb.to_string(),
                "WARNING:root:after".into()
            ]
        );
    }

    #[test]
    fn exception_lines_without_a_message_and_uncaught_tracebacks() {
        // An uncaught exception printed by the interpreter has no log line before it.
        let tb = "Traceback (most recent call last):
  File \"/app/bot.py\", line 3, in <module>
    asyncio.run(main())
KeyboardInterrupt";
        let text = format!("{tb}\nINFO:     Shutting down\n");
        assert_eq!(
            group(&text),
            vec![tb.to_string(), "INFO:     Shutting down".into()]
        );
    }

    #[test]
    fn after_the_exception_line_a_new_line_starts_a_new_entry() {
        let text = "ERROR x
Traceback (most recent call last):
  File \"a.py\", line 1, in f
ValueError: bad
ValueError: this is a new log line that happens to look like one
WARNING:root:x";
        let got = group(text);
        assert_eq!(got.len(), 3, "{got:?}");
        // A log line right after the frames is not taken for the exception line.
        let text = "ERROR x\nTraceback (most recent call last):\n  File \"a.py\", line 1, in f\nWARNING:root:next";
        assert_eq!(group(text).len(), 2);
    }

    #[test]
    fn plain_lines_and_blank_lines() {
        assert_eq!(group("a\n\nb\n  c\n\n"), vec!["a", "b\n  c"]);
        assert_eq!(group("\n\n"), Vec::<String>::new());
        assert_eq!(group("a\r\nb\r\n"), vec!["a", "b"]);
    }

    #[test]
    fn pending_and_flush() {
        let mut g = MultilineGrouper::new();
        assert!(!g.pending());
        assert_eq!(g.push("first"), None);
        assert!(g.pending());
        assert_eq!(g.push("  more"), None);
        assert_eq!(g.flush().as_deref(), Some("first\n  more"));
        assert!(!g.pending());
        assert_eq!(g.flush(), None);
    }

    #[test]
    fn entries_are_capped_by_lines_and_bytes() {
        let mut g = MultilineGrouper::new();
        let mut done = Vec::new();
        done.extend(g.push("start"));
        for _ in 0..1500 {
            done.extend(g.push("  frame"));
        }
        done.extend(g.flush());
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].lines().count(), MAX_ENTRY_LINES);
        assert_eq!(done[1].lines().count(), 501);

        let big = format!("  {}", "x".repeat(300 * 1024));
        let mut g = MultilineGrouper::new();
        let mut done = Vec::new();
        done.extend(g.push("start"));
        for _ in 0..5 {
            done.extend(g.push(&big));
        }
        done.extend(g.flush());
        assert!(done.iter().all(|e| e.len() <= MAX_ENTRY_BYTES));
        assert_eq!(done.len(), 2);
    }
}
