//! How to reach a broker, as written in the config (`BrokerClientConfig`) and as validated
//! (`ClientSettings`), plus the per-connection session settings.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::config::units::ConfigDuration;
use crate::tls::{client_config, TrustRoots};

/// The MQTT protocol version a client speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1.
    V311,
    /// MQTT 5 (default).
    #[default]
    V5,
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Version;
        impl Visitor<'_> for Version {
            type Value = ProtocolVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"3.1.1\" or 5")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ProtocolVersion, E> {
                match value {
                    5 => Ok(ProtocolVersion::V5),
                    _ => Err(E::custom(format!("protocol {value}: write \"3.1.1\" or 5"))),
                }
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<ProtocolVersion, E> {
                Err(E::custom(format!("protocol {value}: write \"3.1.1\" or 5")))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ProtocolVersion, E> {
                match value {
                    "5" | "5.0" => Ok(ProtocolVersion::V5),
                    "3.1.1" => Ok(ProtocolVersion::V311),
                    _ => Err(E::custom(format!(
                        "protocol '{value}': write \"3.1.1\" or 5"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(Version)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolVersion::V311 => "3.1.1",
            ProtocolVersion::V5 => "5",
        })
    }
}

/// How a client reaches a broker (`broker:` of the MQTT frontend in external mode, and the
/// `mqtt:` backend).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BrokerClientConfig {
    /// `mqtt://HOST:PORT` (TCP; default port 1883), `mqtts://HOST:PORT` (TLS; default port
    /// 8883), or `embedded`: the broker polygate's MQTT frontend embeds, wherever it is bound.
    pub url: String,
    /// `"3.1.1"` or `5`. Default 5.
    #[serde(default)]
    pub protocol: Option<ProtocolVersion>,
    /// The user name to connect with. Default none.
    #[serde(default)]
    pub username: Option<String>,
    /// The password (with `username`). Default none.
    #[serde(default)]
    pub password: Option<String>,
    /// A file whose first line is the password, instead of `password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// `mqtts://` only: a PEM file of CA certificates to trust instead of the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// `mqtts://` only: a PEM client certificate chain, to authenticate with a certificate.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// `mqtts://` only: the PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// How often the client pings an idle connection (at least `1s`). Default `30s`.
    #[serde(default)]
    pub keep_alive: Option<ConfigDuration>,
}

/// Where the client connects.
#[derive(Clone)]
pub enum BrokerAddress {
    /// A host and port.
    Remote {
        /// The host name or address.
        host: String,
        /// The port.
        port: u16,
    },
    /// The embedded broker, wherever it is bound.
    Embedded,
}

/// Validated client settings.
#[derive(Clone)]
pub struct ClientSettings {
    /// Where to connect.
    pub address: BrokerAddress,
    /// The protocol version.
    pub protocol: ProtocolVersion,
    /// User name and password.
    pub credentials: Option<(String, String)>,
    /// TLS, for `mqtts://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The keep-alive interval.
    pub keep_alive: Duration,
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("address", &self.describe())
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientSettings {
    /// The broker as logs name it (`mqtt://host:port`, `embedded`).
    pub fn describe(&self) -> String {
        match &self.address {
            BrokerAddress::Remote { host, port } => {
                let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
                format!("{scheme}://{host}:{port}")
            }
            BrokerAddress::Embedded => "the embedded broker".to_owned(),
        }
    }
}

impl BrokerClientConfig {
    /// Checks the settings; relative files are resolved against `base_dir`.
    pub fn validate(&self, base_dir: &Path) -> Result<ClientSettings, String> {
        let (tls, rest) = if self.url == "embedded" {
            (false, None)
        } else if let Some(rest) = self.url.strip_prefix("mqtts://") {
            (true, Some(rest))
        } else if let Some(rest) = self.url.strip_prefix("mqtt://") {
            (false, Some(rest))
        } else {
            return Err(format!(
                "url '{}' must be mqtt://HOST:PORT, mqtts://HOST:PORT or embedded",
                self.url
            ));
        };
        let address = match rest {
            None => BrokerAddress::Embedded,
            Some(rest) => {
                let rest = rest.trim_end_matches('/');
                let (host, port) = match rest.rsplit_once(':') {
                    Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                        let port = port
                            .parse::<u16>()
                            .map_err(|_| format!("url '{}': '{port}' is not a port", self.url))?;
                        (host, port)
                    }
                    _ => (rest, if tls { 8883 } else { 1883 }),
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                if host.is_empty() || host.contains('/') {
                    return Err(format!("url '{}' has no host", self.url));
                }
                BrokerAddress::Remote {
                    host: host.to_owned(),
                    port,
                }
            }
        };
        let password = match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => return Err("give password or password_file, not both".into()),
            (Some(password), None) => Some(password.clone()),
            (None, Some(file)) => {
                let path = base_dir.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("password_file {}: {e}", path.display()))?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            (None, None) => None,
        };
        let credentials = match (&self.username, password) {
            (Some(user), password) => Some((user.clone(), password.unwrap_or_default())),
            (None, Some(_)) => return Err("a password needs a username".into()),
            (None, None) => None,
        };
        let has_tls_files =
            self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some();
        if !tls && has_tls_files {
            return Err("ca_file, cert_file and key_file need an mqtts:// url".into());
        }
        let client_auth = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some((base_dir.join(cert), base_dir.join(key))),
            (None, None) => None,
            _ => return Err("cert_file and key_file go together".into()),
        };
        let tls = if tls {
            let ca = self.ca_file.as_ref().map(|f| base_dir.join(f));
            let trust = TrustRoots::from_ca_file(ca.as_deref());
            Some(Arc::new(client_config(trust, client_auth)?))
        } else {
            None
        };
        let keep_alive = self.keep_alive.map_or(Duration::from_secs(30), |k| k.0);
        if keep_alive < Duration::from_secs(1) || keep_alive > Duration::from_secs(65_535) {
            return Err("keep_alive must be between 1s and 65535s".into());
        }
        Ok(ClientSettings {
            address,
            protocol: self.protocol.unwrap_or_default(),
            credentials,
            tls,
            keep_alive: Duration::from_secs(keep_alive.as_secs()),
        })
    }
}

/// What one connection asks of its session.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// The client id; stable for a persistent session.
    pub client_id: String,
    /// Keep the session across connections: clean start (5) or clean session (3.1.1) off.
    pub persistent: bool,
    /// How long the broker keeps the session after a disconnect (MQTT 5).
    pub session_expiry: Duration,
    /// The most unacknowledged messages the broker may send at once (MQTT 5).
    pub receive_maximum: u16,
    /// Acknowledge received messages only when told.
    pub manual_acks: bool,
    /// The largest packet sent or received.
    pub max_packet_size: usize,
    /// The most unacknowledged messages this client publishes at once.
    pub outgoing_inflight: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> BrokerClientConfig {
        BrokerClientConfig {
            url: url.to_owned(),
            protocol: None,
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            keep_alive: None,
        }
    }

    #[test]
    fn urls_give_host_port_and_transport() {
        let settings = config("mqtt://broker.local")
            .validate(Path::new("."))
            .unwrap();
        assert_eq!(settings.describe(), "mqtt://broker.local:1883");
        let settings = config("mqtt://127.0.0.1:1884")
            .validate(Path::new("."))
            .unwrap();
        assert_eq!(settings.describe(), "mqtt://127.0.0.1:1884");
        assert_eq!(settings.protocol, ProtocolVersion::V5);
        let settings = config("embedded").validate(Path::new(".")).unwrap();
        assert_eq!(settings.describe(), "the embedded broker");
        assert_eq!(
            config("tcp://x").validate(Path::new(".")).unwrap_err(),
            "url 'tcp://x' must be mqtt://HOST:PORT, mqtts://HOST:PORT or embedded"
        );
        assert_eq!(
            config("mqtt://x:port")
                .validate(Path::new("."))
                .unwrap_err(),
            "url 'mqtt://x:port': 'port' is not a port"
        );
    }

    #[test]
    fn credentials_and_tls_files_are_checked() {
        let mut with_password = config("mqtt://x");
        with_password.password = Some("p".into());
        assert_eq!(
            with_password.validate(Path::new(".")).unwrap_err(),
            "a password needs a username"
        );
        let mut plain_with_ca = config("mqtt://x");
        plain_with_ca.ca_file = Some("ca.pem".into());
        assert_eq!(
            plain_with_ca.validate(Path::new(".")).unwrap_err(),
            "ca_file, cert_file and key_file need an mqtts:// url"
        );
    }

    #[test]
    fn protocol_versions_read_as_written() {
        let read = |text: &str| serde_saphyr::from_str::<ProtocolVersion>(text);
        assert_eq!(read("5").unwrap(), ProtocolVersion::V5);
        assert_eq!(read("\"3.1.1\"").unwrap(), ProtocolVersion::V311);
        assert_eq!(read("3.1.1").unwrap(), ProtocolVersion::V311);
        assert!(read("4").is_err());
    }
}
