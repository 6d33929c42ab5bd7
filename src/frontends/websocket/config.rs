//! Configuration of the WebSocket frontend: the top-level `websocket:` section, checked once
//! into [`WebSocketSettings`].

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;

use crate::config::units::{ByteSize, ConfigDuration};
use crate::frontends::http::forward_header_names;

/// The `websocket:` section of the config. Every field is optional; `websocket: {}` enables the
/// frontend with the defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebSocketFrontendConfig {
    /// A separate address to listen on, e.g. `127.0.0.1:8081` (port 0 picks a free port).
    /// Default: none — WebSockets are upgrades on the `http:` listener's port.
    #[serde(default)]
    pub listen: Option<String>,
    /// The path of the multiplexed endpoint (subprotocol `polygate.v1`). Default `/ws`.
    #[serde(default)]
    pub path: Option<String>,
    /// Origins allowed to open a socket, as browsers send them (`https://app.example.com`,
    /// `http://127.0.0.1:8081`), or `*` for any. Default: none besides the gateway's own
    /// origin (an `Origin` whose host is the request's `Host`). Requests without an `Origin`
    /// header (programs, not browsers) are always allowed; any other origin gets 403.
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    /// The largest message (and frame) a client may send; larger ones close the socket with
    /// 1009. Default `1MiB`.
    #[serde(default)]
    pub max_message_size: Option<ByteSize>,
    /// The read buffer of each socket, allocated once per connection; a larger message grows
    /// it for that message. Default `2KiB` (an idle connection then costs about 7.4 KiB in all;
    /// with `4KiB`, 11 KiB).
    #[serde(default)]
    pub read_buffer_size: Option<ByteSize>,
    /// The write buffer of each socket: frames are written out once this much is buffered or
    /// nothing more is queued. Default `4KiB`.
    #[serde(default)]
    pub write_buffer_size: Option<ByteSize>,
    /// Per connection and direction, the bytes of messages queued and not yet written to the
    /// client or taken by a backend. A call that would exceed it waits (answers) or fails with
    /// `RESOURCE_EXHAUSTED` (client messages). Default `1MiB`.
    #[serde(default)]
    pub max_queued_bytes: Option<ByteSize>,
    /// Per call, the client messages (`send`) queued before the backend takes them: the send
    /// credit a call starts with and gets back with `request` messages. Default 16.
    #[serde(default)]
    pub max_queued_messages: Option<u32>,
    /// Per call, the answer messages the server sends before the client grants more with
    /// `request`, unless the call's `credit` says otherwise. Default 16.
    #[serde(default)]
    pub initial_credit: Option<u32>,
    /// The calls one connection may have under way; more are refused, per call, with
    /// `RESOURCE_EXHAUSTED`. Default 100.
    #[serde(default)]
    pub max_calls: Option<u32>,
    /// How long a client has to send `init` after connecting; then close 4408. Default `10s`.
    #[serde(default)]
    pub init_timeout: Option<ConfigDuration>,
    /// How often the server pings a connection it has heard nothing from; a client that
    /// answers nothing for another interval is dropped. Default `30s`.
    #[serde(default)]
    pub ping_interval: Option<ConfigDuration>,
    /// How long a connection may have no call under way and send no message before it is
    /// closed with 1001. Default `10m`.
    #[serde(default)]
    pub idle_timeout: Option<ConfigDuration>,
    /// On shutdown, how long calls under way may run before they are ended with
    /// `UNAVAILABLE` and every socket is closed with 1001. Default `10s`.
    #[serde(default)]
    pub shutdown_grace: Option<ConfigDuration>,
    /// Headers of the upgrade request forwarded to backends as metadata of every call.
    /// Default: `authorization`, `x-request-id`, `traceparent`, `tracestate`.
    #[serde(default)]
    pub forward_headers: Option<Vec<String>>,
}

/// An allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigin {
    /// `*`: any origin.
    Any,
    /// One origin, lowercased (`https://app.example.com`).
    Exact(String),
}

/// The validated WebSocket settings.
#[derive(Debug, Clone)]
pub struct WebSocketSettings {
    /// Its own listener, if configured.
    pub listen: Option<SocketAddr>,
    /// The multiplexed endpoint's path.
    pub path: String,
    /// The origins allowed besides the gateway's own.
    pub allowed_origins: Vec<AllowedOrigin>,
    /// The largest client message and frame.
    pub max_message_size: usize,
    /// The read buffer size.
    pub read_buffer_size: usize,
    /// The write buffer size.
    pub write_buffer_size: usize,
    /// Queued bytes per connection and direction.
    pub max_queued_bytes: usize,
    /// Queued client messages per call.
    pub max_queued_messages: u32,
    /// Answer messages per call before the client grants more.
    pub initial_credit: u32,
    /// Calls per connection.
    pub max_calls: usize,
    /// Time to `init`.
    pub init_timeout: Duration,
    /// The ping interval.
    pub ping_interval: Duration,
    /// The idle timeout.
    pub idle_timeout: Duration,
    /// The shutdown grace period.
    pub shutdown_grace: Duration,
    /// Upgrade-request headers forwarded as metadata.
    pub forward_headers: Vec<HeaderName>,
}

