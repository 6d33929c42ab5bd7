//! The MQTT client connection that the MQTT frontend (its bridge to the broker) and the MQTT
//! backend (REST → MQTT publish) share: one rumqttc connection, MQTT 3.1.1 or 5, TCP or TLS,
//! seen through one event type, and a publisher that answers once the broker accepted a
//! message at its QoS.
//!
//! It names neither frontends nor backends, so both may use it.

use std::time::Duration;

mod config;
mod endpoint;
mod link;
mod publisher;

pub use config::{
    BrokerAddress, BrokerClientConfig, ClientSettings, ProtocolVersion, SessionSettings,
};
pub use endpoint::{EmbeddedAccess, EmbeddedEndpoint};
pub use link::{
    InboundMessage, Link, LinkError, LinkEvent, LinkHandle, MessageProperties, OutboundMessage,
};
pub use publisher::{PublishError, Publisher};

/// How long each step of closing a connection may wait (the DISCONNECT queued and written, the
/// connection's task ended) before shutdown goes on without it; a connection cut short is lost
/// to the broker, and a persistent session stays.
pub const CLOSE: Duration = Duration::from_secs(2);
