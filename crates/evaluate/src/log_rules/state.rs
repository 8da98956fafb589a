//! The engine's memory: lines counted per service and level, and per rule, pattern and
//! service the recent match times, the running total, the last line and the open alert.
//!
//! Match times are kept exactly but capped at `max + 1` (at least [`STATUS_CAP`]): that is
//! all it takes to know whether more than `max` fell in the window, without a bucket
//! rounding the window's edge. Nothing here reads a clock: lines carry `received`, ticks
//! carry `now`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pharos_model::{Alert, LogEntry};

use super::alert::{self, Firing};
use super::config::{LogRule, LogRuleKind};

/// Distinct services counted; lines of further services count as [`OTHER_SERVICE`], so a
/// misconfigured sender cannot grow the series without bound.
pub const MAX_SERVICES: usize = 1000;
pub const OTHER_SERVICE: &str = "_other";
/// Match times kept per key at least, so the status can say "37 in the last 10m".
pub const STATUS_CAP: usize = 100;

/// One alert key: a rule's pattern (or the whole threshold rule) in one service.
#[derive(Debug)]
pub(crate) struct Matches {
    /// `received` of recent matches in Unix ms, ascending, at most the rule's cap.
    times: VecDeque<i64>,
    pub total: u64,
    pub last_ms: Option<i64>,
    pub last_line: String,
    pub alert: Option<Alert>,
    /// An alert adopted after a restart stays up to here even though the window, which
    /// began before Pharos did, cannot show what raised it.
    pub hold_until_ms: i64,
}

impl Matches {
    fn new() -> Matches {
        Matches {
            times: VecDeque::new(),
            total: 0,
            last_ms: None,
            last_line: String::new(),
            alert: None,
            hold_until_ms: i64::MIN,
        }
    }

    fn record(&mut self, t: i64, line: &str, cap: usize) {
        self.total += 1;
        if self.times.len() >= cap {
            self.times.pop_front();
        }
        // `received` is Pharos's own clock, so out-of-order times are rare and near.
        let at = self
            .times
            .iter()
            .rposition(|&x| x <= t)
            .map_or(0, |i| i + 1);
        self.times.insert(at, t);
        if self.last_ms.is_none_or(|l| t >= l) {
            self.last_ms = Some(t);
            alert::keep_line(&mut self.last_line, line);
        }
    }

    /// Matches received after `now - window_ms`; drops older ones.
    pub fn in_window(&mut self, now_ms: i64, window_ms: i64) -> usize {
        let cutoff = now_ms - window_ms;
        while self.times.front().is_some_and(|&t| t <= cutoff) {
            self.times.pop_front();
        }
        self.times.len()
    }

    /// As [`Matches::in_window`], for a reader that cannot prune.
    pub fn count_since(&self, cutoff_ms: i64) -> usize {
        self.times.iter().filter(|&&t| t > cutoff_ms).count()
    }
}

/// One rule and its keys.
pub(crate) struct RuleState {
    pub rule: Arc<LogRule>,
    /// Per slot (pattern, or the one threshold slot): keys by service.
    pub slots: Vec<HashMap<String, Matches>>,
    cap: usize,
}

impl RuleState {
    pub fn new(rule: Arc<LogRule>) -> RuleState {
        let cap = match rule.kind {
            LogRuleKind::RateLimited | LogRuleKind::Threshold => {
                (rule.max as usize + 1).max(STATUS_CAP)
            }
            LogRuleKind::Forbidden | LogRuleKind::Count => STATUS_CAP,
        };
        RuleState {
            slots: (0..rule.slots()).map(|_| HashMap::new()).collect(),
            rule,
            cap,
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Counts `e` if it passes the filter and matches. `service` is the line's service or
    /// [`OTHER_SERVICE`]. Allocates nothing for a line that does not match.
    pub fn observe(&mut self, e: &LogEntry, service: &str, t: i64) {
        if !self.rule.accepts(e) {
            return;
        }
        let Some(set) = &self.rule.set else {
            Self::key(&mut self.slots[0], service).record(t, &e.message, self.cap);
            return;
        };
        if !set.is_match(&e.message) {
            return;
        }
        for i in set.matches(&e.message).iter() {
            Self::key(&mut self.slots[i], service).record(t, &e.message, self.cap);
        }
    }

    fn key<'a>(slot: &'a mut HashMap<String, Matches>, service: &str) -> &'a mut Matches {
        if !slot.contains_key(service) {
            slot.insert(service.to_string(), Matches::new());
        }
        slot.get_mut(service).expect("inserted above")
    }

