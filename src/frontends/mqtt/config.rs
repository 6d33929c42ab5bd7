//! Configuration of the MQTT frontend: the embedded broker (or an external one), and how the
//! bridge reads from it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::units::{ByteSize, ConfigDuration};
use crate::mqtt_client::{BrokerClientConfig, ClientSettings, EmbeddedEndpoint};

/// The `mqtt:` section of the config: exactly one of `embedded:` and `broker:`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MqttFrontendConfig {
    /// Run an MQTT 3.1.1 + 5 broker in polygate's process, which devices connect to.
    #[serde(default)]
    pub embedded: Option<EmbeddedBrokerConfig>,
    /// Or connect to an external broker (Mosquitto, EMQX, HiveMQ, VerneMQ).
    #[serde(default)]
    pub broker: Option<BrokerClientConfig>,
    /// The bridge's client id: stable per instance, so its persistent session (and the
    /// messages queued for it while polygate is down) survive restarts. Default `polygate`.
    /// The publisher connection uses this id with `-pub` appended.
    #[serde(default)]
    pub client_id: Option<String>,
    /// How long the broker keeps the bridge's session (and queues messages for it) after a
    /// disconnect, on MQTT 5. Default `1h`. On 3.1.1 the broker's own setting applies.
    #[serde(default)]
    pub session_expiry: Option<ConfigDuration>,
    /// The most unacknowledged messages the broker may send the bridge at once (MQTT 5
    /// Receive Maximum). Default 64.
    #[serde(default)]
    pub receive_maximum: Option<u16>,
    /// The most messages worked on at once (backend calls, retries, replies); reading from
    /// the broker stops while they are all busy. Default: `receive_maximum`.
    #[serde(default)]
    pub max_in_flight: Option<u16>,
    /// The largest payload a route accepts; larger ones get a code-3 error. Default `256KiB`.
    #[serde(default)]
    pub max_payload_size: Option<ByteSize>,
    /// The largest MQTT packet the bridge sends or receives. Default `1MiB`.
    #[serde(default)]
    pub max_packet_size: Option<ByteSize>,
    /// The first wait before reconnecting to the broker; doubled per failure. Default `100ms`.
    #[serde(default)]
    pub reconnect_initial_backoff: Option<ConfigDuration>,
    /// The longest wait before reconnecting. Default `10s`.
    #[serde(default)]
    pub reconnect_max_backoff: Option<ConfigDuration>,
    /// How long a reply, error or dead letter may wait for the broker's acknowledgement
    /// before it is published again. Default `10s`.
    #[serde(default)]
    pub publish_timeout: Option<ConfigDuration>,
    /// How long shutdown waits for messages under way before leaving them unacknowledged
    /// (the broker delivers them again). Default `10s`.
    #[serde(default)]
    pub drain_timeout: Option<ConfigDuration>,
}

/// `embedded:` — the broker polygate runs.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedBrokerConfig {
    /// The one address to listen on for MQTT over TCP, e.g. `127.0.0.1:1883` (port 0 picks a
    /// free port; the bound address is logged).
    pub listen: String,
    /// Where sessions, subscriptions and queued messages are kept across restarts. Required
    /// unless `persistence: false`; relative to the config file's directory.
    #[serde(default)]
    pub storage_dir: Option<PathBuf>,
    /// Keep sessions and queued messages on disk. Default true.
    #[serde(default)]
    pub persistence: Option<bool>,
    /// The largest packet a device may send. Default `1MiB`.
    #[serde(default)]
    pub max_packet_size: Option<ByteSize>,
    /// The most devices connected at once. Default 100000.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// The most messages queued per offline session. Default 10000.
    #[serde(default)]
    pub max_queued_messages: Option<usize>,
    /// Accept devices that give no user name. Default false.
    #[serde(default)]
    pub allow_anonymous: Option<bool>,
    /// Devices' user names and passwords (a value `${NAME}` reads the environment).
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// A file of `user:password` lines (blank lines and `#` comments skipped), besides
    /// `users`.
    #[serde(default)]
    pub users_file: Option<PathBuf>,
    /// Accept a JWT as the CONNECT password, verified like a bearer token by `policies.jwt`
    /// (keys, issuers, audiences, `exp` with the leeway); the token's `sub` is the identity
    /// the ACLs use, and a user name, when given, must equal it. Default false.
    #[serde(default)]
    pub jwt_passwords: Option<bool>,
    /// MQTT over TLS on a second address.
    #[serde(default)]
    pub tls: Option<EmbeddedTlsConfig>,
    /// Topic ACLs by user name: `{dev-1: {publish: [devices/{user}/#], subscribe: [...]}}`;
    /// `*` for users not listed and anonymous clients. Default none: every client may
    /// publish and subscribe anywhere (docs/security.md).
    #[serde(default)]
    pub acl: BTreeMap<String, crate::policy::topic_acl::TopicAclConfig>,
}

