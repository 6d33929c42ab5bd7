//! The seam through which another protocol takes over HTTP/1.1 connections by `Upgrade` (the
//! WebSocket frontend), so that it shares the REST listener's port without the HTTP frontend
//! knowing it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::frontends::Shutdown;
use crate::model::Status;
use crate::pipeline::Pipeline;

/// What an upgrade needs besides the request.
#[derive(Clone)]
pub struct UpgradeContext {
    /// The client's address.
    pub peer: SocketAddr,
    /// The request path.
    pub pipeline: Arc<Pipeline>,
    /// Fires when the gateway shuts down.
    pub shutdown: Shutdown,
}

/// A protocol reached by HTTP/1.1 `Upgrade` on the HTTP frontend's listener.
pub trait Upgrade: Send + Sync + 'static {
    /// Whether `request` asks for this protocol (e.g. `Upgrade: websocket`).
    fn wants(&self, request: &Request<Incoming>) -> bool;

    /// Answers the upgrade request: the `101 Switching Protocols` response, after which the
    /// protocol serves the connection in the background, or a `Status` the HTTP frontend
    /// answers as it answers any error (403 for a refused origin, 404 for no route, …). It may
    /// wait (the credentials of the upgrade may be checked remotely).
    fn upgrade(
        &self,
        request: Request<Incoming>,
        context: UpgradeContext,
    ) -> Pin<Box<dyn Future<Output = Result<Response<()>, Status>> + Send + '_>>;

    /// Resolves once every upgraded connection has ended (they end themselves on shutdown).
    fn drained(&self) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}
