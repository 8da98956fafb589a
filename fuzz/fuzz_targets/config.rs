//! A `pharos.yaml`, through the parse `pharos serve` and `pharos check` use (every section
//! and the checks across sections; no file is read). `${VAR}` references resolve to a
//! fixed value or none, so substitution is exercised too.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pharos::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name.len() % 2 == 0).then(|| "value".to_string());
    let _ = Config::parse(text, Path::new("pharos.yaml"), &env);
});