/// `embedded.tls:` — MQTT over TLS.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedTlsConfig {
    /// The address to listen on, e.g. `0.0.0.0:8883`.
    pub listen: String,
    /// The PEM certificate chain.
    pub cert_file: PathBuf,
    /// The PEM private key.
    pub key_file: PathBuf,
    /// Require client certificates signed by this PEM CA. Default: none required.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// The validated embedded broker settings.
#[derive(Debug, Clone)]
pub struct EmbeddedBrokerSettings {
    /// The TCP address.
    pub listen: SocketAddr,
    /// The storage directory, when persistent.
    pub storage_dir: Option<PathBuf>,
    /// The packet size limit.
    pub max_packet_size: usize,
    /// The connection limit.
    pub max_connections: usize,
    /// The per-session queue limit.
    pub max_queued_messages: usize,
    /// Whether devices may connect without a user name.
    pub allow_anonymous: bool,
    /// User name → password.
    pub users: BTreeMap<String, String>,
    /// Whether a CONNECT password may be a JWT (verified by `policies.jwt`).
    pub jwt_passwords: bool,
    /// TLS: address, certificate, key, client CA.
    pub tls: Option<(SocketAddr, PathBuf, PathBuf, Option<PathBuf>)>,
    /// Who may publish and subscribe where.
    pub acl: crate::policy::topic_acl::TopicAcl,
}

/// Where the bridge's messages come from.
#[derive(Debug, Clone)]
pub enum BrokerMode {
    /// The embedded broker.
    Embedded(Box<EmbeddedBrokerSettings>),
    /// An external broker.
    External(ClientSettings),
}

/// The validated MQTT frontend settings.
#[derive(Debug, Clone)]
pub struct MqttFrontendSettings {
    /// Embedded or external broker.
    pub mode: BrokerMode,
    /// The bridge's client id.
    pub client_id: String,
    /// The session expiry.
    pub session_expiry: Duration,
    /// The Receive Maximum.
    pub receive_maximum: u16,
    /// Messages worked on at once.
    pub max_in_flight: u16,
    /// The payload limit.
    pub max_payload_size: usize,
    /// The bridge's packet limit.
    pub max_packet_size: usize,
    /// The first reconnect wait.
    pub reconnect_initial_backoff: Duration,
    /// The longest reconnect wait.
    pub reconnect_max_backoff: Duration,
    /// How long a publish waits for the broker.
    pub publish_timeout: Duration,
    /// How long shutdown waits.
    pub drain_timeout: Duration,
    /// Where the embedded broker is, for polygate's clients (set when it binds).
    pub endpoint: EmbeddedEndpoint,
}

