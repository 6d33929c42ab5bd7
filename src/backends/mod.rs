//! Backends: clients that turn a bound call into a protocol request and answer with a
//! `GatewayResponse` or a `Status`. Register a new protocol with one variant of
//! [`BackendConfig`] and one arm in [`build`].

pub mod connection;
mod deadline;
pub mod grpc;
pub mod http_client;
pub mod mqtt;
pub mod rest;
pub mod soap;
pub mod xml;

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::descriptors::SchemaConfig;
use crate::model::{Backend, BackendKind};
use crate::mqtt_client::EmbeddedEndpoint;

/// One backend in the config file, keyed by its protocol: `grpc: {…}`, `soap: {…}`, …
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum BackendConfig {
    /// A gRPC server.
    Grpc(grpc::GrpcBackendConfig),
    /// A SOAP 1.1 or 1.2 service.
    Soap(soap::SoapBackendConfig),
    /// A plain-XML service over HTTP.
    Xml(http_client::HttpBackendConfig),
    /// A REST/JSON service.
    Rest(http_client::HttpBackendConfig),
    /// An MQTT broker that routes publish to.
    Mqtt(mqtt::MqttBackendConfig),
}

impl BackendConfig {
    /// Where the backend's schema comes from, for backends described by protobuf descriptors.
    pub fn schema(&self) -> Option<&SchemaConfig> {
        match self {
            BackendConfig::Grpc(grpc) => Some(&grpc.schema),
            BackendConfig::Soap(_)
            | BackendConfig::Xml(_)
            | BackendConfig::Rest(_)
            | BackendConfig::Mqtt(_) => None,
        }
    }

    /// The URL the backend is reached at (`embedded` for the MQTT frontend's own broker).
    pub fn url(&self) -> &str {
        match self {
            BackendConfig::Grpc(grpc) => &grpc.url,
            BackendConfig::Soap(soap) => &soap.url,
            BackendConfig::Xml(http) | BackendConfig::Rest(http) => &http.url,
            BackendConfig::Mqtt(mqtt) => &mqtt.broker.url,
        }
    }

    /// The protocol the backend speaks.
    pub fn kind(&self) -> BackendKind {
        match self {
            BackendConfig::Grpc(_) => BackendKind::Grpc,
            BackendConfig::Soap(_) => BackendKind::Soap,
            BackendConfig::Xml(_) => BackendKind::Xml,
            BackendConfig::Rest(_) => BackendKind::Rest,
            BackendConfig::Mqtt(_) => BackendKind::Mqtt,
        }
    }
}

/// Builds the backend `name` from its validated config.
pub fn build(
    name: &str,
    config: &BackendConfig,
    base_dir: &Path,
    embedded: &EmbeddedEndpoint,
) -> Result<Arc<dyn Backend>, String> {
    match config {
        BackendConfig::Grpc(grpc) => Ok(Arc::new(grpc::GrpcBackend::new(
            name,
            grpc.validate(base_dir)?,
        ))),
        BackendConfig::Soap(soap) => Ok(Arc::new(soap::SoapBackend::new(
            name,
            soap.validate(base_dir)?,
        )?)),
        BackendConfig::Xml(xml) => Ok(Arc::new(xml::XmlBackend::new(
            name,
            xml.validate(base_dir)?,
        )?)),
        BackendConfig::Rest(rest) => Ok(Arc::new(rest::RestBackend::new(
            name,
            rest.validate(base_dir)?,
        )?)),
        BackendConfig::Mqtt(mqtt) => Ok(Arc::new(mqtt::MqttBackend::new(
            name,
            mqtt.validate(base_dir)?,
            embedded,
        ))),
    }
}
