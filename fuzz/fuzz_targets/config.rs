//! The config loader (`polygate::config::Config::from_text`, what `Config::from_file` runs on
//! the file's text): YAML with sizes, durations, URLs and frontend/backend sections. Nothing
//! panics, and the frontends and route defaults of a loaded config can be read.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use polygate::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_text(text, Path::new("/fuzz/polygate.yaml")) {
        let _ = config.frontends();
        let _ = config.routes.defaults();
    }
});
