//! Sources that pull numbers into the time-series store: Prometheus scrape jobs as
//! `prometheus.yml` writes them (static targets, file, Docker and Consul discovery, relabelling,
//! the exposition formats), JSON targets, jobs made through the API (`manager`, with
//! their credentials sealed by `secrets`), and the host's own metrics.

pub mod config;
pub mod consul_sd;
pub mod discovery;
pub mod docker_sd;
pub mod error;
pub mod host;
pub mod ignored;
pub mod json;
pub mod manager;
pub mod metadata;
pub mod scrape_loop;
pub mod sd_http;
pub mod secrets;
pub mod target;

pub use error::ScrapeError;
