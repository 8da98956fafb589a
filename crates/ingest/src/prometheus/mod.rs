//! The Prometheus ecosystem's ways of handing over numbers: the text exposition formats a
//! scrape reads, relabelling rules, and remote_write requests. Pure: bytes in, series out.

pub mod exposition;
pub mod relabel;
pub mod remote_write;