    /// Fires and resolves this rule's alerts as of `now`; returns the changes, each with
    /// whether it notifies.
    pub fn evaluate(&mut self, now: DateTime<Utc>, external_url: &str) -> Vec<(Alert, bool)> {
        let mut changes = Vec::new();
        if !self.rule.kind.alerts() {
            return changes;
        }
        let now_ms = now.timestamp_millis();
        let window_ms = self.rule.window.as_millis() as i64;
        let rule = self.rule.clone();
        for (slot, keys) in self.slots.iter_mut().enumerate() {
            for (service, m) in keys.iter_mut() {
                let count = m.in_window(now_ms, window_ms);
                let holds = match rule.kind {
                    // Any match within resolve_after keeps it firing.
                    LogRuleKind::Forbidden => count > 0,
                    _ => count > rule.max as usize,
                };
                match (&m.alert, holds) {
                    (None, true) => {
                        let a = alert::firing_alert(
                            &rule,
                            &Firing {
                                slot,
                                service,
                                count,
                                capped: count >= self.cap,
                                line: &m.last_line,
                                now,
                            },
                            external_url,
                        );
                        m.alert = Some(a.clone());
                        changes.push((a, true));
                    }
                    (Some(_), false) if now_ms >= m.hold_until_ms => {
                        if let Some(a) = m.alert.take() {
                            changes.push((alert::resolved(a, now), true));
                        }
                    }
                    _ => {}
                }
            }
        }
        changes
    }

    /// Takes over `a`, an alert still open in the store from before a restart, when its
    /// labels are exactly those this rule would give it now.
    pub fn adopt(&mut self, a: &Alert, now_ms: i64) -> bool {
        let service = a.labels.get("service").map(String::as_str).unwrap_or("");
        let slot = match a.labels.get("pattern") {
            Some(p) => self.rule.patterns.iter().position(|q| q.text == *p),
            None if self.rule.patterns.is_empty() => Some(0),
            None => None,
        };
        let Some(slot) = slot else { return false };
        if Alert::fingerprint_of(&alert::labels(&self.rule, slot, service)) != a.fingerprint {
            return false;
        }
        let m = Self::key(&mut self.slots[slot], service);
        if m.alert.is_some() {
            return false;
        }
        m.alert = Some(a.clone());
        m.hold_until_ms = now_ms + self.rule.window.as_millis() as i64;
        true
    }

    /// Hands over every open alert (the rule was removed or changed).
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        self.slots
            .iter_mut()
            .flat_map(|keys| keys.values_mut())
            .filter_map(|m| m.alert.take())
            .collect()
    }
}

/// Lines per service and level: index 0 for lines without a level, `1 + rank` otherwise.
#[derive(Default)]
pub(crate) struct LineCounts {
    pub by_service: HashMap<String, [u64; 8]>,
}

impl LineCounts {
    /// Counts `e` and returns the service name its counts and keys go under.
    pub fn count<'a>(&mut self, e: &'a LogEntry) -> &'a str {
        let level = e.level.map_or(0, |l| 1 + l.rank() as usize);
        if let Some(c) = self.by_service.get_mut(&e.service) {
            c[level] += 1;
            return &e.service;
        }
        let service: &'a str = if self.by_service.len() < MAX_SERVICES {
            &e.service
        } else {
            OTHER_SERVICE
        };
        self.by_service.entry(service.to_string()).or_default()[level] += 1;
        service
    }
}
