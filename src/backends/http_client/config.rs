//! Settings of the shared HTTP client: the upstream URL, TLS, timeouts, pool and size limits,
//! validated once from the fields every HTTP-based backend config has.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use serde::Deserialize;

use crate::config::units::{ByteSize, ConfigDuration};

/// Default for `connect_timeout`.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default for `max_response_size`.
pub(crate) const DEFAULT_MAX_RESPONSE_SIZE: u64 = 4 << 20;
/// Default for `pool_idle_timeout`.
pub(crate) const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Default for `pool_max_idle_per_host`.
pub(crate) const DEFAULT_POOL_MAX_IDLE: usize = 32;

/// A plain-XML or REST backend as written in the config file: where it is and how to reach it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpBackendConfig {
    /// The base URL, `http://host:port/base` or `https://…`; route paths are appended to it.
    pub url: String,
    /// A PEM file of CA certificates to trust instead of the system roots (`https` only).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name to verify in the server's certificate; default: the URL's host.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// How long connecting (TCP and TLS) may take. Default `5s`.
    #[serde(default)]
    pub connect_timeout: Option<ConfigDuration>,
    /// Longest time for one call, capping the route's timeout. Default: the route's timeout.
    #[serde(default)]
    pub request_timeout: Option<ConfigDuration>,
    /// Largest answer accepted. Default `4MiB`.
    #[serde(default)]
    pub max_response_size: Option<ByteSize>,
    /// How long an idle pooled connection is kept. Default `90s`.
    #[serde(default)]
    pub pool_idle_timeout: Option<ConfigDuration>,
    /// Most idle connections kept. Default 32.
    #[serde(default)]
    pub pool_max_idle_per_host: Option<usize>,
    /// Speak HTTP/2 without negotiation (h2c prior knowledge); over `https` ALPN decides
    /// otherwise. Default false.
    #[serde(default)]
    pub http2: bool,
}

impl HttpBackendConfig {
    /// Checks the URL and TLS files; `base_dir` resolves a relative `ca_file`.
    pub fn validate(&self, base_dir: &Path) -> Result<ClientSettings, String> {
        ClientFields {
            url: &self.url,
            ca_file: self.ca_file.as_deref(),
            tls_server_name: self.tls_server_name.as_deref(),
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_response_size: self.max_response_size,
            pool_idle_timeout: self.pool_idle_timeout,
            pool_max_idle_per_host: self.pool_max_idle_per_host,
            http2: self.http2,
        }
        .validate(base_dir)
    }
}

/// The HTTP client fields of a SOAP, plain-XML or REST backend config, borrowed for validation.
pub(crate) struct ClientFields<'a> {
    pub(crate) url: &'a str,
    pub(crate) ca_file: Option<&'a Path>,
    pub(crate) tls_server_name: Option<&'a str>,
    pub(crate) connect_timeout: Option<ConfigDuration>,
    pub(crate) request_timeout: Option<ConfigDuration>,
    pub(crate) max_response_size: Option<ByteSize>,
    pub(crate) pool_idle_timeout: Option<ConfigDuration>,
    pub(crate) pool_max_idle_per_host: Option<usize>,
    pub(crate) http2: bool,
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

impl ClientFields<'_> {
    /// Checks the URL and TLS files; `base_dir` resolves a relative `ca_file`.
    pub(crate) fn validate(&self, base_dir: &Path) -> Result<ClientSettings, String> {
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
        let max_response_size = self
            .max_response_size
            .map_or(DEFAULT_MAX_RESPONSE_SIZE, |s| s.0);
        let max_response_size = usize::try_from(max_response_size)
            .map_err(|_| format!("max_response_size {max_response_size} is too large"))?;
        if max_response_size == 0 {
            return Err("max_response_size must be at least 1 byte".into());
        }
        let tls = if tls {
            let ca_file = self.ca_file.map(|f| base_dir.join(f));
            tls_config(TrustRoots::from_ca_file(ca_file.as_deref()))?
        } else {
            tls_config(TrustRoots::Nothing)?
        };
        Ok(ClientSettings {
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            base_query: uri.query().map(str::to_owned),
            tls: Arc::new(tls),
            tls_server_name: self.tls_server_name.map(str::to_owned),
            connect_timeout: self
                .connect_timeout
                .map_or(DEFAULT_CONNECT_TIMEOUT, |d| d.0),
            request_timeout: self.request_timeout.map(|d| d.0),
            max_response_size,
            pool_idle_timeout: self
                .pool_idle_timeout
                .map_or(DEFAULT_POOL_IDLE_TIMEOUT, |d| d.0),
            pool_max_idle_per_host: self.pool_max_idle_per_host.unwrap_or(DEFAULT_POOL_MAX_IDLE),
            http2: self.http2,
        })
    }
}

/// Which certificates a TLS config trusts.
enum TrustRoots<'a> {
    /// The CAs in a PEM file.
    CaFile(&'a Path),
    /// The system's roots.
    System,
    /// None (for `http://` backends, which never use TLS).
    Nothing,
}

impl<'a> TrustRoots<'a> {
    fn from_ca_file(ca_file: Option<&'a Path>) -> Self {
        ca_file.map_or(TrustRoots::System, TrustRoots::CaFile)
    }
}

/// A rustls client config (ring) with the given roots. ALPN is left to the connector, which
/// offers `h2` and `http/1.1`.
fn tls_config(trust: TrustRoots<'_>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        TrustRoots::Nothing => {}
        TrustRoots::CaFile(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("ca_file {} holds no certificate", path.display()));
            }
        }
        TrustRoots::System => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system certificate rustls cannot parse is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(url: &str) -> ClientFields<'_> {
        ClientFields {
            url,
            ca_file: None,
            tls_server_name: None,
            connect_timeout: None,
            request_timeout: None,
            max_response_size: None,
            pool_idle_timeout: None,
            pool_max_idle_per_host: None,
            http2: false,
        }
    }

    #[test]
    fn urls_keep_their_path_and_query_and_defaults_apply() {
        let settings = fields("http://127.0.0.1:8080/soap/Orders.asmx/?wsdl")
            .validate(Path::new("."))
            .unwrap();
        assert_eq!(settings.authority.as_str(), "127.0.0.1:8080");
        assert_eq!(settings.base_path, "/soap/Orders.asmx");
        assert_eq!(settings.base_query.as_deref(), Some("wsdl"));
        assert_eq!(settings.connect_timeout, Duration::from_secs(5));
        assert_eq!(settings.max_response_size, 4 << 20);
    }

    #[test]
    fn bad_urls_and_tls_options_are_refused_with_the_reason() {
        let error = |url: &str| fields(url).validate(Path::new(".")).err().unwrap();
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
            plain.validate(Path::new(".")).err().unwrap(),
            "ca_file and tls_server_name need an https:// url, not 'http://x:1'"
        );
        let mut missing = fields("https://x:1");
        missing.ca_file = Some(Path::new("no-such-ca.pem"));
        assert!(missing
            .validate(Path::new("."))
            .err()
            .unwrap()
            .starts_with("ca_file ./no-such-ca.pem:"));
    }
}
