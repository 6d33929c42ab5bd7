//! Backends: clients that turn a bound call into a protocol request and answer with a
//! `GatewayResponse` or a `Status`. Register a new protocol with one variant of
//! [`BackendConfig`] and one arm in [`build`].

pub mod connection;
mod deadline;
pub mod grpc;
pub mod http_client;
pub mod mqtt;
pub mod resilience;
pub mod rest;
pub mod soap;
pub mod xml;

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::config::units::ConfigDuration;
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

/// The keys of the resilience layer, read the same way from every kind that takes them.
struct LayerKeys<'a> {
    url: &'a str,
    endpoints: &'a [String],
    resilience: Option<&'a resilience::ResilienceConfig>,
    ca_file: Option<&'a Path>,
    tls_server_name: Option<&'a str>,
    connect_timeout: Option<ConfigDuration>,
}

/// Applies `$body` to the config of any kind built with the shared connection keys.
macro_rules! with_connection_keys {
    ($config:expr, $c:ident => $body:expr, mqtt => $mqtt:expr) => {
        match $config {
            BackendConfig::Grpc($c) => $body,
            BackendConfig::Soap($c) => $body,
            BackendConfig::Xml($c) | BackendConfig::Rest($c) => $body,
            BackendConfig::Mqtt(_) => $mqtt,
        }
    };
}

impl BackendConfig {
    /// The resilience keys; `None` for MQTT, which takes none.
    fn layer_keys(&self) -> Option<LayerKeys<'_>> {
        with_connection_keys!(self, c => Some(LayerKeys {
            url: &c.url,
            endpoints: &c.endpoints,
            resilience: c.resilience.as_ref(),
            ca_file: c.ca_file.as_deref(),
            tls_server_name: c.tls_server_name.as_deref(),
            connect_timeout: c.connect_timeout,
        }), mqtt => None)
    }

    /// The same backend at one endpoint, without the resilience keys; `server_name` is the name
    /// TLS verifies when `url` holds a resolved address.
    fn at_endpoint(&self, url: &str, server_name: Option<&str>) -> BackendConfig {
        let mut config = self.clone();
        with_connection_keys!(&mut config, c => {
            c.url = url.to_owned();
            c.endpoints = Vec::new();
            c.resilience = None;
            if c.tls_server_name.is_none() {
                c.tls_server_name = server_name.map(str::to_owned);
            }
        }, mqtt => {});
        config
    }
}

/// Builds the backend `name` from its validated config: wrapped in the resilience layer when
/// it lists `endpoints` or has `resilience:` keys, plain otherwise (no cost for one `url`).
pub fn build(
    name: &str,
    config: &BackendConfig,
    base_dir: &Path,
    embedded: &EmbeddedEndpoint,
) -> Result<Arc<dyn Backend>, String> {
    let Some(keys) = config.layer_keys() else {
        return build_one(name, config, base_dir, embedded);
    };
    let urls = match (keys.url, keys.endpoints) {
        ("", []) => return Err("needs a url or endpoints".into()),
        (_, []) if keys.resilience.is_none() => return build_one(name, config, base_dir, embedded),
        (url, []) => vec![url.to_owned()],
        ("", endpoints) => endpoints.to_vec(),
        (_, _) => return Err("takes a url or endpoints, not both".into()),
    };
    let grpc = config.kind() == BackendKind::Grpc;
    let settings = keys
        .resilience
        .cloned()
        .unwrap_or_default()
        .validate(grpc)?;
    let checker = HttpBackendTemplate {
        ca_file: keys.ca_file.map(Path::to_path_buf),
        tls_server_name: keys.tls_server_name.map(str::to_owned),
        connect_timeout: keys.connect_timeout,
    };
    let factory = Arc::new(ConfigFactory {
        name: name.to_owned(),
        config: config.clone(),
        base_dir: base_dir.to_path_buf(),
        embedded: embedded.clone(),
        checker,
    });
    Ok(Arc::new(resilience::ResilientBackend::new(
        name, grpc, settings, &urls, factory,
    )?))
}

/// The connection keys health-check clients of HTTP backends share with the backend.
struct HttpBackendTemplate {
    ca_file: Option<std::path::PathBuf>,
    tls_server_name: Option<String>,
    connect_timeout: Option<ConfigDuration>,
}

/// Builds endpoint clients from the backend's own config.
struct ConfigFactory {
    name: String,
    config: BackendConfig,
    base_dir: std::path::PathBuf,
    embedded: EmbeddedEndpoint,
    checker: HttpBackendTemplate,
}

impl resilience::EndpointFactory for ConfigFactory {
    fn client(&self, url: &str, server_name: Option<&str>) -> Result<Arc<dyn Backend>, String> {
        let config = self.config.at_endpoint(url, server_name);
        build_one(&self.name, &config, &self.base_dir, &self.embedded)
            .map_err(|e| format!("endpoint {url}: {e}"))
    }

    fn http_checker(
        &self,
        origin: &str,
        server_name: Option<&str>,
    ) -> Result<Arc<dyn Backend>, String> {
        let config = http_client::HttpBackendConfig {
            url: origin.to_owned(),
            endpoints: Vec::new(),
            resilience: None,
            ca_file: self.checker.ca_file.clone(),
            tls_server_name: self
                .checker
                .tls_server_name
                .clone()
                .or_else(|| server_name.map(str::to_owned)),
            connect_timeout: self.checker.connect_timeout,
            request_timeout: None,
            max_response_size: None,
            pool_idle_timeout: None,
            pool_max_idle_per_host: Some(1),
            http2: false,
            pass_through: None,
            response_headers: Vec::new(),
        };
        Ok(Arc::new(rest::RestBackend::new(
            &self.name,
            config.validate(&self.base_dir)?,
        )?))
    }
}

/// Builds one plain backend (one endpoint, no layer).
fn build_one(
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
