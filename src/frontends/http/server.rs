//! The listener: accepts connections, serves HTTP/1.1 and h2c on each, hands `Upgrade`
//! requests to the protocol that takes them (the WebSocket frontend), and shuts down
//! gracefully, letting requests under way finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::ACCEPT;
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::body::ResponseBody;
use super::config::HttpFrontendSettings;
use super::decode::{decode, Peer};
use super::encode::{error_response, success_response};
use super::upgrade::{Upgrade, UpgradeContext};
use crate::frontends::{Listener, ServeFuture, Shutdown};
use crate::model::Status;
use crate::pipeline::Pipeline;

/// How long shutdown waits for requests under way.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A bound REST/JSON listener, not yet serving.
pub struct HttpServer {
    listener: TcpListener,
    listener_addr: SocketAddr,
    settings: Arc<HttpFrontendSettings>,
    upgrade: Option<Arc<dyn Upgrade>>,
    /// Serves upgrades only: every other request is 404 (a protocol's own listener).
    upgrades_only: bool,
}

impl HttpServer {
    /// Binds the listen address.
    pub async fn bind(settings: HttpFrontendSettings) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.listen).await?;
        Ok(Self {
            listener_addr: listener.local_addr()?,
            listener,
            settings: Arc::new(settings),
            upgrade: None,
            upgrades_only: false,
        })
    }

    /// Binds `listen` for `upgrade` alone: a protocol reached by upgrade on a port of its own.
    pub async fn bind_upgrades(
        listen: SocketAddr,
        upgrade: Arc<dyn Upgrade>,
    ) -> std::io::Result<Self> {
        let settings = HttpFrontendSettings {
            listen,
            max_body_size: 0,
            forward_headers: Vec::new(),
        };
        let mut server = Self::bind(settings).await?;
        server.upgrade = Some(upgrade);
        server.upgrades_only = true;
        Ok(server)
    }

    /// Hands the requests `upgrade` wants to it.
    pub fn with_upgrade(mut self, upgrade: Arc<dyn Upgrade>) -> Self {
        self.upgrade = Some(upgrade);
        self
    }

    /// Serves until `shutdown` fires, then drains connections.
    pub async fn serve(self, pipeline: Arc<Pipeline>, shutdown: Shutdown) {
        serve(self, pipeline, shutdown).await
    }
}

impl Listener for HttpServer {
    fn protocol(&self) -> &'static str {
        "REST/JSON"
    }

    fn url(&self) -> String {
        format!("http://{}", self.listener_addr)
    }

    fn local_addr(&self) -> SocketAddr {
        self.listener_addr
    }

    fn serve(self: Box<Self>, pipeline: Arc<Pipeline>, shutdown: Shutdown) -> ServeFuture {
        Box::pin(serve(*self, pipeline, shutdown))
    }
}

/// What every request of the listener shares.
struct Shared {
    pipeline: Arc<Pipeline>,
    settings: Arc<HttpFrontendSettings>,
    upgrade: Option<Arc<dyn Upgrade>>,
    upgrades_only: bool,
    shutdown: Shutdown,
}

/// Serves `server` until `shutdown` fires, then drains connections (upgraded ones included).
pub async fn serve(server: HttpServer, pipeline: Arc<Pipeline>, shutdown: Shutdown) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let shared = Arc::new(Shared {
        pipeline,
        settings: server.settings.clone(),
        upgrade: server.upgrade.clone(),
        upgrades_only: server.upgrades_only,
        shutdown: shutdown.clone(),
    });
    let shutdown = shutdown.fired();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = server.listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let client = Arc::new(Peer::new(peer));
        let service = service_fn(move |request: Request<Incoming>| {
            let shared = shared.clone();
            let client = client.clone();
            async move { Ok::<_, Infallible>(handle(request, peer, &client, &shared).await) }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(server.listener);
    // Upgraded connections keep their own grace period and end themselves.
    let upgraded = async {
        if let Some(upgrade) = &server.upgrade {
            upgrade.drained().await;
        }
    };
    let http = async {
        if tokio::time::timeout(DRAIN_TIME, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after {DRAIN_TIME:?}; closing them");
        }
    };
    futures_util::future::join(http, upgraded).await;
}

async fn handle(
    request: Request<Incoming>,
    address: SocketAddr,
    peer: &Peer,
    shared: &Shared,
) -> Response<ResponseBody> {
    if let Some(upgrade) = shared.upgrade.as_ref().filter(|u| u.wants(&request)) {
        let context = UpgradeContext {
            peer: address,
            pipeline: shared.pipeline.clone(),
            shutdown: shared.shutdown.clone(),
        };
        return match upgrade.upgrade(request, context) {
            Ok(switching) => switching.map(|()| ResponseBody::full(bytes::Bytes::new())),
            Err(status) => error_response(&status),
        };
    }
    if shared.upgrades_only {
        return error_response(&Status::not_found(
            "this listener serves WebSocket upgrades only",
        ));
    }
    let (pipeline, settings) = (&shared.pipeline, &shared.settings);
    let event_stream = accepts_event_stream(request.headers());
    let request = match decode(request, peer, settings).await {
        Ok(request) => request,
        Err(status) => return error_response(&status),
    };
    match pipeline.handle(request).await {
        Ok(answer) => success_response(answer, event_stream).await,
        Err(status) => {
            tracing::debug!(code = ?status.code(), message = status.message(), "request failed");
            error_response(&status)
        }
    }
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|item| item.split(';').next().unwrap_or("").trim() == "text/event-stream")
        })
}
