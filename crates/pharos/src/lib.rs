//! The part of the binary other code calls: the `pharos.yaml` loader (`config`) with the
//! two modules its sections name (`syslog`'s listener settings, the `lifecycle` they run
//! under). The fuzz targets (`fuzz/`) parse configs through [`config::Config::parse`], the
//! same function `pharos serve` and `pharos check` use.

pub mod config;
pub mod lifecycle;
pub mod syslog;
