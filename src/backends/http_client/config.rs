//! Settings of the shared HTTP client: the upstream URL, TLS, timeouts, pool and size limits,
//! validated once from the keys every HTTP-based backend config shares
//! (`backends::connection`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use serde::Deserialize;

use crate::backends::connection::{
    backend_config, tls_config, ConnectionFields, HttpClientFields, TrustRoots,
    DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE,
};

backend_config! {
    http_client;
    /// A plain-XML or REST backend as written in the config file: where it is (its base URL;
    /// route paths are appended to it) and how to reach it.
    #[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
    #[serde(deny_unknown_fields)]
    pub struct HttpBackendConfig {}
}

impl HttpBackendConfig {
    /// Checks the URL and TLS files; `base_dir` resolves a relative `ca_file`.
    pub fn validate(&self, base_dir: &Path) -> Result<ClientSettings, String> {
        ClientSettings::new(self.connection(), self.http_client(), base_dir)
    }
}

/// Validated client settings for one backend.
#[derive(Clone)]
pub struct ClientSettings {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// The URL's path without a trailing `/` (may be empty).
    pub(crate) base_path: String,
    /// The URL's query, if any (used when a call adds no path of its own).
    pub(crate) base_query: Option<String>,
    /// The TLS client config (for `http://` URLs one that trusts nothing and is never used).
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) tls_server_name: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) max_response_size: usize,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) pool_max_idle_per_host: usize,
    pub(crate) http2: bool,
}

impl ClientSettings {
    /// Checks the shared connection and HTTP client keys; `base_dir` resolves a relative
    /// `ca_file`.
    pub(crate) fn new(
        connection: ConnectionFields<'_>,
        client: HttpClientFields,
        base_dir: &Path,
    ) -> Result<Self, String> {
        let tls_server_name = connection.tls_server_name.map(str::to_owned);
        // ALPN is left to the connector, which offers `h2` and `http/1.1`.
        let connection = connection.validate(base_dir, &[])?;
        let max_response_size = client
            .max_response_size
            .map_or(DEFAULT_MAX_RESPONSE_SIZE, |s| s.0);
        let max_response_size = usize::try_from(max_response_size)
            .map_err(|_| format!("max_response_size {max_response_size} is too large"))?;
        if max_response_size == 0 {
            return Err("max_response_size must be at least 1 byte".into());
        }
        let tls = match &connection.tls {
            Some((config, _)) => config.clone(),
            // The connector needs a config even for `http://`; it never uses it.
            None => Arc::new(tls_config(TrustRoots::Nothing)?),
        };
        Ok(ClientSettings {
            base_path: connection.uri.path().trim_end_matches('/').to_owned(),
            base_query: connection.uri.query().map(str::to_owned),
            scheme: connection.scheme,
            authority: connection.authority,
            tls,
            tls_server_name,
            connect_timeout: connection.connect_timeout,
            request_timeout: client.request_timeout.map(|d| d.0),
            max_response_size,
            pool_idle_timeout: client
                .pool_idle_timeout
                .map_or(DEFAULT_POOL_IDLE_TIMEOUT, |d| d.0),
            pool_max_idle_per_host: client
                .pool_max_idle_per_host
                .unwrap_or(DEFAULT_POOL_MAX_IDLE),
            http2: client.http2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> Result<ClientSettings, String> {
        HttpBackendConfig {
            url: url.to_owned(),
            ca_file: None,
            tls_server_name: None,
            connect_timeout: None,
            endpoints: Vec::new(),
            resilience: None,
            request_timeout: None,
            max_response_size: None,
            pool_idle_timeout: None,
            pool_max_idle_per_host: None,
            http2: false,
        }
        .validate(Path::new("."))
    }

    #[test]
    fn urls_keep_their_path_and_query_and_defaults_apply() {
        let settings = settings("http://127.0.0.1:8080/soap/Orders.asmx/?wsdl").unwrap();
        assert_eq!(settings.authority.as_str(), "127.0.0.1:8080");
        assert_eq!(settings.base_path, "/soap/Orders.asmx");
        assert_eq!(settings.base_query.as_deref(), Some("wsdl"));
        assert_eq!(settings.connect_timeout, Duration::from_secs(5));
        assert_eq!(settings.max_response_size, 4 << 20);
        assert_eq!(settings.pool_max_idle_per_host, 32);
        assert_eq!(settings.pool_idle_timeout, Duration::from_secs(90));
    }
}
