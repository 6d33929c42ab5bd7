//! The settings every backend connection shares, declared once: where the backend is and how
//! to reach it (URL, TLS trust, connect timeout) for every protocol, and the pooled HTTP
//! client's settings (request timeout, answer size, pool, HTTP/2) for SOAP, plain-XML and REST
//! backends. Defaults are identical by construction, and TLS is set up in one place (ring).
//!
//! The fields are spliced into each backend's config type by `backend_config!` rather than
//! with serde's `flatten`, which would lose the line numbers config errors report and the
//! refusal of unknown keys.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};

use crate::config::units::{ByteSize, ConfigDuration};
pub(crate) use crate::tls::TrustRoots;

/// Default for `connect_timeout`.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for `max_response_size`.
pub(crate) const DEFAULT_MAX_RESPONSE_SIZE: u64 = 4 << 20;
/// Default for `pool_idle_timeout`.
pub(crate) const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Default for `pool_max_idle_per_host`.
pub(crate) const DEFAULT_POOL_MAX_IDLE: usize = 32;

/// Declares a backend config type: the shared connection keys (`connection`), or those plus
/// the HTTP client's (`http_client`), then the type's own fields. The type gets
/// `connection()` (and `http_client()`) to read the shared keys.
macro_rules! backend_config {
    (
        connection;
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $type:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            /// The backend's URL: `http://host:port…` or `https://…` (TLS). Either this or
            /// `endpoints`.
            #[serde(default)]
            pub url: String,
            /// Several URLs of the same service, balanced by the resilience layer (instead of
            /// `url`; docs/resilience.md).
            #[serde(default)]
            pub endpoints: Vec<String>,
            /// Balancing, DNS re-resolution, health checks, outlier ejection, retries and
            /// circuit breaking (docs/resilience.md). Default: none of it with one `url`.
            #[serde(default)]
            pub resilience: Option<$crate::backends::resilience::ResilienceConfig>,
            /// A PEM file of CA certificates to trust instead of the system roots (`https` only).
            #[serde(default)]
            pub ca_file: Option<std::path::PathBuf>,
            /// The name to verify in the server's certificate; default: the URL's host.
            #[serde(default)]
            pub tls_server_name: Option<String>,
            /// How long connecting (TCP, TLS and the protocol's handshake) may take. Default `5s`.
            #[serde(default)]
            pub connect_timeout: Option<$crate::config::units::ConfigDuration>,
            $( $(#[$field_meta])* pub $field: $type, )*
        }

        impl $name {
            /// The shared connection keys.
            pub fn connection(&self) -> $crate::backends::connection::ConnectionFields<'_> {
                $crate::backends::connection::ConnectionFields {
                    url: &self.url,
                    ca_file: self.ca_file.as_deref(),
                    tls_server_name: self.tls_server_name.as_deref(),
                    connect_timeout: self.connect_timeout,
                }
            }
        }
    };
    (
        http_client;
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $type:ty, )*
        }
    ) => {
        $crate::backends::connection::backend_config! {
            connection;
            $(#[$meta])*
            pub struct $name {
                /// Longest time for one call, capping the route's timeout. Default: the route's.
                #[serde(default)]
                pub request_timeout: Option<$crate::config::units::ConfigDuration>,
                /// Largest answer accepted. Default `4MiB`.
                #[serde(default)]
                pub max_response_size: Option<$crate::config::units::ByteSize>,
                /// How long an idle pooled connection is kept. Default `90s`.
                #[serde(default)]
                pub pool_idle_timeout: Option<$crate::config::units::ConfigDuration>,
                /// Most idle connections kept. Default 32.
                #[serde(default)]
                pub pool_max_idle_per_host: Option<usize>,
                /// Speak HTTP/2 without negotiation (h2c prior knowledge); over `https` ALPN
                /// decides otherwise. Default false.
                #[serde(default)]
                pub http2: bool,
                $( $(#[$field_meta])* pub $field: $type, )*
            }
        }

        impl $name {
            /// The HTTP client's keys.
            pub fn http_client(&self) -> $crate::backends::connection::HttpClientFields {
                $crate::backends::connection::HttpClientFields {
                    request_timeout: self.request_timeout,
                    max_response_size: self.max_response_size,
                    pool_idle_timeout: self.pool_idle_timeout,
                    pool_max_idle_per_host: self.pool_max_idle_per_host,
                    http2: self.http2,
                }
            }
        }
    };
}

pub(crate) use backend_config;

/// The connection keys of a backend config, borrowed for validation.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionFields<'a> {
    /// `url`.
    pub url: &'a str,
    /// `ca_file`.
    pub ca_file: Option<&'a Path>,
    /// `tls_server_name`.
    pub tls_server_name: Option<&'a str>,
    /// `connect_timeout`.
    pub connect_timeout: Option<ConfigDuration>,
}

/// The HTTP client keys of a backend config.
#[derive(Debug, Clone, Copy)]
pub struct HttpClientFields {
    /// `request_timeout`.
    pub request_timeout: Option<ConfigDuration>,
    /// `max_response_size`.
    pub max_response_size: Option<ByteSize>,
    /// `pool_idle_timeout`.
    pub pool_idle_timeout: Option<ConfigDuration>,
    /// `pool_max_idle_per_host`.
    pub pool_max_idle_per_host: Option<usize>,
    /// `http2`.
    pub http2: bool,
}

/// A validated connection: the URL's parts, TLS when `https`, and the connect timeout.
#[derive(Clone)]
pub struct Connection {
    pub(crate) uri: http::Uri,
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// The host without IPv6 brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The TLS client config and the name to verify, for `https` URLs.
    pub(crate) tls: Option<(Arc<rustls::ClientConfig>, String)>,
    pub(crate) connect_timeout: Duration,
}

impl ConnectionFields<'_> {
    /// Checks the URL and the TLS files; `base_dir` resolves a relative `ca_file`; `alpn` is
    /// what the TLS handshake offers (empty: left to the connector).
    pub(crate) fn validate(&self, base_dir: &Path, alpn: &[&[u8]]) -> Result<Connection, String> {
        let url = self.url;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("url '{url}' is not a valid URL: {e}"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("url '{url}' needs http:// or https://"))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("url '{url}' has no host"))?;
        let tls = scheme == Scheme::HTTPS;
        if !tls && scheme != Scheme::HTTP {
            return Err(format!("url '{url}' needs http:// or https://"));
        }
        if !tls && (self.ca_file.is_some() || self.tls_server_name.is_some()) {
            return Err(format!(
                "ca_file and tls_server_name need an https:// url, not '{url}'"
            ));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = if tls {
            let ca_file = self.ca_file.map(|f| base_dir.join(f));
            let mut config = tls_config(TrustRoots::from_ca_file(ca_file.as_deref()))?;
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            let server_name = self
                .tls_server_name
                .map_or_else(|| host.clone(), str::to_owned);
            Some((Arc::new(config), server_name))
        } else {
            None
        };
        Ok(Connection {
            uri,
            scheme,
            authority,
            host,
            port,
            tls,
            connect_timeout: self
                .connect_timeout
                .map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0),
        })
    }
}

