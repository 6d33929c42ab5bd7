//! The REST/JSON frontend: HTTP/1.1 and HTTP/2 (h2c) on one port, every request routed by the
//! mapping layer's path templates; answers are JSON, NDJSON or Server-Sent Events.

mod body;
mod compress;
mod config;
mod connection;
mod cors;
mod decode;
mod encode;
mod framing;
mod path;
mod request_id;
mod server;
mod upgrade;

pub use config::{
    forward_header_names, HttpFrontendConfig, HttpFrontendSettings, DEFAULT_FORWARD_HEADERS,
};
pub use decode::{
    forwarded_metadata, is_base64, is_metadata_key, is_printable_ascii, parse_grpc_timeout,
    request_key, Peer,
};
#[doc(hidden)]
pub use framing::verdicts_for_benches as framing_verdicts_for_benches;
pub use path::{normalize as normalize_path, EscapedSlashes, PathError};
pub use request_id::{
    generate as generate_request_id, is_well_formed as is_well_formed_request_id,
    MalformedRequestId, MAX_REQUEST_ID_LEN, X_REQUEST_ID,
};
pub use server::{serve, HttpServer};
pub use upgrade::{Upgrade, UpgradeContext};
