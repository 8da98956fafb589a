//! The series Pharos makes itself, outside a scrape: probe results (from the monitor
//! engine) and host metrics of this machine (job `node`), written into the metrics store
//! by one thread that batches them, so a probe task never waits on the store's
//! write-ahead log. (Pharos's own metrics, job `pharos`, are scraped instead: see
//! `serve::self_scrape`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use chrono::Utc;
use pharos_model::series::{LabelSet, SampleSink, SeriesSample};
use pharos_scrape::host::HostCollector;
use pharos_scrape::metadata::MetadataStore;
use pharos_tsdb::Tsdb;

/// Batches waiting for the writer thread; beyond this, new batches are dropped and counted
/// rather than letting memory grow while the store is stuck.
const QUEUE_BATCHES: usize = 4096;

pub struct SeriesWriter {
    queue: SyncSender<Vec<SeriesSample>>,
    dropped: Arc<AtomicU64>,
}

impl SeriesWriter {
    /// Starts the writer thread; it ends when every `SeriesWriter` clone is dropped.
    pub fn start(db: Arc<Tsdb>) -> std::io::Result<Arc<SeriesWriter>> {
        let (queue, rx) = sync_channel(QUEUE_BATCHES);
        std::thread::Builder::new()
            .name("series-writer".into())
            .spawn(move || write_loop(&db, rx))?;
        Ok(Arc::new(SeriesWriter {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        }))
    }
}

impl SampleSink for SeriesWriter {
    fn write(&self, samples: Vec<SeriesSample>) {
        if samples.is_empty() {
            return;
        }
        match self.queue.try_send(samples) {
            Ok(()) => {}
            Err(TrySendError::Full(lost)) => {
                // Counted and told once per thousand, so a stuck store cannot flood the log.
                let n = self.dropped.fetch_add(lost.len() as u64, Ordering::Relaxed);
                if n % 1000 < lost.len() as u64 {
                    tracing::warn!(
                        operation = "write_series",
                        error_type = "queue_full",
                        dropped_total = n + lost.len() as u64,
                        "the metrics store is not keeping up; samples of probes and host metrics were dropped"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn write_loop(db: &Tsdb, rx: Receiver<Vec<SeriesSample>>) {
    while let Ok(first) = rx.recv() {
        let mut app = db.appender();
        let mut refused = 0usize;
        let mut last_error = None;
        for batch in std::iter::once(first).chain(rx.try_iter()) {
            for s in batch {
                if let Err(e) = app.append(&s.labels, s.t, s.v) {
                    refused += 1;
                    last_error = Some(e);
                }
            }
        }
        if let Err(e) = app.commit() {
            tracing::warn!(operation = "write_series", error = %e, "cannot write series to the metrics store");
        }
        if let Some(e) = last_error {
            tracing::debug!(operation = "write_series", refused, error = ?e, "samples refused by the metrics store");
        }
    }
}

/// Every `every`, this machine's CPU, memory, disks, network, clocks, processes and
/// sensors as node_exporter series with `job="node"` and `instance` = the host name (the
/// `nodename` of `node_uname_info`, as dashboards' variables expect); the families'
/// TYPE and HELP go to `metadata` for `/api/v1/metadata`.
pub async fn host_metrics_loop(
    sink: Arc<SeriesWriter>,
    metadata: Arc<MetadataStore>,
    every: Duration,
) {
    let instance = host_name();
    // The metadata's source, as a scrape target's key would be.
    let source = format!("node|host|{instance}");
    let collector = Arc::new(HostCollector::default());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let (collector, instance, sink) = (collector.clone(), instance.clone(), sink.clone());
        let (metadata, source) = (metadata.clone(), source.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let now = Utc::now();
            let t = now.timestamp_millis();
            let got = collector.collect(t as f64 / 1000.0);
            for (name, meta) in got.families {
                metadata.set(&name, &source, meta);
            }
            let samples = got
                .samples
                .into_iter()
                .map(|s| SeriesSample {
                    labels: with_target(s.labels, "node", &instance),
                    t,
                    v: s.value,
                })
                .collect();
            sink.write(samples);
        })
        .await;
    }
}

fn with_target(mut labels: LabelSet, job: &str, instance: &str) -> LabelSet {
    labels.set("job", job);
    labels.set("instance", instance);
    labels
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