impl MqttFrontendConfig {
    /// Checks the settings once; relative paths are resolved against `base_dir`.
    pub fn validate(
        &self,
        base_dir: &Path,
        endpoint: &EmbeddedEndpoint,
    ) -> Result<MqttFrontendSettings, String> {
        let mode = match (&self.embedded, &self.broker) {
            (Some(embedded), None) => BrokerMode::Embedded(Box::new(embedded.validate(base_dir)?)),
            (None, Some(broker)) => {
                let settings = broker
                    .validate(base_dir)
                    .map_err(|e| format!("broker: {e}"))?;
                if matches!(
                    settings.address,
                    crate::mqtt_client::BrokerAddress::Embedded
                ) {
                    return Err("broker: url embedded is for backends; here write embedded: instead of broker:".into());
                }
                BrokerMode::External(settings)
            }
            (Some(_), Some(_)) => return Err("give embedded: or broker:, not both".into()),
            (None, None) => {
                return Err("needs embedded: (run a broker) or broker: (connect to one)".into())
            }
        };
        let client_id = self
            .client_id
            .clone()
            .unwrap_or_else(|| "polygate".to_owned());
        if client_id.is_empty()
            || client_id.len() > 64
            || client_id.starts_with(' ')
            || client_id.contains(['/', '+', '#'])
        {
            return Err(format!(
                "client_id '{client_id}' must be 1 to 64 characters without '/', '+', '#' or a leading space"
            ));
        }
        let receive_maximum = self.receive_maximum.unwrap_or(64);
        if receive_maximum == 0 {
            return Err("receive_maximum must be at least 1".into());
        }
        let max_in_flight = self.max_in_flight.unwrap_or(receive_maximum);
        if max_in_flight == 0 {
            return Err("max_in_flight must be at least 1".into());
        }
        let max_payload_size = self.max_payload_size.map_or(256 << 10, |s| s.0 as usize);
        let max_packet_size = self.max_packet_size.map_or(1 << 20, |s| s.0 as usize);
        if max_packet_size <= max_payload_size {
            return Err("max_packet_size must exceed max_payload_size (a packet holds the payload and its topic)".into());
        }
        let duration =
            |value: Option<ConfigDuration>, default: Duration| value.map_or(default, |d| d.0);
        let reconnect_initial_backoff =
            duration(self.reconnect_initial_backoff, Duration::from_millis(100));
        let reconnect_max_backoff = duration(self.reconnect_max_backoff, Duration::from_secs(10));
        if reconnect_max_backoff < reconnect_initial_backoff {
            return Err("reconnect_max_backoff is shorter than reconnect_initial_backoff".into());
        }
        let session_expiry = duration(self.session_expiry, Duration::from_secs(3600));
        if session_expiry.is_zero() {
            return Err("session_expiry must be above 0: a session that ends with the connection loses the messages queued while polygate is down".into());
        }
        Ok(MqttFrontendSettings {
            mode,
            client_id,
            session_expiry,
            receive_maximum,
            max_in_flight,
            max_payload_size,
            max_packet_size,
            reconnect_initial_backoff,
            reconnect_max_backoff,
            publish_timeout: duration(self.publish_timeout, Duration::from_secs(10)),
            drain_timeout: duration(self.drain_timeout, Duration::from_secs(10)),
            endpoint: endpoint.clone(),
        })
    }
}

