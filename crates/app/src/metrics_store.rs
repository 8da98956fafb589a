//! The metrics side of Pharos as the operations see it: the time-series store, the PromQL
//! engine over it and the scrape manager that feeds it.

use std::sync::Arc;

use pharos_promql::Engine;
use pharos_scrape::manager::ScrapeManager;
use pharos_tsdb::Tsdb;

/// `None` in [`crate::App`] when metrics are off.
pub struct Metrics {
    pub db: Arc<Tsdb>,
    pub engine: Engine,
    pub scrape: Arc<ScrapeManager>,
}
