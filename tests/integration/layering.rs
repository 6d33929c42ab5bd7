//! The direction of dependencies in docs/DESIGN.md, checked on the sources: frontends and
//! backends meet only in the model, and the model depends on nothing else in the crate.

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
    let mut files = Vec::new();
    rust_files(&root().join("src").join(dir), &mut files);
    assert!(!files.is_empty(), "src/{dir} has no Rust files");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for pattern in forbidden {
                if line.contains(pattern) {
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
