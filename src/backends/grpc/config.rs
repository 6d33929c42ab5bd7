//! Configuration of a gRPC backend, and its validated form.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use serde::Deserialize;

use crate::backends::connection::backend_config;
use crate::config::units::{ByteSize, ConfigDuration};
use crate::descriptors::SchemaConfig;

/// HTTP/2's largest flow-control window (RFC 9113 §6.9.1).
const MAX_WINDOW: u64 = (1 << 31) - 1;

backend_config! {
    connection;
    /// A gRPC backend as written in the config file: `url` is `http://host:port` for plaintext
    /// HTTP/2 (h2c) or `https://host:port` for TLS; the shared connection keys, then gRPC's own.
    #[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
    #[serde(deny_unknown_fields)]
    pub struct GrpcBackendConfig {
        /// The largest message accepted from the backend. Default `4MiB`.
        #[serde(default)]
        pub max_message_size: Option<ByteSize>,
        /// The largest request metadata (header list, counted as HTTP/2 does) sent to the
        /// backend; a larger request is refused with 431 before it can reset the shared
        /// connection. The backend's own advertised limit applies when smaller. Default `16KiB`.
        #[serde(default)]
        pub max_metadata_size: Option<ByteSize>,
        /// HTTP/2 connections kept to the backend; calls are spread over them. Default 1.
        #[serde(default)]
        pub connections: Option<usize>,
        /// The HTTP/2 flow-control window of each call: how much of an answer may wait in
        /// polygate for a client that reads slowly. Default `256KiB`.
        #[serde(default)]
        pub stream_window: Option<ByteSize>,
        /// The HTTP/2 flow-control window of each connection, shared by its calls. Default: the
        /// largest HTTP/2 allows (2 GiB − 1), so only `stream_window` bounds what waits for each
        /// call and calls whose clients stall can never exhaust the connection's window; a
        /// smaller value caps a connection's waiting answers but lets `connection_window /
        /// stream_window` stalled calls hold up the others until `stalled_reader_timeout`.
        #[serde(default)]
        pub connection_window: Option<ByteSize>,
        /// A streamed answer whose client takes nothing of what waits for it for this long is
        /// cancelled, so it cannot hold the connection's window. Default `30s`.
        #[serde(default)]
        pub stalled_reader_timeout: Option<ConfigDuration>,
        /// Where the backend's service definitions come from.
        #[serde(default)]
        pub schema: SchemaConfig,
    }
}

/// A validated gRPC endpoint.
#[derive(Clone)]
pub struct GrpcEndpoint {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// `host:port` to connect to.
    pub(crate) socket_address: String,
    pub(crate) tls: Option<TlsSettings>,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) max_metadata_size: usize,
    pub(crate) connections: usize,
    pub(crate) stream_window: u32,
    pub(crate) connection_window: u32,
    pub(crate) stalled_reader_timeout: Duration,
}

impl std::fmt::Debug for GrpcEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

/// TLS client settings for one backend.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    pub(crate) client_config: Arc<rustls::ClientConfig>,
    pub(crate) server_name: String,
}

impl GrpcBackendConfig {
    /// Checks the URL and TLS files; `base_dir` resolves a relative `ca_file`.
    pub fn validate(&self, base_dir: &Path) -> Result<GrpcEndpoint, String> {
        let connection = self.connection().validate(base_dir, &[b"h2"])?;
        if !matches!(connection.uri.path(), "" | "/") {
            return Err(format!("url '{}' must not have a path", self.url));
        }
        let connections = self.connections.unwrap_or(1);
        if !(1..=64).contains(&connections) {
            return Err(format!("connections must be 1 to 64, not {connections}"));
        }
        let window = |size: Option<ByteSize>, default: u64, key: &str| {
            let size = size.map_or(default, |s| s.0);
            if (65_535..=MAX_WINDOW).contains(&size) {
                Ok(size as u32)
            } else {
                Err(format!(
                    "{key} must be between 65535 bytes and 2GiB (HTTP/2's bounds), not {size} bytes"
                ))
            }
        };
        let stream_window = window(self.stream_window, 256 << 10, "stream_window")?;
        let connection_window = window(self.connection_window, MAX_WINDOW, "connection_window")?;
        if connection_window < stream_window {
            return Err("connection_window must be at least stream_window".into());
        }
        Ok(GrpcEndpoint {
            max_metadata_size: self.max_metadata_size.map_or(16 << 10, |s| s.0 as usize),
            connections,
            stream_window,
            connection_window,
            stalled_reader_timeout: self
                .stalled_reader_timeout
                .map_or(Duration::from_secs(30), |d| d.0),
            socket_address: connection.socket_address(),
            tls: connection
                .tls
                .map(|(client_config, server_name)| TlsSettings {
                    client_config,
                    server_name,
                }),
            scheme: connection.scheme,
            authority: connection.authority,
            connect_timeout: connection.connect_timeout,
            max_message_size: self.max_message_size.map_or(4 << 20, |s| s.0 as usize),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> GrpcBackendConfig {
        GrpcBackendConfig {
            url: url.to_owned(),
            ca_file: None,
            tls_server_name: None,
            connect_timeout: None,
            endpoints: Vec::new(),
            resilience: None,
            max_message_size: None,
            max_metadata_size: None,
            connections: None,
            stream_window: None,
            connection_window: None,
            stalled_reader_timeout: None,
            schema: SchemaConfig::default(),
        }
    }

    #[test]
    fn plaintext_urls_give_socket_addresses() {
        let endpoint = config("http://127.0.0.1:50051")
            .validate(Path::new("."))
            .unwrap();
        assert_eq!(endpoint.socket_address, "127.0.0.1:50051");
        assert!(endpoint.tls.is_none());
        let endpoint = config("http://[::1]:9000")
            .validate(Path::new("."))
            .unwrap();
        assert_eq!(endpoint.socket_address, "[::1]:9000");
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        assert_eq!(
            config("ftp://x:1").validate(Path::new(".")).unwrap_err(),
            "url 'ftp://x:1' needs http:// or https://"
        );
        assert_eq!(
            config("http://x:1/api")
                .validate(Path::new("."))
                .unwrap_err(),
            "url 'http://x:1/api' must not have a path"
        );
        assert_eq!(
            config("127.0.0.1:1").validate(Path::new(".")).unwrap_err(),
            "url '127.0.0.1:1' needs http:// or https://"
        );
    }
}
