//! The WebSocket frontend: every call shape over one socket, browsers included. Two ways in,
//! on the REST listener's port (an HTTP/1.1 upgrade) or on a listener of its own:
//!
//! - the multiplexed endpoint (`/ws`, subprotocol `polygate.v1`): a JSON envelope modelled on
//!   graphql-transport-ws, with many calls at once, each naming a route as REST clients do or
//!   a gRPC method, with per-call credit ([`protocol`], [`session`], [`connection`], [`call`]);
//! - the direct binding: a route bound to a WebSocket path, one call per socket, framed as
//!   grpc-websocket-proxy frames it ([`direct`]).
//!
//! docs/websocket.md is the protocol's reference.

mod call;
mod config;
mod connection;
mod decode;
mod direct;
mod encode;
mod fuzzing;
mod protocol;
mod session;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderMap;

pub use config::{AllowedOrigin, WebSocketFrontendConfig, WebSocketSettings};
#[doc(hidden)]
pub use fuzzing::envelope_for_fuzzing;
pub use upgrade::WebSocketEndpoint;

use crate::frontends::http::HttpServer;
use crate::frontends::{Listener, ServeFuture, Shutdown};
use crate::pipeline::Pipeline;

/// What the driver of one connection needs.
pub(crate) struct Connection {
    settings: Arc<WebSocketSettings>,
    pipeline: Arc<Pipeline>,
    /// The upgrade request's forwarded headers, metadata of every call (the driver takes them).
    metadata: HeaderMap,
    /// Who opened the socket: the peer and the identity the upgrade authenticated.
    caller: crate::model::Caller,
    shutdown: Shutdown,
}

/// The WebSocket frontend on a listener of its own (`websocket.listen`).
pub struct WebSocketServer {
    server: HttpServer,
    addr: SocketAddr,
}

impl WebSocketServer {
    /// Binds `endpoint`'s own listen address.
    pub async fn bind(
        listen: SocketAddr,
        endpoint: Arc<WebSocketEndpoint>,
    ) -> std::io::Result<Self> {
        let server = HttpServer::bind_upgrades(listen, endpoint).await?;
        Ok(Self {
            addr: Listener::local_addr(&server),
            server,
        })
    }
}

impl Listener for WebSocketServer {
    fn protocol(&self) -> &'static str {
        "WebSocket"
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn serve(self: Box<Self>, pipeline: Arc<Pipeline>, shutdown: Shutdown) -> ServeFuture {
        Box::pin(self.server.serve(pipeline, shutdown))
    }
}