impl EmbeddedBrokerConfig {
    fn validate(&self, base_dir: &Path) -> Result<EmbeddedBrokerSettings, String> {
        let address = |text: &str, key: &str| -> Result<SocketAddr, String> {
            text.parse().map_err(|_| {
                format!("embedded.{key} '{text}' is not an address such as 127.0.0.1:1883")
            })
        };
        let listen = address(&self.listen, "listen")?;
        let storage_dir = match (self.persistence.unwrap_or(true), &self.storage_dir) {
            (true, Some(dir)) => Some(base_dir.join(dir)),
            (true, None) => {
                return Err("embedded.storage_dir is required (or persistence: false): sessions and queued messages are kept there".into())
            }
            (false, _) => None,
        };
        let mut users = BTreeMap::new();
        if let Some(file) = &self.users_file {
            let path = base_dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("embedded.users_file {}: {e}", path.display()))?;
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (user, password) = line.split_once(':').ok_or_else(|| {
                    format!(
                        "embedded.users_file {}:{}: write user:password",
                        path.display(),
                        number + 1
                    )
                })?;
                users.insert(user.to_owned(), password.to_owned());
            }
        }
        for (user, password) in &self.users {
            let password = match password
                .strip_prefix("${")
                .and_then(|p| p.strip_suffix('}'))
            {
                Some(name) => std::env::var(name).map_err(|_| {
                    format!("embedded.users.{user}: the environment variable {name} is not set")
                })?,
                None => password.clone(),
            };
            users.insert(user.clone(), password);
        }
        let allow_anonymous = self.allow_anonymous.unwrap_or(false);
        let jwt_passwords = self.jwt_passwords.unwrap_or(false);
        if !allow_anonymous && !jwt_passwords && users.is_empty() {
            return Err("embedded: no device could connect; give users, users_file, jwt_passwords: true or allow_anonymous: true".into());
        }
        let tls = match &self.tls {
            None => None,
            Some(tls) => Some((
                address(&tls.listen, "tls.listen")?,
                base_dir.join(&tls.cert_file),
                base_dir.join(&tls.key_file),
                tls.client_ca_file.as_ref().map(|f| base_dir.join(f)),
            )),
        };
        Ok(EmbeddedBrokerSettings {
            listen,
            storage_dir,
            max_packet_size: self.max_packet_size.map_or(1 << 20, |s| s.0 as usize),
            max_connections: self.max_connections.unwrap_or(100_000),
            max_queued_messages: self.max_queued_messages.unwrap_or(10_000),
            allow_anonymous,
            users,
            jwt_passwords,
            tls,
            acl: crate::policy::topic_acl::TopicAcl::build(&self.acl)
                .map_err(|e| format!("embedded.{e}"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<MqttFrontendSettings, String> {
        let config: MqttFrontendConfig = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        config.validate(Path::new("/base"), &EmbeddedEndpoint::new())
    }

    #[test]
    fn an_embedded_broker_needs_storage_and_a_way_in() {
        let settings = read(
            "embedded:\n  listen: 127.0.0.1:0\n  storage_dir: data\n  allow_anonymous: true\n",
        )
        .unwrap();
        let BrokerMode::Embedded(broker) = settings.mode else {
            panic!("embedded")
        };
        assert_eq!(broker.storage_dir, Some(PathBuf::from("/base/data")));
        assert_eq!(broker.max_packet_size, 1 << 20);
        assert_eq!(settings.client_id, "polygate");
        assert_eq!(settings.receive_maximum, 64);
        assert_eq!(settings.max_in_flight, 64);
        assert_eq!(
            read("embedded:\n  listen: 127.0.0.1:0\n  allow_anonymous: true\n").unwrap_err(),
            "embedded.storage_dir is required (or persistence: false): sessions and queued messages are kept there"
        );
        assert_eq!(
            read("embedded:\n  listen: 127.0.0.1:0\n  persistence: false\n").unwrap_err(),
            "embedded: no device could connect; give users, users_file, jwt_passwords: true or allow_anonymous: true"
        );
        assert_eq!(
            read("embedded:\n  listen: localhost\n  persistence: false\n  allow_anonymous: true\n")
                .unwrap_err(),
            "embedded.listen 'localhost' is not an address such as 127.0.0.1:1883"
        );
    }

    #[test]
    fn one_broker_source_and_sane_limits() {
        assert_eq!(
            read("client_id: x\n").unwrap_err(),
            "needs embedded: (run a broker) or broker: (connect to one)"
        );
        let external = read("broker:\n  url: mqtt://127.0.0.1:1883\n  protocol: \"3.1.1\"\nclient_id: pg-a\nreceive_maximum: 8\n").unwrap();
        assert!(matches!(external.mode, BrokerMode::External(_)));
        assert_eq!(external.max_in_flight, 8);
        assert_eq!(
            read("broker:\n  url: mqtt://h\nclient_id: a/b\n").unwrap_err(),
            "client_id 'a/b' must be 1 to 64 characters without '/', '+', '#' or a leading space"
        );
        assert!(read("broker:\n  url: mqtt://h\nunknown: 1\n").is_err());
    }
}
