//! The segment-trie matcher (`polygate::mapping::matcher::Router`). The input is lines:
//! `METHOD template` lines, an empty line, then `METHOD path` request lines. Every template that
//! parses is inserted; every request is looked up. A match is of the request's method, with one
//! capture per variable of the matched template; "method not allowed" lists sorted methods that
//! are not the request's.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use polygate::mapping::matcher::{MatchError, Router};
use polygate::mapping::template::PathTemplate;

const MAX_ROUTES: usize = 64;
const MAX_REQUESTS: usize = 64;

fn split(line: &str) -> Option<(Method, &str)> {
    let (method, rest) = line.split_once(' ')?;
    Some((Method::from_bytes(method.as_bytes()).ok()?, rest))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (templates, requests) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut router = Router::new();
    for line in templates.lines().take(MAX_ROUTES) {
        let Some((method, template)) = split(line) else {
            continue;
        };
        let Ok(template) = PathTemplate::parse(template) else {
            continue;
        };
        let _ = router.insert(method.clone(), template, method);
    }
    for line in requests.lines().take(MAX_REQUESTS) {
        let Some((method, path)) = split(line) else {
            continue;
        };
        match router.find(&method, path) {
            Ok(found) => {
                assert_eq!(*found.value, method, "{path:?}");
                assert_eq!(
                    found.bindings.len(),
                    found.template.variables().len(),
                    "{} on {path:?}",
                    found.template.as_str()
                );
                for (capture, variable) in found.bindings.iter().zip(found.template.variables()) {
                    assert_eq!(capture.field_path, &variable.field_path);
                }
            }
            Err(MatchError::MethodNotAllowed { allowed }) => {
                assert!(!allowed.is_empty(), "{path:?}");
                assert!(!allowed.contains(&method), "{method} {path:?}: {allowed:?}");
                let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                let mut sorted = names.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(names, sorted, "{path:?}");
            }
            Err(MatchError::NotFound | MatchError::InvalidPath(_)) => {}
        }
    }
});
