//! The HTTP client shared by the SOAP, plain-XML and REST backends: pooled keep-alive
//! connections (HTTP/1.1, and HTTP/2 by ALPN or prior knowledge), TLS with the system roots or a
//! configured CA, connect and request timeouts, a response size limit, and the canonical errors
//! of transport failures and of upstream HTTP error statuses.

mod client;
mod config;
mod error;
mod reply;

pub(crate) use client::{HttpClient, UpstreamResponse};
pub use config::{ClientSettings, HttpBackendConfig};
pub(crate) use error::UpstreamError;
pub(crate) use reply::{checked_json, is_json, log_unusable};
