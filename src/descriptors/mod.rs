//! The runtime descriptor pool of a backend: `.proto` files compiled in-process, binary
//! `FileDescriptorSet`s, or gRPC server reflection — never generated code.
//!
//! Every pool also holds the `google.api` and `google.rpc` files polygate ships, so
//! `google.api.http` options and `google.rpc.Status` details resolve without the user
//! supplying them.

mod merge;
mod protos;
mod reflection;

use std::path::{Path, PathBuf};

use prost_reflect::DescriptorPool;
use serde::Deserialize;

pub use protos::compile_protos;
pub use reflection::fetch_by_reflection;

use crate::model::Backend;

/// Where a backend's service definitions come from (any combination).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    /// `.proto` files to compile at start-up, relative to the config file or to a proto path.
    #[serde(default)]
    pub protos: Vec<PathBuf>,
    /// Import paths for `protos` (like protoc's `-I`); the config file's directory when empty.
    #[serde(default)]
    pub proto_paths: Vec<PathBuf>,
    /// Binary `FileDescriptorSet` files (`protoc --include_imports -o`, `buf build -o`).
    #[serde(default)]
    pub descriptor_sets: Vec<PathBuf>,
    /// Ask the backend itself through gRPC server reflection (v1, falling back to v1alpha).
    #[serde(default)]
    pub reflection: bool,
}

impl SchemaConfig {
    /// Whether no source is configured.
    pub fn is_empty(&self) -> bool {
        self.protos.is_empty() && self.descriptor_sets.is_empty() && !self.reflection
    }
}

/// Why a descriptor source could not be loaded. Messages name the file and, for `.proto`
/// syntax errors, the line and column.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// A `.proto` file failed to compile.
    #[error("{0}")]
    Compile(String),
    /// A descriptor set file could not be read or decoded.
    #[error("descriptor set {path}: {reason}")]
    DescriptorSet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Reflection against the backend failed.
    #[error("reflection against backend '{backend}' failed: {reason}")]
    Reflection {
        /// The backend's name.
        backend: String,
        /// What went wrong.
        reason: String,
    },
    /// Files from two sources disagree.
    #[error("descriptors do not fit together: {0}")]
    Conflict(String),
}

/// Loads every configured source into one pool. `base_dir` resolves relative paths;
/// `backend` is asked when reflection is on. When two sources hold a file of the same name, the
/// first wins, in this order: `.proto` files, descriptor sets, reflection, polygate's bundled
/// `google/*` files — so a user's own copy of a bundled file takes precedence.
pub async fn load_schema(
    schema: &SchemaConfig,
    base_dir: &Path,
    backend: &dyn Backend,
) -> Result<DescriptorPool, DescriptorError> {
    let mut sets: Vec<Vec<u8>> = Vec::new();
    if !schema.protos.is_empty() {
        let proto_paths: Vec<PathBuf> = if schema.proto_paths.is_empty() {
            vec![base_dir.to_path_buf()]
        } else {
            schema
                .proto_paths
                .iter()
                .map(|p| base_dir.join(p))
                .collect()
        };
        let files: Vec<PathBuf> = schema
            .protos
            .iter()
            .map(|p| resolve_proto(p, base_dir, &proto_paths))
            .collect();
        sets.push(compile_protos(&files, &proto_paths)?);
    }
    for path in &schema.descriptor_sets {
        let path = base_dir.join(path);
        let bytes = std::fs::read(&path).map_err(|e| DescriptorError::DescriptorSet {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        merge::check_set(&bytes).map_err(|reason| DescriptorError::DescriptorSet {
            path: path.clone(),
            reason,
        })?;
        sets.push(bytes);
    }
    if schema.reflection {
        sets.push(fetch_by_reflection(backend).await?);
    }
    sets.push(protos::bundled_support_files().to_vec());
    let merged = merge::first_of_each_name(&sets).map_err(DescriptorError::Conflict)?;
    let mut pool = DescriptorPool::new();
    pool.decode_file_descriptor_set(merged.as_slice())
        .map_err(|e| DescriptorError::Conflict(e.to_string()))?;
    Ok(pool)
}

/// A `.proto` given on the command line or in the config may be a path relative to the config
/// directory or to a proto path; protox wants a path under an include directory.
fn resolve_proto(file: &Path, base_dir: &Path, proto_paths: &[PathBuf]) -> PathBuf {
    let candidate = base_dir.join(file);
    if candidate.exists() {
        return candidate;
    }
    for dir in proto_paths {
        let candidate = dir.join(file);
        if candidate.exists() {
            return candidate;
        }
    }
    file.to_path_buf()
}
