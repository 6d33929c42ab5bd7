//! The MQTT frontend: devices publish to topics, routes bind topic templates to the same
//! backends REST routes name, and every message is acknowledged only once its work is done.
//! An MQTT 3.1.1 + 5 broker runs embedded (or polygate bridges an external one); both go
//! through one bridge connection with manual acknowledgements. Delivery state is the pure
//! [`delivery`] ledger, tested without sockets. See docs/mqtt.md.

mod bridge;
mod broker;
mod config;
mod decode;
mod delivery;
mod downlink;
mod encode;
mod handler;
mod server;
mod subscriptions;

pub use config::{
    BrokerMode, EmbeddedBrokerConfig, EmbeddedBrokerSettings, EmbeddedTlsConfig,
    MqttFrontendConfig, MqttFrontendSettings,
};
pub use handler::MqttCounters;
pub use server::MqttServer;
