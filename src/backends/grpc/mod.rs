//! The gRPC backend: calls any method over one reused HTTP/2 connection (h2c or TLS), with
//! messages as protobuf bytes bound by the mapping layer, and every failure mapped to a `Status`.

mod body;
mod channel;
mod config;
mod framing;
mod response;
mod service;

pub use config::{GrpcBackendConfig, GrpcEndpoint};
pub use service::GrpcBackend;