impl WebSocketFrontendConfig {
    /// Checks every field once, at load.
    pub fn validate(&self) -> Result<WebSocketSettings, String> {
        let listen = match &self.listen {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| {
                format!("listen '{text}' is not an address such as 127.0.0.1:8081")
            })?),
        };
        let path = self.path.clone().unwrap_or_else(|| "/ws".to_owned());
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(format!(
                "path '{path}' must be a path starting with '/', without a query"
            ));
        }
        let allowed_origins = self
            .allowed_origins
            .iter()
            .flatten()
            .map(|origin| parse_origin(origin))
            .collect::<Result<_, _>>()?;
        let max_message_size = size(self.max_message_size, 1 << 20, "max_message_size", 16)?;
        let read_buffer_size = size(self.read_buffer_size, 2 << 10, "read_buffer_size", 256)?;
        let write_buffer_size = size(self.write_buffer_size, 4 << 10, "write_buffer_size", 0)?;
        let max_queued_bytes = size(self.max_queued_bytes, 1 << 20, "max_queued_bytes", 1024)?;
        let max_queued_messages = count(self.max_queued_messages, 16, "max_queued_messages")?;
        let initial_credit = count(self.initial_credit, 16, "initial_credit")?;
        let max_calls = count(self.max_calls, 100, "max_calls")? as usize;
        Ok(WebSocketSettings {
            listen,
            path,
            allowed_origins,
            max_message_size,
            read_buffer_size,
            write_buffer_size,
            max_queued_bytes,
            max_queued_messages,
            initial_credit,
            max_calls,
            init_timeout: duration(self.init_timeout, 10, "init_timeout")?,
            ping_interval: duration(self.ping_interval, 30, "ping_interval")?,
            idle_timeout: duration(self.idle_timeout, 600, "idle_timeout")?,
            shutdown_grace: duration(self.shutdown_grace, 10, "shutdown_grace")?,
            forward_headers: forward_header_names(self.forward_headers.as_deref())?,
        })
    }
}

fn parse_origin(origin: &str) -> Result<AllowedOrigin, String> {
    if origin == "*" {
        return Ok(AllowedOrigin::Any);
    }
    let lower = origin.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ']) => {
            Ok(AllowedOrigin::Exact(lower.clone()))
        }
        _ => Err(format!(
            "allowed_origins: '{origin}' is not an origin such as https://app.example.com (scheme, host and optional port, no path) or *"
        )),
    }
}

fn size(value: Option<ByteSize>, default: usize, key: &str, least: u64) -> Result<usize, String> {
    match value {
        None => Ok(default),
        Some(ByteSize(bytes)) if bytes < least => {
            Err(format!("{key} must be at least {least} bytes"))
        }
        Some(ByteSize(bytes)) => {
            usize::try_from(bytes).map_err(|_| format!("{key} is too large for this machine"))
        }
    }
}

fn count(value: Option<u32>, default: u32, key: &str) -> Result<u32, String> {
    match value {
        Some(0) => Err(format!("{key} must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

fn duration(value: Option<ConfigDuration>, seconds: u64, key: &str) -> Result<Duration, String> {
    match value {
        Some(ConfigDuration(d)) if d.is_zero() => Err(format!("{key} must be longer than 0s")),
        Some(ConfigDuration(d)) => Ok(d),
        None => Ok(Duration::from_secs(seconds)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_takes_every_default() {
        let settings = WebSocketFrontendConfig::default().validate().unwrap();
        assert_eq!(settings.listen, None);
        assert_eq!(settings.path, "/ws");
        assert_eq!(settings.allowed_origins, Vec::new());
        assert_eq!(settings.max_message_size, 1 << 20);
        assert_eq!(settings.read_buffer_size, 2048);
        assert_eq!(settings.write_buffer_size, 4096);
        assert_eq!(settings.max_queued_bytes, 1 << 20);
        assert_eq!(settings.max_queued_messages, 16);
        assert_eq!(settings.initial_credit, 16);
        assert_eq!(settings.max_calls, 100);
        assert_eq!(settings.init_timeout, Duration::from_secs(10));
        assert_eq!(settings.ping_interval, Duration::from_secs(30));
        assert_eq!(settings.idle_timeout, Duration::from_secs(600));
        assert_eq!(settings.shutdown_grace, Duration::from_secs(10));
        assert_eq!(settings.forward_headers.len(), 4);
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let bad = |config: WebSocketFrontendConfig| config.validate().unwrap_err();
        assert_eq!(
            bad(WebSocketFrontendConfig {
                path: Some("ws".into()),
                ..Default::default()
            }),
            "path 'ws' must be a path starting with '/', without a query"
        );
        assert!(bad(WebSocketFrontendConfig {
            allowed_origins: Some(vec!["example.com".into()]),
            ..Default::default()
        })
        .starts_with("allowed_origins: 'example.com' is not an origin"));
        assert_eq!(
            bad(WebSocketFrontendConfig {
                max_calls: Some(0),
                ..Default::default()
            }),
            "max_calls must be at least 1"
        );
        assert_eq!(
            bad(WebSocketFrontendConfig {
                idle_timeout: Some(ConfigDuration(Duration::ZERO)),
                ..Default::default()
            }),
            "idle_timeout must be longer than 0s"
        );
        assert_eq!(
            bad(WebSocketFrontendConfig {
                listen: Some("nowhere".into()),
                ..Default::default()
            }),
            "listen 'nowhere' is not an address such as 127.0.0.1:8081"
        );
    }

    #[test]
    fn origins_are_kept_lowercase() {
        let settings = WebSocketFrontendConfig {
            allowed_origins: Some(vec!["HTTPS://App.Example.com:8443".into(), "*".into()]),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(
            settings.allowed_origins,
            vec![
                AllowedOrigin::Exact("https://app.example.com:8443".into()),
                AllowedOrigin::Any
            ]
        );
    }
}
