//! Backends: clients that turn a bound call into a protocol request and answer with a
//! `GatewayResponse` or a `Status`. Register a new protocol with one variant of
//! [`BackendConfig`] and one arm in [`build`].

mod deadline;
pub mod grpc;

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::descriptors::SchemaConfig;
use crate::model::Backend;

/// One backend in the config file, keyed by its protocol: `grpc: {…}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum BackendConfig {
    /// A gRPC server.
    Grpc(grpc::GrpcBackendConfig),
}

impl BackendConfig {
    /// Where the backend's schema comes from, for backends described by protobuf descriptors.
    pub fn schema(&self) -> Option<&SchemaConfig> {
        match self {
            BackendConfig::Grpc(grpc) => Some(&grpc.schema),
        }
    }
}

/// Builds the backend `name` from its validated config.
pub fn build(
    name: &str,
    config: &BackendConfig,
    base_dir: &Path,
) -> Result<Arc<dyn Backend>, String> {
    match config {
        BackendConfig::Grpc(grpc) => Ok(Arc::new(grpc::GrpcBackend::new(
            name,
            grpc.validate(base_dir)?,
        ))),
    }
}
