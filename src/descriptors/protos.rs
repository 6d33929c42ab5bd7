//! `.proto` compilation in-process with protox, with the `google.api`/`google.rpc` files
//! polygate ships resolved after the user's own import paths (so a user's copy wins).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};
use protox::Compiler;

use super::DescriptorError;

/// The bundled files, by import name. Apache-2.0, from googleapis; headers kept.
const BUNDLED: &[(&str, &str)] = &[
    (
        "google/api/annotations.proto",
        include_str!("vendor/google/api/annotations.proto"),
    ),
    (
        "google/api/http.proto",
        include_str!("vendor/google/api/http.proto"),
    ),
    (
        "google/api/httpbody.proto",
        include_str!("vendor/google/api/httpbody.proto"),
    ),
    (
        "google/api/field_behavior.proto",
        include_str!("vendor/google/api/field_behavior.proto"),
    ),
    (
        "google/api/resource.proto",
        include_str!("vendor/google/api/resource.proto"),
    ),
    (
        "google/api/client.proto",
        include_str!("vendor/google/api/client.proto"),
    ),
    (
        "google/api/launch_stage.proto",
        include_str!("vendor/google/api/launch_stage.proto"),
    ),
    (
        "google/rpc/status.proto",
        include_str!("vendor/google/rpc/status.proto"),
    ),
    (
        "google/rpc/code.proto",
        include_str!("vendor/google/rpc/code.proto"),
    ),
    (
        "google/rpc/error_details.proto",
        include_str!("vendor/google/rpc/error_details.proto"),
    ),
];

/// The well-known types, served by protox itself; added to every pool for reflection sources
/// whose servers do not serve them.
const WELL_KNOWN_TYPES: &[&str] = &[
    "google/protobuf/any.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/wrappers.proto",
];

/// Serves the bundled files to protox.
struct BundledFiles;

impl FileResolver for BundledFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match BUNDLED.iter().find(|(file, _)| *file == name) {
            Some((file, source)) => File::from_source(file, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

fn compiler(proto_paths: &[PathBuf]) -> Compiler {
    let mut resolver = ChainFileResolver::new();
    for dir in proto_paths {
        resolver.add(IncludeFileResolver::new(dir.clone()));
    }
    resolver.add(BundledFiles);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    compiler
}

/// Compiles `files` (paths under one of `proto_paths`) and returns the encoded
/// `FileDescriptorSet`, imports included and custom options kept.
pub fn compile_protos(
    files: &[PathBuf],
    proto_paths: &[PathBuf],
) -> Result<Vec<u8>, DescriptorError> {
    let mut compiler = compiler(proto_paths);
    for file in files {
        compiler
            .open_file(file)
            .map_err(|e| compile_error(file, &e))?;
    }
    Ok(compiler.encode_file_descriptor_set())
}

/// The bundled `google.rpc` and `google.api` files and the well-known types, compiled once:
/// added to every pool first, so error details, HTTP annotations and imports always resolve.
pub(super) fn bundled_support_files() -> &'static [u8] {
    static ENCODED: OnceLock<Vec<u8>> = OnceLock::new();
    ENCODED.get_or_init(|| {
        let mut compiler = compiler(&[]);
        let names = BUNDLED
            .iter()
            .map(|(name, _)| *name)
            .chain(WELL_KNOWN_TYPES.iter().copied());
        for name in names {
            // The bundled files are fixed at build time and covered by a unit test.
            if compiler.open_file(name).is_err() {
                tracing::error!(file = name, "bundled proto file failed to compile");
            }
        }
        compiler.encode_file_descriptor_set()
    })
}

/// Turns a protox error into "file:line:column: message".
fn compile_error(opened: &Path, error: &protox::Error) -> DescriptorError {
    use miette::Diagnostic as _;
    let file = error
        .file()
        .map(str::to_owned)
        .unwrap_or_else(|| opened.display().to_string());
    let location = error
        .labels()
        .and_then(|mut labels| labels.next())
        .and_then(|label| {
            let source = error.source_code()?;
            let contents = source.read_span(label.inner(), 0, 0).ok()?;
            Some(format!(
                ":{}:{}",
                contents.line() + 1,
                contents.column() + 1
            ))
        })
        .unwrap_or_default();
    DescriptorError::Compile(format!("{file}{location}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_files_compile_and_carry_the_http_extension() {
        let mut pool = prost_reflect::DescriptorPool::new();
        pool.decode_file_descriptor_set(bundled_support_files())
            .unwrap();
        assert!(pool.get_extension_by_name("google.api.http").is_some());
        assert!(pool.get_message_by_name("google.rpc.Status").is_some());
        assert!(pool.get_message_by_name("google.rpc.BadRequest").is_some());
        assert!(pool.get_message_by_name("google.api.HttpBody").is_some());
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let dir = std::env::temp_dir().join(format!("polygate-protos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("bad.proto"),
            "syntax = \"proto3\";\n\nmessage A {\n  int32 x = ;\n}\n",
        )
        .unwrap();
        let error = compile_protos(&[dir.join("bad.proto")], std::slice::from_ref(&dir))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("bad.proto:4:"), "{error}");
        std::fs::write(
            dir.join("imp.proto"),
            "syntax = \"proto3\";\nimport \"missing/x.proto\";\n",
        )
        .unwrap();
        let error = compile_protos(&[dir.join("imp.proto")], std::slice::from_ref(&dir))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("imp.proto:2:"), "{error}");
        assert!(
            error.contains("import 'missing/x.proto' not found"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
