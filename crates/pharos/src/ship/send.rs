//! The delivering side: reads the spool from its cursor in batches, pushes each batch to
//! Pharos's Loki endpoint, and moves the cursor (durably) only after a 2xx. Unreachable
//! or failing Pharos (connection errors, 5xx, 429, 408, and 401/403/404, which no line can
//! cause) is retried with exponential backoff; a 400, 413 or 422 means the batch itself is
//! refused, so it is split in halves until the refused entry is alone, and that entry is
//! reported (size and the server's reason, not its content) and passed over.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use super::Shared;
use super::spool::{Labels, SpoolReader, Spooled};

const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// While failing, a message at most this often (and on the first failure).
const REPEAT_ERROR_EVERY: Duration = Duration::from_secs(30);

/// How much of an error answer is shown.
const MAX_REASON_CHARS: usize = 300;

pub struct Sender {
    pub url: url::Url,
    pub token: Option<String>,
    pub client: reqwest::Client,
    pub batch_lines: usize,
    pub batch_wait: Duration,
    pub max_backoff: Duration,
}

/// How Pharos answered a push, once it answered something other than "try again".
enum Answer {
    Delivered,
    /// The request itself was refused: splitting may isolate the entry at fault.
    Refused {
        status: u16,
        reason: String,
    },
}

/// Nothing more can be done before the deadline.
struct GaveUp;

struct Failures {
    count: u32,
    last_message: Option<Instant>,
}

impl Sender {
    /// Delivers until the input has ended and the spool is empty, or until the deadline.
    /// Returns how many entries are left undelivered.
    pub async fn run(&self, mut reader: SpoolReader, shared: &Shared) -> Result<u64> {
        let mut waiting_since: Option<Instant> = None;
        let mut failures = Failures {
            count: 0,
            last_message: None,
        };
        loop {
            let input_done = shared.input_done();
            let batch = reader.read(self.batch_lines, shared.durable())?;
            if batch.is_empty() {
                if input_done {
                    return Ok(0);
                }
                self.wait(shared, Duration::from_millis(250)).await;
                continue;
            }
            if batch.len() < self.batch_lines && !input_done && !shared.stopping() {
                let since = *waiting_since.get_or_insert_with(Instant::now);
                let left = self.batch_wait.saturating_sub(since.elapsed());
                if !left.is_zero() {
                    self.wait(shared, left).await;
                    continue;
                }
            }
            waiting_since = None;
            if self
                .deliver(&mut reader, batch, shared, &mut failures)
                .await
                .is_err()
            {
                // Wait for the reading side to finish so the count is final.
                while !shared.input_done() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                return reader.count_remaining();
            }
        }
    }

    async fn wait(&self, shared: &Shared, at_most: Duration) {
        tokio::select! {
            _ = shared.wake_sender.notified() => {}
            _ = tokio::time::sleep(at_most) => {}
        }
    }

    /// Sends one batch, splitting it on a refusal, committing the cursor after each part
    /// Pharos took (or refused for good).
    async fn deliver(
        &self,
        reader: &mut SpoolReader,
        batch: Vec<Spooled>,
        shared: &Shared,
        failures: &mut Failures,
    ) -> Result<(), GaveUp> {
        let mut ranges = VecDeque::from([(0, batch.len())]);
        while let Some((from, to)) = ranges.pop_front() {
            let part = &batch[from..to];
            match self.send_with_retries(part, shared, failures).await? {
                Answer::Delivered => {}
                Answer::Refused { status, reason } if part.len() > 1 => {
                    eprintln!(
                        "pharos ship: Pharos refused a batch of {} entries with {status}: \
                         {reason}; splitting it to find the entry at fault",
                        part.len()
                    );
                    let mid = from + part.len() / 2;
                    ranges.push_front((mid, to));
                    ranges.push_front((from, mid));
                    continue;
                }
                Answer::Refused { status, reason } => {
                    let e = &part[0].entry;
                    eprintln!(
                        "pharos ship: Pharos refused an entry ({} bytes, read at {} ns, labels {}) \
                         with {status}: {reason}; it is skipped",
                        e.line.len(),
                        e.t,
                        format_labels(&e.labels)
                    );
                }
            }
            if let Err(e) = reader.commit(part[part.len() - 1].end) {
                // Not committing only risks sending this part again after a restart.
                eprintln!("pharos ship: cannot record delivery progress: {e:#}");
            }
        }
        Ok(())
    }

    async fn send_with_retries(
        &self,
        part: &[Spooled],
        shared: &Shared,
        failures: &mut Failures,
    ) -> Result<Answer, GaveUp> {
        let body = payload(part);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let deadline = shared.deadline();
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(GaveUp);
            }
            let attempt = self.send(body.clone());
            let answer = match deadline {
                Some(d) => match tokio::time::timeout_at(d.into(), attempt).await {
                    Ok(a) => a,
                    Err(_) => return Err(GaveUp),
                },
                None => attempt.await,
            };
            let reason = match answer {
                Err(reason) => reason,
                Ok(done) => {
                    if failures.count > 0 {
                        eprintln!(
                            "pharos ship: delivering again after {} failed attempts",
                            failures.count
                        );
                        failures.count = 0;
                        failures.last_message = None;
                    }
                    return Ok(done);
                }
            };
            failures.count += 1;
            if failures
                .last_message
                .is_none_or(|t| t.elapsed() >= REPEAT_ERROR_EVERY)
            {
                eprintln!(
                    "pharos ship: cannot deliver to {}: {reason}; retrying (attempt {}, next in {:?})",
                    self.url, failures.count, backoff
                );
                failures.last_message = Some(Instant::now());
            }
            // Slept in slices so a signal's deadline is noticed within a moment.
            let wake = Instant::now() + backoff;
            while Instant::now() < wake {
                if shared.deadline().is_some_and(|d| Instant::now() >= d) {
                    return Err(GaveUp);
                }
                tokio::time::sleep(
                    wake.saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(100)),
                )
                .await;
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    /// One attempt; `Err` is the reason to try again.
    async fn send(&self, body: Vec<u8>) -> Result<Answer, String> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Err(describe(&e)),
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(Answer::Delivered);
        }
        let body = response.text().await.unwrap_or_default();
        let mut reason: String = body.trim().chars().take(MAX_REASON_CHARS).collect();
        reason = reason.replace(['\n', '\r'], " ");
        match status {
            400 | 413 | 422 => Ok(Answer::Refused { status, reason }),
            401 | 403 => Err(format!(
                "{status}: Pharos refused the token; check --token / PHAROS_TOKEN ({reason})"
            )),
            _ => Err(format!("{status} {reason}")),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn format_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// The Loki push body: entries grouped into one stream per label set, each stream in
/// spool order.
fn payload(part: &[Spooled]) -> Vec<u8> {
    let mut streams: Vec<(&Labels, Vec<[String; 2]>)> = Vec::new();
    for s in part {
        let value = [s.entry.t.to_string(), s.entry.line.clone()];
        match streams.iter_mut().find(|(l, _)| **l == s.entry.labels) {
            Some((_, values)) => values.push(value),
            None => streams.push((&s.entry.labels, vec![value])),
        }
    }
    let streams: Vec<_> = streams
        .into_iter()
        .map(|(labels, values)| json!({"stream": labels, "values": values}))
        .collect();
    serde_json::to_vec(&json!({ "streams": streams })).unwrap_or_default()
}
