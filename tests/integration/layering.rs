//! The direction of dependencies in docs/DESIGN.md, checked on the sources: frontends and
//! backends meet only in the model, the model depends on nothing else in the crate, the mapping
//! layer knows no transport, backends take codecs but not mapping, and the pipeline names no
//! protocol.

use std::path::Path;

use crate::support::root;

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    offenders_where(dir, forbidden, |line, pattern| line.contains(pattern))
}

/// Lines of the Rust files under `src/dir` on which `found(line, pattern)` holds for a pattern.
fn offenders_where(
    dir: &str,
    forbidden: &[&str],
    found_in: impl Fn(&str, &str) -> bool,
) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root().join("src").join(dir), &mut files);
    assert!(!files.is_empty(), "src/{dir} has no Rust files");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for pattern in forbidden {
                if found_in(line, pattern) {
                    found.push(format!(
                        "{}:{}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn frontends_never_name_backends() {
    assert_eq!(
        offenders("frontends", &["crate::backends"]),
        Vec::<String>::new()
    );
}

#[test]
fn backends_never_name_frontends() {
    assert_eq!(
        offenders("backends", &["crate::frontends", "crate::pipeline"]),
        Vec::<String>::new()
    );
}

#[test]
fn the_model_depends_on_nothing_else_in_the_crate() {
    let forbidden = [
        "crate::backends",
        "crate::frontends",
        "crate::mapping",
        "crate::pipeline",
        "crate::config",
        "crate::descriptors",
        "crate::app",
    ];
    assert_eq!(offenders("model", &forbidden), Vec::<String>::new());
}

#[test]
fn the_http_request_key_is_named_only_by_the_http_frontend() {
    let found: Vec<String> = offenders("", &["RequestKey::Http"])
        .into_iter()
        .filter(|line| !line.contains("/src/frontends/http/"))
        .collect();
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_pipeline_names_no_protocol() {
    let protocols = [
        "http",
        "grpc",
        "soap",
        "xml",
        "rest",
        "mqtt",
        "websocket",
        "topic",
        "json",
    ];
    let names_word = |line: &str, word: &str| {
        line.to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|token| token == word)
    };
    assert_eq!(
        offenders_where("pipeline", &protocols, names_word),
        Vec::<String>::new()
    );
}

#[test]
fn the_mapping_layer_knows_no_transport() {
    assert_eq!(
        offenders("mapping", &["crate::backends", "crate::frontends"]),
        Vec::<String>::new()
    );
}

#[test]
fn backends_take_codecs_not_the_mapping_layer() {
    assert_eq!(
        offenders("backends", &["crate::mapping"]),
        Vec::<String>::new()
    );
}

#[test]
fn codecs_know_neither_routes_nor_transports() {
    assert_eq!(
        offenders(
            "codec",
            &[
                "crate::mapping",
                "crate::backends",
                "crate::frontends",
                "crate::pipeline"
            ]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn the_shared_mqtt_client_knows_neither_frontends_backends_nor_routes() {
    assert_eq!(
        offenders(
            "mqtt_client",
            &[
                "crate::frontends",
                "crate::backends",
                "crate::mapping",
                "crate::pipeline"
            ]
        ),
        Vec::<String>::new()
    );
}