impl Connection {
    /// `host:port` to connect to, with brackets around an IPv6 host.
    pub(crate) fn socket_address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A rustls client config (ring) with the given roots, no client certificate and no ALPN.
pub(crate) fn tls_config(trust: TrustRoots<'_>) -> Result<rustls::ClientConfig, String> {
    crate::tls::client_config(trust, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(url: &str) -> ConnectionFields<'_> {
        ConnectionFields {
            url,
            ca_file: None,
            tls_server_name: None,
            connect_timeout: None,
        }
    }

    #[test]
    fn urls_give_host_port_and_socket_addresses() {
        let connection = fields("http://[::1]:9000")
            .validate(Path::new("."), &[])
            .unwrap();
        assert_eq!(connection.socket_address(), "[::1]:9000");
        assert_eq!(connection.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert!(connection.tls.is_none());
        let connection = fields("https://example.test")
            .validate(Path::new("."), &[b"h2"])
            .unwrap();
        assert_eq!(connection.socket_address(), "example.test:443");
        let (config, name) = connection.tls.unwrap();
        assert_eq!(name, "example.test");
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn bad_urls_and_tls_options_are_refused_with_the_reason() {
        let error = |url: &str| fields(url).validate(Path::new("."), &[]).err().unwrap();
        assert_eq!(
            error("ftp://x/"),
            "url 'ftp://x/' needs http:// or https://"
        );
        assert_eq!(
            error("/only/a/path"),
            "url '/only/a/path' needs http:// or https://"
        );
        let mut plain = fields("http://x:1");
        plain.tls_server_name = Some("x");
        assert_eq!(
            plain.validate(Path::new("."), &[]).err().unwrap(),
            "ca_file and tls_server_name need an https:// url, not 'http://x:1'"
        );
        let mut missing = fields("https://x:1");
        missing.ca_file = Some(Path::new("no-such-ca.pem"));
        assert!(missing
            .validate(Path::new("."), &[])
            .err()
            .unwrap()
            .starts_with("ca_file ./no-such-ca.pem:"));
    }
}
