//! Configuration of the REST/JSON frontend.

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;

use crate::config::units::{ByteSize, ConfigDuration};
use crate::describe::{ApiDocsConfig, ApiDocsSettings};

/// The `http:` section of the config.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
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
    /// The most bytes a streamed (NDJSON) request body may carry in all; more gets 413.
    /// Default `1GiB`.
    #[serde(default)]
    pub max_stream_size: Option<ByteSize>,
    /// The most messages a streamed (NDJSON) request body may carry; more gets 413. Default
    /// 1000000.
    #[serde(default)]
    pub max_stream_messages: Option<usize>,
    /// Open client connections at most; beyond it new connections wait in the listen backlog
    /// until one closes. Default 10000.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// The largest request head (HTTP/1.1: request line and headers; HTTP/2: the header list
    /// as HTTP/2 counts it); larger gets 431. Default `64KiB`.
    #[serde(default)]
    pub max_header_size: Option<ByteSize>,
    /// Request headers at most (HTTP/1.1); more gets 431. Default 100.
    #[serde(default)]
    pub max_headers: Option<usize>,
    /// How long a client has to send a whole request head, counted from the connection's
    /// accept or, on a kept-alive connection, from its first byte. Default `10s`.
    #[serde(default)]
    pub header_read_timeout: Option<ConfigDuration>,
    /// How long a connection may stay open with no request under way. Default `60s`.
    #[serde(default)]
    pub idle_timeout: Option<ConfigDuration>,
    /// How long the body of a one-message request may take to arrive, and each message of a
    /// streamed (NDJSON) body; slower gets 408. Default `30s`.
    #[serde(default)]
    pub request_body_timeout: Option<ConfigDuration>,
    /// Concurrent streams per HTTP/2 connection. Default 200.
    #[serde(default)]
    pub http2_max_concurrent_streams: Option<u32>,
    /// On shutdown, how long requests under way may take to finish before they are answered
    /// 503 (streams end with an in-band error) and their connections closed. Default `10s`.
    #[serde(default)]
    pub drain_timeout: Option<ConfigDuration>,
    /// Serve the OpenAPI and AsyncAPI documents and the `/docs` page on this listener
    /// (`enabled`, `path_prefix`). Default off.
    #[serde(default)]
    pub api_docs: Option<ApiDocsConfig>,
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
    /// Bytes a streamed body may carry in all.
    pub max_stream_size: usize,
    /// Messages a streamed body may carry.
    pub max_stream_messages: usize,
    /// Open connections at most.
    pub max_connections: usize,
    /// The largest request head in bytes.
    pub max_header_size: usize,
    /// Request headers at most (HTTP/1.1).
    pub max_headers: usize,
    /// Time to send a request head.
    pub header_read_timeout: Duration,
    /// Time a connection may stay idle.
    pub idle_timeout: Duration,
    /// Time for a body, or for each message of a streamed body.
    pub request_body_timeout: Duration,
    /// Concurrent streams per HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// Time requests under way get on shutdown.
    pub drain_timeout: Duration,
    /// The API documents and docs page, when served here.
    pub api_docs: Option<ApiDocsSettings>,
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
        let forward_headers = forward_header_names(self.forward_headers.as_deref())?;
        let max_header_size = self.max_header_size.map_or(64 << 10, |s| s.0);
        if !(8 << 10..=1 << 20).contains(&max_header_size) {
            return Err(format!(
                "max_header_size must be between 8KiB and 1MiB, not {max_header_size} bytes"
            ));
        }
        let max_connections = self.max_connections.unwrap_or(10_000);
        if max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        let duration = |value: Option<ConfigDuration>, default: u64| {
            value.map_or(Duration::from_secs(default), |d| d.0)
        };
        Ok(HttpFrontendSettings {
            listen,
            max_body_size: self.max_body_size.map_or(4 << 20, |s| s.0 as usize),
            forward_headers,
            max_stream_size: self.max_stream_size.map_or(1 << 30, |s| s.0 as usize),
            max_stream_messages: self.max_stream_messages.unwrap_or(1_000_000),
            max_connections,
            max_header_size: max_header_size as usize,
            max_headers: self.max_headers.unwrap_or(100).max(1),
            header_read_timeout: duration(self.header_read_timeout, 10),
            idle_timeout: duration(self.idle_timeout, 60),
            request_body_timeout: duration(self.request_body_timeout, 30),
            http2_max_concurrent_streams: self.http2_max_concurrent_streams.unwrap_or(200).max(1),
            drain_timeout: duration(self.drain_timeout, 10),
            api_docs: match &self.api_docs {
                Some(docs) => docs.validate()?,
                None => None,
            },
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
