//! The `admin:` section.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::units::ConfigDuration;

/// Where the admin listener is reached by default: loopback, Envoy's admin port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9901";

/// The `admin:` section of the config; `admin: {}` takes every default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The address to listen on. Default `127.0.0.1:9901` (loopback only); another address
    /// exposes the config and metrics to whoever reaches it.
    #[serde(default)]
    pub listen: Option<String>,
    /// Backends `/readyz` does not wait for (by name): optional ones, or those not reachable
    /// by TCP from here.
    #[serde(default)]
    pub optional_backends: Vec<String>,
    /// How long `/readyz` waits for each backend's TCP connection. Default `1s`.
    #[serde(default)]
    pub probe_timeout: Option<ConfigDuration>,
    /// On SIGTERM, how long `/readyz` answers 503 while the listeners still accept, so load
    /// balancers stop sending before connections are refused. Default `0s`.
    #[serde(default)]
    pub shutdown_delay: Option<ConfigDuration>,
}

/// The validated admin settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Backends `/readyz` does not probe.
    pub optional_backends: Vec<String>,
    /// The probe timeout.
    pub probe_timeout: Duration,
    /// The time `/readyz` is false before the listeners stop.
    pub shutdown_delay: Duration,
}

impl AdminConfig {
    /// Checks the section once, at load.
    pub fn validate(&self) -> Result<AdminSettings, String> {
        let listen = self.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen.parse().map_err(|_| {
            format!("admin.listen: '{listen}' is not an address like 127.0.0.1:9901")
        })?;
        Ok(AdminSettings {
            listen,
            optional_backends: self.optional_backends.clone(),
            probe_timeout: self.probe_timeout.map_or(Duration::from_secs(1), |d| d.0),
            shutdown_delay: self.shutdown_delay.map_or(Duration::ZERO, |d| d.0),
        })
    }
}
