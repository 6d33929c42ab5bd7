//! Settings of the shared HTTP client: the upstream URL, TLS, timeouts, pool and size limits,
//! validated once from the keys every HTTP-based backend config shares
//! (`backends::connection`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::HeaderName;

use serde::Deserialize;

use crate::backends::connection::{
    backend_config, tls_config, ConnectionFields, HttpClientFields, TrustRoots,
    DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_POOL_IDLE_TIMEOUT, DEFAULT_POOL_MAX_IDLE,
};
use crate::model::HOP_BY_HOP;

backend_config! {
    http_client;
    /// A plain-XML or REST backend as written in the config file: where it is (its base URL;
    /// route paths are appended to it) and how to reach it.
    #[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
    #[serde(deny_unknown_fields)]
    pub struct HttpBackendConfig {
        /// Pass the backend's answer on as it was sent (its status, its error body when it is
        /// JSON or XML, the `response_headers`) instead of folding it into the canonical shape.
        /// Default true; a route's `pass_through` overrides it.
        #[serde(default)]
        pub pass_through: Option<bool>,
        /// Response headers passed back besides the default list (`Location`, `Retry-After`,
        /// `WWW-Authenticate`, `Content-Language`, `ETag`, `Last-Modified`, `Cache-Control`,
        /// `Link`), e.g. `[X-Total-Count]`.
        #[serde(default)]
        pub response_headers: Vec<String>,
    }
}

impl HttpBackendConfig {
    /// Checks the URL, TLS files and header names; `base_dir` resolves a relative `ca_file`.
    pub fn validate(&self, base_dir: &Path) -> Result<ClientSettings, String> {
        let mut settings = ClientSettings::new(self.connection(), self.http_client(), base_dir)?;
        settings.pass_through = self.pass_through.unwrap_or(true);
        for name in &self.response_headers {
            let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("response_headers: '{name}' is not a header name"))?;
            if never_passed(header.as_str()) {
                return Err(format!(
                    "response_headers: '{name}' is a hop-by-hop or framing header, which the gateway never passes back"
                ));
            }
            if !settings.response_headers.contains(&header) {
                settings.response_headers.push(header);
            }
        }
        Ok(settings)
    }
}

/// The response headers passed back by default.
pub(crate) const DEFAULT_RESPONSE_HEADERS: [&str; 8] = [
    "location",
    "retry-after",
    "www-authenticate",
    "content-language",
    "etag",
    "last-modified",
    "cache-control",
    "link",
];

/// Headers that belong to one connection or to the message's framing: never passed on.
fn never_passed(name: &str) -> bool {
    HOP_BY_HOP.contains(&name) || name == "content-length" || name == "content-type"
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
    /// The backend's default for passing answers on as they were sent.
    pub(crate) pass_through: bool,
    /// Response headers passed back.
    pub(crate) response_headers: Vec<HeaderName>,
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
            pass_through: true,
            response_headers: DEFAULT_RESPONSE_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect(),
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
            pass_through: None,
            response_headers: vec!["X-Total-Count".into()],
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
