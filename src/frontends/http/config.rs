//! Configuration of the REST/JSON frontend.

use std::net::SocketAddr;

use http::HeaderName;
use serde::Deserialize;

use crate::config::units::ByteSize;

/// The `http:` section of the config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpFrontendConfig {
    /// The address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub listen: String,
    /// The largest request body accepted; larger ones get 413. Default `4MiB`. For streamed
    /// (NDJSON) bodies it bounds each message.
    #[serde(default)]
    pub max_body_size: Option<ByteSize>,
    /// Request headers forwarded to backends as metadata, besides every `Grpc-Metadata-*`
    /// header. Default: `authorization`, `x-request-id`, `traceparent`, `tracestate`.
    #[serde(default)]
    pub forward_headers: Option<Vec<String>>,
}

/// The validated REST/JSON frontend settings.
#[derive(Debug, Clone)]
pub struct HttpFrontendSettings {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The body limit in bytes.
    pub max_body_size: usize,
    /// Headers forwarded as metadata.
    pub forward_headers: Vec<HeaderName>,
}

/// The headers forwarded when the config names none.
pub const DEFAULT_FORWARD_HEADERS: [&str; 4] =
    ["authorization", "x-request-id", "traceparent", "tracestate"];

impl HttpFrontendConfig {
    /// Checks the address and header names.
    pub fn validate(&self) -> Result<HttpFrontendSettings, String> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            format!(
                "listen '{}' is not an address such as 127.0.0.1:8080",
                self.listen
            )
        })?;
        Ok(HttpFrontendSettings {
            listen,
            max_body_size: self.max_body_size.map_or(4 << 20, |s| s.0 as usize),
            forward_headers: forward_header_names(self.forward_headers.as_deref())?,
        })
    }
}

/// The header names of a `forward_headers` setting, checked; the default list when unset.
pub fn forward_header_names(names: Option<&[String]>) -> Result<Vec<HeaderName>, String> {
    let check = |name: &str| {
        HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("forward_headers: '{name}' is not a valid header name"))
    };
    match names {
        Some(names) => names.iter().map(|name| check(name)).collect(),
        None => DEFAULT_FORWARD_HEADERS
            .iter()
            .map(|name| check(name))
            .collect(),
    }
}
