//! Grouping of raw lines into entries: a Python traceback stays with the line that
//! logged it.

#[derive(Debug, Default)]
pub struct MultilineGrouper {
    current: Option<String>,
}

impl MultilineGrouper {
    pub fn new() -> MultilineGrouper {
        MultilineGrouper::default()
    }

    /// Takes the next line; returns the previous entry's text when `line` starts a new one.
    pub fn push(&mut self, line: &str) -> Option<String> {
        self.current.replace(line.to_string())
    }

    /// The entry being gathered, if any.
    pub fn flush(&mut self) -> Option<String> {
        self.current.take()
    }

    pub fn pending(&self) -> bool {
        self.current.is_some()
    }
}
