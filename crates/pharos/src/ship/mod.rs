//! `pharos ship`: a small Promtail in the binary. It reads lines from stdin or from
//! files (globs, rotation, truncation), groups a Python traceback into one entry with
//! [`MultilineGrouper`](pharos_ingest::logs::multiline::MultilineGrouper), appends every
//! entry to an fsynced spool on disk, and sends the spool in order to Pharos's Loki push
//! endpoint, retrying until Pharos answers. Its own messages go to stderr only.
//!
//! `collect` is the reading side (one thread), `spool` the disk between the two,
//! `send` the delivering side (one async task), `tail` the file following.

mod collect;
mod send;
mod spool;
mod tail;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use pharos_model::HumanDuration;

use spool::{Labels, Position};

/// A pending entry is sent once its source has been quiet this long: long enough for a
/// traceback written line by line, short enough to look live.
pub const QUIET_FLUSH: Duration = Duration::from_secs(1);

/// After SIGTERM / SIGINT, at most this long is spent delivering before exiting.
const SIGNAL_DRAIN: Duration = Duration::from_secs(5);

#[derive(Parser, Debug)]
pub struct ShipArgs {
    /// The `service` label of every entry; also names the default spool directory.
    #[arg(long)]
    service: String,
    /// Files to follow; a glob is allowed in the last path segment (quote it so new files
    /// are picked up: `'/var/log/app/*.log'`). Without files, stdin is read.
    files: Vec<String>,
    /// Pharos's address.
    #[arg(long, env = "PHAROS_URL", default_value = "http://127.0.0.1:9800")]
    url: String,
    /// Pharos's admin token, sent as `Authorization: Bearer`.
    #[arg(long, env = "PHAROS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// An extra stream label, `name=value`; repeatable. `host` may be overridden this way.
    #[arg(long = "label", value_name = "NAME=VALUE")]
    labels: Vec<String>,
    /// Where entries wait until Pharos has them. Default: /var/lib/pharos/ship/<service>
    /// as root, else $XDG_STATE_HOME/pharos/ship/<service> (~/.local/state/…).
    #[arg(long)]
    spool_dir: Option<PathBuf>,
    /// Most entries per push request.
    #[arg(long, default_value_t = 1000)]
    batch_lines: usize,
    /// How long a push waits for more entries before going with fewer.
    #[arg(long, default_value = "1s")]
    batch_wait: HumanDuration,
    /// Read files already present from their start instead of their end (first run only:
    /// later runs continue where the previous one stopped).
    #[arg(long)]
    from_beginning: bool,
    /// After stdin ends, how long to keep retrying an unreachable Pharos before exiting
    /// non-zero; what is left stays in the spool for the next run.
    #[arg(long, default_value = "30s")]
    drain_timeout: HumanDuration,
    /// Longest wait between two attempts while Pharos does not answer.
    #[arg(long, default_value = "30s")]
    max_backoff: HumanDuration,
}

/// What the reading side and the sender share.
pub struct Shared {
    /// The spool's end as of its last fsync: the sender reads no further.
    durable: Mutex<Position>,
    wake_sender: tokio::sync::Notify,
    stopping: AtomicBool,
    input_done: AtomicBool,
    /// Once set, the sender gives up retrying at this instant.
    deadline: Mutex<Option<Instant>>,
}

impl Shared {
    fn publish(&self, end: Position) {
        *self.durable.lock().unwrap_or_else(|e| e.into_inner()) = end;
        self.wake_sender.notify_one();
    }

    fn durable(&self) -> Position {
        *self.durable.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn input_done(&self) -> bool {
        self.input_done.load(Ordering::SeqCst)
    }

    /// The reading side has spooled all it will: the sender may finish, trying until
    /// `drain` from now at the latest.
    fn finish_input(&self, drain: Duration) {
        self.set_deadline(Instant::now() + drain);
        self.input_done.store(true, Ordering::SeqCst);
        self.wake_sender.notify_one();
    }

    fn set_deadline(&self, at: Instant) {
        let mut d = self.deadline.lock().unwrap_or_else(|e| e.into_inner());
        *d = Some(d.map_or(at, |old| old.min(at)));
    }

    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Entry timestamps: the time read, in Unix nanoseconds, strictly increasing so entries
/// read in the same nanosecond keep their order at the server.
#[derive(Debug, Default)]
pub struct Clock {
    last: u64,
}

impl Clock {
    pub fn next(&mut self) -> u64 {
        let now = self.peek();
        self.last = now.max(self.last + 1);
        self.last
    }

    pub fn peek(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

pub fn main(args: ShipArgs) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pharos ship: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_string())
}

fn base_labels(args: &ShipArgs) -> Result<Labels> {
    if args.service.trim().is_empty() {
        bail!("--service must not be empty");
    }
    let mut labels = Labels::new();
    labels.insert("service".into(), args.service.clone());
    labels.insert("host".into(), hostname());
    for l in &args.labels {
        let Some((name, value)) = l.split_once('=') else {
            bail!("--label {l:?}: write it as name=value");
        };
        if !is_label_name(name) {
            bail!("--label {l:?}: {name:?} is not a label name (letters, digits, _)");
        }
        if name == "service" || name == "filename" {
            bail!("--label {l:?}: {name} is set by pharos ship (use --service / the file's path)");
        }
        labels.insert(name.to_string(), value.to_string());
    }
    Ok(labels)
}

/// The spool directory when `--spool-dir` is not given: one per service, so two ships
/// for different services never share one.
fn default_spool_dir(service: &str) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let safe: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let base = if root {
        PathBuf::from("/var/lib/pharos/ship")
    } else if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        PathBuf::from(state).join("pharos/ship")
    } else if let Some(home) = std::env::var_os("HOME").filter(|s| !s.is_empty()) {
        PathBuf::from(home).join(".local/state/pharos/ship")
    } else {
        bail!("no HOME to put the spool under: pass --spool-dir");
    };
    Ok(base.join(safe))
}

