//! The MQTT client connection that the MQTT frontend (its bridge to the broker) and the MQTT
//! backend (REST → MQTT publish) share: one rumqttc connection, MQTT 3.1.1 or 5, TCP or TLS,
//! seen through one event type, and a publisher that answers once the broker accepted a
//! message at its QoS.
//!
//! It names neither frontends nor backends, so both may use it.

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
