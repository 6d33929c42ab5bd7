//! The REST/JSON frontend: HTTP/1.1 and HTTP/2 (h2c) on one port, every request routed by the
//! mapping layer's path templates; answers are JSON, NDJSON or Server-Sent Events.

mod body;
mod config;
mod connection;
mod decode;
mod encode;
mod server;

pub use config::{HttpFrontendConfig, HttpFrontendSettings, DEFAULT_FORWARD_HEADERS};
pub use decode::parse_grpc_timeout;
pub use server::{serve, HttpServer};
