//! Configuration of a gRPC backend, and its validated form.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use serde::Deserialize;

use crate::backends::connection::backend_config;
use crate::config::units::ByteSize;
use crate::descriptors::SchemaConfig;

backend_config! {
    connection;
    /// A gRPC backend as written in the config file: `url` is `http://host:port` for plaintext
    /// HTTP/2 (h2c) or `https://host:port` for TLS; the shared connection keys, then gRPC's own.
    #[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
    #[serde(deny_unknown_fields)]
    pub struct GrpcBackendConfig {
        /// The largest message accepted from the backend. Default `4MiB`.
        #[serde(default)]
        pub max_message_size: Option<ByteSize>,
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
        Ok(GrpcEndpoint {
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
            max_message_size: None,
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
