//! Frontends: listeners that decode what clients send into `GatewayRequest`s, hand them to the
//! pipeline, and encode answers and `Status`es back into their protocol.
//!
//! Register a new protocol as backends are registered: one variant of [`FrontendConfig`] and
//! [`FrontendSettings`], and one arm in [`bind`]. Everything else (`app`, `polygate check`,
//! shutdown) works on the [`Listener`] trait. A protocol reached by HTTP upgrade (WebSocket)
//! rides on the HTTP listener unless it has a listener of its own.

pub mod http;
pub mod mqtt;
pub mod websocket;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;

use crate::mqtt_client::EmbeddedEndpoint;
use crate::pipeline::Pipeline;

/// One frontend as written in the config file, under its own top-level key.
#[allow(
    clippy::large_enum_variant,
    reason = "read once at load; boxing would only add an indirection"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontendConfig {
    /// `http:` — REST/JSON over HTTP/1.1 and h2c.
    Http(http::HttpFrontendConfig),
    /// `mqtt:` — MQTT, through an embedded or an external broker.
    Mqtt(mqtt::MqttFrontendConfig),
    /// `websocket:` — the WebSocket frontend.
    WebSocket(websocket::WebSocketFrontendConfig),
}

/// One frontend's validated settings.
#[derive(Debug, Clone)]
pub enum FrontendSettings {
    /// The REST/JSON frontend.
    Http(http::HttpFrontendSettings),
    /// The MQTT frontend.
    Mqtt(mqtt::MqttFrontendSettings),
    /// The WebSocket frontend.
    WebSocket(websocket::WebSocketSettings),
}

impl FrontendConfig {
    /// The config key the frontend is written under.
    pub fn key(&self) -> &'static str {
        match self {
            FrontendConfig::Http(_) => "http",
            FrontendConfig::Mqtt(_) => "mqtt",
            FrontendConfig::WebSocket(_) => "websocket",
        }
    }

    /// Checks the settings once, at load: relative paths are resolved against `base_dir`,
    /// and an embedded broker reports where it binds to `embedded`.
    pub fn validate(
        &self,
        base_dir: &Path,
        embedded: &EmbeddedEndpoint,
    ) -> Result<FrontendSettings, String> {
        match self {
            FrontendConfig::Http(http) => http.validate().map(FrontendSettings::Http),
            FrontendConfig::Mqtt(mqtt) => mqtt
                .validate(base_dir, embedded)
                .map(FrontendSettings::Mqtt),
            FrontendConfig::WebSocket(websocket) => {
                websocket.validate().map(FrontendSettings::WebSocket)
            }
        }
    }
}

impl FrontendSettings {
    /// The config key the frontend is written under.
    pub fn key(&self) -> &'static str {
        match self {
            FrontendSettings::Http(_) => "http",
            FrontendSettings::Mqtt(_) => "mqtt",
            FrontendSettings::WebSocket(_) => "websocket",
        }
    }
}

/// Checks that the frontends fit together: a WebSocket frontend without a listener of its own
/// needs the HTTP listener it upgrades on.
pub fn check(frontends: &[FrontendSettings]) -> Result<(), String> {
    let http = frontends
        .iter()
        .any(|f| matches!(f, FrontendSettings::Http(_)));
    let upgrades_on_http = frontends
        .iter()
        .any(|f| matches!(f, FrontendSettings::WebSocket(ws) if ws.listen.is_none()));
    if upgrades_on_http && !http {
        return Err(
            "websocket: without `listen`, WebSockets are upgrades on the http: listener; configure http: or websocket.listen"
                .into(),
        );
    }
    Ok(())
}

/// The future a listener serves on.
pub type ServeFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A frontend bound to its address, ready to serve.
pub trait Listener: Send {
    /// What clients speak to it, as logs and `polygate serve` say it (`REST/JSON`).
    fn protocol(&self) -> &'static str;

    /// Where it listens, as a URL clients can use (`http://127.0.0.1:8080`).
    fn url(&self) -> String;

    /// The bound socket address (useful with port 0).
    fn local_addr(&self) -> SocketAddr;

    /// Whether it is ready to take traffic (MQTT: every subscription acknowledged), for
    /// frontends that are not ready as soon as they are bound.
    fn readiness(&self) -> Option<watch::Receiver<bool>> {
        None
    }

    /// Serves through `pipeline` until `shutdown` fires, then lets work under way finish.
    fn serve(self: Box<Self>, pipeline: Arc<Pipeline>, shutdown: Shutdown) -> ServeFuture;
}

/// Binds the listener of every frontend, each under its config key; a WebSocket frontend
/// without a listener of its own is attached to the HTTP listener.
pub async fn bind(
    settings: Vec<FrontendSettings>,
) -> std::io::Result<Vec<(&'static str, Box<dyn Listener>)>> {
    let upgrade = settings.iter().find_map(|f| match f {
        FrontendSettings::WebSocket(ws) if ws.listen.is_none() => {
            Some(Arc::new(websocket::WebSocketEndpoint::new(ws.clone())) as Arc<dyn http::Upgrade>)
        }
        _ => None,
    });
    // The API description names the WebSocket endpoint wherever it listens.
    let websocket_path = settings.iter().find_map(|f| match f {
        FrontendSettings::WebSocket(ws) => Some(ws.path.clone()),
        _ => None,
    });
    let mut listeners: Vec<(&'static str, Box<dyn Listener>)> = Vec::new();
    for frontend in settings {
        let key = frontend.key();
        let listener: Box<dyn Listener> = match frontend {
            FrontendSettings::Http(mut settings) => {
                if let (Some(docs), Some(path)) = (&mut settings.api_docs, &websocket_path) {
                    docs.websocket_path = Some(path.clone());
                }
                let server = http::HttpServer::bind(settings).await?;
                Box::new(match &upgrade {
                    Some(upgrade) => server.with_upgrade(upgrade.clone()),
                    None => server,
                })
            }
            FrontendSettings::Mqtt(mqtt) => Box::new(mqtt::MqttServer::bind(mqtt).await?),
            FrontendSettings::WebSocket(ws) => match ws.listen {
                Some(listen) => {
                    let endpoint = Arc::new(websocket::WebSocketEndpoint::new(ws));
                    Box::new(websocket::WebSocketServer::bind(listen, endpoint).await?)
                }
                None => continue,
            },
        };
        listeners.push((key, listener));
    }
    Ok(listeners)
}

/// The signal that tells every listener to stop accepting and drain.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// The side that fires a [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl Shutdown {
    /// A signal and its trigger.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (sender, receiver) = watch::channel(false);
        (ShutdownTrigger(sender), Shutdown(receiver))
    }

    /// Resolves once shutdown was triggered (or its trigger dropped).
    pub async fn fired(mut self) {
        let _ = self.0.wait_for(|fired| *fired).await;
    }

    /// Whether shutdown was triggered.
    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }
}

impl ShutdownTrigger {
    /// Tells every listener to stop.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}
