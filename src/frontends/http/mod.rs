//! The REST/JSON frontend: HTTP/1.1 and HTTP/2 (h2c) on one port, every request routed by the
//! mapping layer's path templates; answers are JSON, NDJSON or Server-Sent Events.

mod body;
mod config;
mod connection;
mod decode;
mod encode;
mod server;
mod upgrade;

pub use config::{
    forward_header_names, HttpFrontendConfig, HttpFrontendSettings, DEFAULT_FORWARD_HEADERS,
};
pub use decode::{
    forwarded_metadata, is_base64, is_metadata_key, is_printable_ascii, parse_grpc_timeout,
    request_key, Peer,
};
pub use server::{serve, HttpServer};
pub use upgrade::{Upgrade, UpgradeContext};
