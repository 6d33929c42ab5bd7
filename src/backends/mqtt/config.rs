//! Configuration of an MQTT backend.

use std::path::Path;

use serde::Deserialize;

use crate::config::units::ByteSize;
use crate::mqtt_client::{BrokerClientConfig, ClientSettings};

/// `mqtt:` under `backends:`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MqttBackendConfig {
    /// The broker: `url: mqtt://HOST:PORT`, `mqtts://…`, or `embedded` (the MQTT frontend's
    /// broker), with credentials and TLS files as for the frontend's `broker:`.
    pub broker: BrokerClientConfig,
    /// The client id of the backend's connection (a clean session). Default
    /// `polygate-<backend name>`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The QoS messages are published with; a call answers once the broker acknowledged it
    /// at this QoS (0: once written). Default 1.
    #[serde(default)]
    pub qos: Option<u8>,
    /// Publish as the topic's retained message. Default false.
    #[serde(default)]
    pub retain: Option<bool>,
    /// The most messages awaiting the broker's acknowledgement at once. Default 64.
    #[serde(default)]
    pub max_in_flight: Option<u16>,
    /// The largest packet sent. Default `1MiB`.
    #[serde(default)]
    pub max_packet_size: Option<ByteSize>,
}

/// Validated MQTT backend settings.
#[derive(Debug, Clone)]
pub struct MqttBackendSettings {
    /// The broker connection.
    pub broker: ClientSettings,
    /// The client id, when given.
    pub client_id: Option<String>,
    /// The QoS.
    pub qos: u8,
    /// Retain.
    pub retain: bool,
    /// Messages in flight.
    pub max_in_flight: u16,
    /// The packet limit.
    pub max_packet_size: usize,
}

impl MqttBackendConfig {
    /// Checks the settings; relative files are resolved against `base_dir`.
    pub fn validate(&self, base_dir: &Path) -> Result<MqttBackendSettings, String> {
        let qos = self.qos.unwrap_or(1);
        if qos > 2 {
            return Err(format!("qos must be 0, 1 or 2, not {qos}"));
        }
        if let Some(id) = &self.client_id {
            if id.is_empty() || id.starts_with(' ') {
                return Err(format!(
                    "client_id '{id}' must not be empty or start with a space"
                ));
            }
        }
        Ok(MqttBackendSettings {
            broker: self
                .broker
                .validate(base_dir)
                .map_err(|e| format!("broker: {e}"))?,
            client_id: self.client_id.clone(),
            qos,
            retain: self.retain.unwrap_or(false),
            max_in_flight: self.max_in_flight.unwrap_or(64).max(1),
            max_packet_size: self.max_packet_size.map_or(1 << 20, |s| s.0 as usize),
        })
    }
}
