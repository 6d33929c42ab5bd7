//! Configuration of a gRPC backend, and its validated form.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use serde::Deserialize;

use crate::config::units::{ByteSize, ConfigDuration};
use crate::descriptors::SchemaConfig;

/// A gRPC backend as written in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GrpcBackendConfig {
    /// `http://host:port` for plaintext HTTP/2 (h2c), `https://host:port` for TLS.
    pub url: String,
    /// A PEM file of CA certificates to trust instead of the system roots (`https` only).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name to verify in the server's certificate; default: the URL's host.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// How long connecting (TCP, TLS and HTTP/2 handshakes) may take. Default `5s`.
    #[serde(default)]
    pub connect_timeout: Option<ConfigDuration>,
    /// The largest message accepted from the backend. Default `4MiB`.
    #[serde(default)]
    pub max_message_size: Option<ByteSize>,
    /// Where the backend's service definitions come from.
    #[serde(default)]
    pub schema: SchemaConfig,
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
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|e| format!("url '{}' is not a valid URL: {e}", self.url))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| format!("url '{}' needs http:// or https://", self.url))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("url '{}' has no host", self.url))?;
        if !matches!(uri.path(), "" | "/") {
            return Err(format!("url '{}' must not have a path", self.url));
        }
        let tls = scheme == Scheme::HTTPS;
        if !tls && scheme != Scheme::HTTP {
            return Err(format!("url '{}' needs http:// or https://", self.url));
        }
        if !tls && (self.ca_file.is_some() || self.tls_server_name.is_some()) {
            return Err(format!(
                "ca_file and tls_server_name need an https:// url, not '{}'",
                self.url
            ));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let socket_address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let tls = if tls {
            let server_name = self.tls_server_name.clone().unwrap_or_else(|| host.clone());
            let ca_file = self.ca_file.as_ref().map(|f| base_dir.join(f));
            Some(TlsSettings {
                client_config: Arc::new(client_config(ca_file.as_deref())?),
                server_name,
            })
        } else {
            None
        };
        Ok(GrpcEndpoint {
            scheme,
            authority,
            socket_address,
            tls,
            connect_timeout: self.connect_timeout.map_or(Duration::from_secs(5), |d| d.0),
            max_message_size: self.max_message_size.map_or(4 << 20, |s| s.0 as usize),
        })
    }
}

fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
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
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
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