fn run(args: ShipArgs) -> Result<ExitCode> {
    let labels = base_labels(&args)?;
    let url = url::Url::parse(&format!(
        "{}/loki/api/v1/push",
        args.url.trim_end_matches('/')
    ))
    .with_context(|| format!("--url {:?} is not a URL", args.url))?;
    if args.batch_lines == 0 {
        bail!("--batch-lines must be at least 1");
    }
    let spool_dir = match &args.spool_dir {
        Some(d) => d.clone(),
        None => default_spool_dir(&args.service)?,
    };
    let _lock = spool::lock(&spool_dir)?;
    let (writer, checkpoint) = spool::SpoolWriter::open(&spool_dir)?;
    let reader = spool::SpoolReader::open(&spool_dir)?;
    let left_over = reader.count_remaining().unwrap_or(0);
    if left_over > 0 {
        eprintln!(
            "pharos ship: sending {left_over} entries left in {} by a previous run first",
            spool_dir.display()
        );
    }
    let shared = Arc::new(Shared {
        durable: Mutex::new(writer.end()),
        wake_sender: tokio::sync::Notify::new(),
        stopping: AtomicBool::new(false),
        input_done: AtomicBool::new(false),
        deadline: Mutex::new(None),
    });

    let input = {
        let shared = shared.clone();
        let batch_lines = args.batch_lines;
        let drain = args.drain_timeout.as_duration();
        if args.files.is_empty() {
            std::thread::Builder::new()
                .name("ship-stdin".into())
                .spawn(move || collect::stdin(writer, &shared, labels, batch_lines, drain))?
        } else {
            // The first run (no checkpoint yet) starts files at their end, as tail -f.
            let first_run = checkpoint.seq == 0;
            let tailer = tail::Tailer::new(
                args.files.clone(),
                labels,
                checkpoint.files,
                args.from_beginning,
                first_run,
            );
            std::thread::Builder::new()
                .name("ship-files".into())
                .spawn(move || collect::files(writer, &shared, tailer))?
        }
    };

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .user_agent(format!("pharos-ship/{}", env!("CARGO_PKG_VERSION")))
        // A proxy set in the environment for something else must not see the logs.
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let sender = send::Sender {
        url,
        token: args.token.clone(),
        client,
        batch_lines: args.batch_lines,
        batch_wait: args.batch_wait.as_duration(),
        max_backoff: args
            .max_backoff
            .as_duration()
            .max(Duration::from_millis(100)),
    };
    let outcome = runtime.block_on(async {
        tokio::spawn(watch_signals(
            shared.clone(),
            args.drain_timeout.as_duration(),
        ));
        sender.run(reader, &shared).await
    });
    if let Ok(Err(e)) = input.join() {
        eprintln!("pharos ship: reading stopped: {e:#}");
    }
    match outcome {
        Ok(0) => Ok(ExitCode::SUCCESS),
        Ok(left) => {
            eprintln!(
                "pharos ship: {left} entries not delivered yet; they are kept in {} and \
                 sent by the next `pharos ship` using that spool directory",
                spool_dir.display()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e),
    }
}

/// First SIGTERM / SIGINT: stop reading, deliver for a few seconds, exit. A second one:
/// exit now; everything read is in the spool already.
async fn watch_signals(shared: Arc<Shared>, drain: Duration) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("pharos ship: cannot listen for SIGTERM / SIGINT");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    shared.set_deadline(Instant::now() + drain.min(SIGNAL_DRAIN));
    shared.stopping.store(true, Ordering::SeqCst);
    shared.wake_sender.notify_one();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("pharos ship: stopped; what was not delivered stays in the spool");
    std::process::exit(1);
}
