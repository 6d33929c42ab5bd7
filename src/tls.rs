//! TLS client settings shared by every outgoing connection (backends, MQTT clients): which roots
//! are trusted, an optional client certificate, and ring as the one crypto provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Which certificates a TLS config trusts.
pub(crate) enum TrustRoots<'a> {
    /// The CAs in a PEM file.
    CaFile(&'a Path),
    /// The system's roots.
    System,
    /// None (for a connector that must exist but never speaks TLS).
    Nothing,
}

impl<'a> TrustRoots<'a> {
    /// The CAs of `ca_file` when given, else the system's.
    pub(crate) fn from_ca_file(ca_file: Option<&'a Path>) -> Self {
        ca_file.map_or(TrustRoots::System, TrustRoots::CaFile)
    }
}

/// A rustls client config (ring) trusting `trust`, presenting `client_auth` (certificate chain
/// file, private key file, both PEM) when given; no ALPN.
pub(crate) fn client_config(
    trust: TrustRoots<'_>,
    client_auth: Option<(PathBuf, PathBuf)>,
) -> Result<rustls::ClientConfig, String> {
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
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots);
    match client_auth {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_file, key_file)) => {
            let chain = CertificateDer::pem_file_iter(&cert_file)
                .map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
            let key = PrivateKeyDer::from_pem_file(&key_file)
                .map_err(|e| format!("key_file {}: {e}", key_file.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("cert_file/key_file: {e}"))
        }
    }
}
