//! Sources that pull numbers into the time-series store: Prometheus scrape jobs as
//! `prometheus.yml` writes them (static targets and file-based discovery, relabelling,
//! the exposition formats), JSON targets, and the host's own metrics.

pub mod config;
pub mod discovery;
pub mod json;
pub mod manager;
pub mod metadata;
pub mod scrape_loop;
pub mod target;
