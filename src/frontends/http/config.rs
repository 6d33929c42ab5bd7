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
        let names: Vec<String> = match &self.forward_headers {
            Some(names) => names.clone(),
            None => DEFAULT_FORWARD_HEADERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        };
        let forward_headers = names
            .iter()
            .map(|name| {
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("forward_headers: '{name}' is not a valid header name"))
            })
            .collect::<Result<_, _>>()?;
        Ok(HttpFrontendSettings {
            listen,
            max_body_size: self.max_body_size.map_or(4 << 20, |s| s.0 as usize),
            forward_headers,
        })
    }
}
