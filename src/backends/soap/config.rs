//! Configuration of a SOAP backend: endpoint, version, WS-Security, fault mapping and the
//! shared HTTP client's settings; and its validated form.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::security::UsernameToken;
use crate::backends::connection::backend_config;
use crate::backends::http_client::ClientSettings;
use crate::codec::soap::SoapVersion;
use crate::model::{Code, CodeName};

backend_config! {
    http_client;
    /// A SOAP backend as written in the config file: the service endpoint (its `url`), the
    /// shared connection and HTTP client keys, and SOAP's own.
    #[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
    #[serde(deny_unknown_fields)]
    pub struct SoapBackendConfig {
        /// `"1.1"` (default: `text/xml` and `SOAPAction`) or `"1.2"` (`application/soap+xml`).
        #[serde(default)]
        pub version: SoapVersion,
        /// A WS-Security UsernameToken sent in the header of every call.
        #[serde(default)]
        pub ws_security: Option<WsSecurityConfig>,
        /// Fault code → canonical code, e.g. `Server.Busy: UNAVAILABLE` or `InvalidZip: NOT_FOUND`.
        /// A key matches a SOAP 1.1 faultcode's local name (`Server.Busy`, or its part before a
        /// dot, `Server`) or a SOAP 1.2 Subcode or Code value's local name; the most specific
        /// wins. Unmapped Client/Sender faults are `INVALID_ARGUMENT` (400); the others
        /// `UNKNOWN` (502).
        #[serde(default)]
        pub fault_codes: BTreeMap<String, CodeName>,
        /// Copy the fault's reason, actor, role and detail into error answers (default true).
        /// Turn it off for services whose faults carry stack traces.
        #[serde(default)]
        pub expose_faults: Option<bool>,
    }
}

/// WS-Security UsernameToken settings. The password comes from the environment or a file,
/// never from the config itself.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WsSecurityConfig {
    /// The user name.
    pub username: String,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A file holding the password (one line; a trailing newline is ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `text` (default; use over TLS) or `digest` (`Base64(SHA-1(nonce + created + password))`).
    #[serde(default)]
    pub password_type: PasswordType,
    /// Mark the `Security` header `mustUnderstand="1"` (default true).
    #[serde(default)]
    pub must_understand: Option<bool>,
}

/// How the password is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordType {
    /// `#PasswordText`: the password itself.
    #[default]
    Text,
    /// `#PasswordDigest`.
    Digest,
}

/// A validated SOAP backend.
pub struct SoapSettings {
    pub(crate) client: ClientSettings,
    pub(crate) version: SoapVersion,
    pub(crate) security: Option<UsernameToken>,
    pub(crate) fault_codes: BTreeMap<String, Code>,
    pub(crate) expose_faults: bool,
}

impl SoapBackendConfig {
    /// Checks the URL, TLS files and the WS-Security password source; `base_dir` resolves
    /// relative paths.
    pub fn validate(&self, base_dir: &Path) -> Result<SoapSettings, String> {
        let client = ClientSettings::new(self.connection(), self.http_client(), base_dir)?;
        let security = match &self.ws_security {
            Some(config) => Some(config.validate(base_dir)?),
            None => None,
        };
        Ok(SoapSettings {
            client,
            version: self.version,
            security,
            fault_codes: self
                .fault_codes
                .iter()
                .map(|(key, code)| (key.clone(), code.0))
                .collect(),
            expose_faults: self.expose_faults.unwrap_or(true),
        })
    }
}

impl WsSecurityConfig {
    fn validate(&self, base_dir: &Path) -> Result<UsernameToken, String> {
        let password = match (&self.password_env, &self.password_file) {
            (Some(variable), None) => std::env::var(variable).map_err(|_| {
                format!("ws_security.password_env: the environment variable {variable} is not set (or not UTF-8)")
            })?,
            (None, Some(file)) => {
                let path = base_dir.join(file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    format!("ws_security.password_file {}: {e}", path.display())
                })?;
                text.trim_end_matches(['\r', '\n']).to_owned()
            }
            _ => {
                return Err(
                    "ws_security needs exactly one of password_env and password_file".into(),
                )
            }
        };
        if self.username.is_empty() {
            return Err("ws_security.username is empty".into());
        }
        Ok(UsernameToken::new(
            self.username.clone(),
            password,
            self.password_type == PasswordType::Digest,
            self.must_understand.unwrap_or(true),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_versions_codes_and_refuses_unknown_keys() {
        let config: SoapBackendConfig = serde_saphyr::from_str(
            "url: http://127.0.0.1:1/svc\nversion: 1.2\nfault_codes:\n  Server.Busy: unavailable\n  InvalidZip: NOT_FOUND\n",
        )
        .unwrap();
        assert_eq!(config.version, SoapVersion::V12);
        assert_eq!(
            config.fault_codes["Server.Busy"],
            CodeName(Code::Unavailable)
        );
        assert_eq!(config.fault_codes["InvalidZip"], CodeName(Code::NotFound));
        let error = serde_saphyr::from_str::<SoapBackendConfig>("url: x\nfault_codes: {A: NOPE}\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("'NOPE' is not a gRPC code name"), "{error}");
        assert!(serde_saphyr::from_str::<SoapBackendConfig>("url: x\nsoap_action: y\n").is_err());
    }

    #[test]
    fn passwords_come_from_a_file_or_the_environment_only() {
        let dir = std::env::temp_dir().join(format!("polygate-soap-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw.txt"), "geheim\n").unwrap();
        let mut security = WsSecurityConfig {
            username: "svc".into(),
            password_env: None,
            password_file: Some("pw.txt".into()),
            password_type: PasswordType::Text,
            must_understand: None,
        };
        assert_eq!(security.validate(&dir).unwrap().password(), "geheim");
        security.password_env = Some("POLYGATE_TEST_NO_SUCH_VARIABLE".into());
        assert_eq!(
            security.validate(&dir).err().unwrap(),
            "ws_security needs exactly one of password_env and password_file"
        );
        security.password_file = None;
        assert_eq!(
            security.validate(&dir).err().unwrap(),
            "ws_security.password_env: the environment variable POLYGATE_TEST_NO_SUCH_VARIABLE is not set (or not UTF-8)"
        );
    }
}
