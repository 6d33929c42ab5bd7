//! The MQTT backend: a route with `publish: {topic: …}` publishes the request's body to the
//! broker (an external one, or the embedded broker of the MQTT frontend) and answers only
//! once the broker took the message over at the backend's QoS; 503 when it cannot be reached.

mod config;
mod service;

pub use config::{MqttBackendConfig, MqttBackendSettings};
pub use service::MqttBackend;
