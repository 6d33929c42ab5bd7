//! The rustls client configuration of `mqtts://` connections: trusted roots (a CA file or
//! the system's) and an optional client certificate, with ring as the provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A client config trusting `ca_file` (or the system roots) and presenting `client_auth`
/// (certificate chain file, key file) when given.
pub(super) fn client_config(
    ca_file: Option<&Path>,
    client_auth: Option<(PathBuf, PathBuf)>,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?
            {
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
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system root rustls cannot parse is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
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
