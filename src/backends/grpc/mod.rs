//! The gRPC backend: calls any method over reused HTTP/2 connections (h2c or TLS), with
//! messages as protobuf bytes bound by the mapping layer, and every failure mapped to a `Status`.

mod body;
mod channel;
mod config;
mod framing;
mod response;
mod service;
mod settings_probe;
mod stall;

pub use config::{GrpcBackendConfig, GrpcEndpoint};
pub use service::GrpcBackend;
