//! `/readyz`: not draining, every frontend ready (MQTT: every subscription acknowledged), and
//! every backend reachable by TCP unless listed in `admin.optional_backends`. Backends are
//! probed only when `/readyz` is asked, never otherwise.

use std::time::Duration;

use serde_json::{json, Value};

use super::AdminState;
use crate::config::Config;

/// A backend `/readyz` connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The backend's name.
    pub backend: String,
    /// `host:port`.
    pub address: String,
}

/// The probes of `config`'s backends, except `optional` ones and those without a TCP address
/// (the embedded MQTT broker).
pub(super) fn probes(config: &Config, optional: &[String]) -> Vec<Probe> {
    config
        .backends
        .iter()
        .filter(|(name, _)| !optional.contains(name))
        .filter_map(|(name, backend)| {
            Some(Probe {
                backend: name.clone(),
                address: address(backend.url())?,
            })
        })
        .collect()
}

/// `host:port` of a URL, with the scheme's default port.
fn address(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri.host()?;
    let port = uri.port_u16().or(match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        "mqtt" => Some(1883),
        "mqtts" => Some(8883),
        _ => None,
    })?;
    Some(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// What `/readyz` found.
pub(super) struct Report {
    pub(super) ready: bool,
    checks: Vec<Value>,
}

impl Report {
    pub(super) fn to_json(&self) -> Value {
        json!({"ready": self.ready, "checks": self.checks})
    }
}

pub(super) async fn check(state: &AdminState) -> Report {
    let mut checks = Vec::new();
    let draining = state.is_draining();
    checks.push(json!({"check": "draining", "ok": !draining}));
    checks.push(json!({"check": "routes", "ok": true, "routes": state.pipeline.routes().len()}));
    for (key, ready) in &state.frontends {
        checks.push(json!({"check": format!("frontend {key}"), "ok": *ready.borrow()}));
    }
    if !draining {
        let probes = state.probes.load_full();
        let timeout = state.settings.probe_timeout;
        let results = futures_util::future::join_all(
            probes
                .iter()
                .map(|probe| reachable(&probe.address, timeout)),
        )
        .await;
        for (probe, result) in probes.iter().zip(results) {
            let mut check = json!({"check": format!("backend {}", probe.backend), "address": probe.address, "ok": result.is_ok()});
            if let Err(error) = result {
                check["error"] = Value::String(error);
            }
            checks.push(check);
        }
    }
    let ready = checks.iter().all(|c| c["ok"] == Value::Bool(true));
    Report { ready, checks }
}

async fn reachable(address: &str, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no connection within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_the_scheme_default_port() {
        assert_eq!(address("http://svc:8080/x").as_deref(), Some("svc:8080"));
        assert_eq!(address("https://svc/x").as_deref(), Some("svc:443"));
        assert_eq!(address("mqtt://broker").as_deref(), Some("broker:1883"));
        assert_eq!(address("embedded"), None);
    }
}
