//! The mapping-file loader (`polygate::mapping::source::parse_mapping`, what `load_mapping` runs
//! on the file's text): `http: rules:`, `routes:` and `xml_mapping:`. What loads is then
//! compiled into a route table against the test proto, as `polygate check` would; nothing
//! panics.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use polygate::mapping::source::parse_mapping;
use polygate::mapping::{BackendSchema, RouteSources, RouteTable};
use polygate_fuzz::{no_backend, test_pool};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(contents) = parse_mapping(text, Path::new("/fuzz/mapping.yaml")) else {
        return;
    };
    let backends = [BackendSchema {
        name: Arc::from("fuzz"),
        backend: no_backend(),
        pool: test_pool().clone(),
    }];
    let _ = RouteTable::build(RouteSources {
        backends: &backends,
        mapping_rules: contents.rules,
        defaults: Default::default(),
        expose_unannotated: false,
        target_backends: &[],
        target_routes: contents.routes,
    });
});
