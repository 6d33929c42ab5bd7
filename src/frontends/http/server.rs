//! The listener: accepts connections, serves HTTP/1.1 and h2c on each, and shuts down
//! gracefully, letting requests under way finish.

use std::convert::Infallible;
use std::future::Future;
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
use crate::frontends::{Listener, ServeFuture, Shutdown};
use crate::pipeline::Pipeline;

/// How long shutdown waits for requests under way.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A bound REST/JSON listener, not yet serving.
pub struct HttpServer {
    listener: TcpListener,
    listener_addr: SocketAddr,
    settings: Arc<HttpFrontendSettings>,
}

impl HttpServer {
    /// Binds the listen address.
    pub async fn bind(settings: HttpFrontendSettings) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.listen).await?;
        Ok(Self {
            listener_addr: listener.local_addr()?,
            listener,
            settings: Arc::new(settings),
        })
    }

    /// Serves until `shutdown` completes, then drains connections.
    pub async fn serve(self, pipeline: Arc<Pipeline>, shutdown: impl Future<Output = ()>) {
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
        Box::pin(serve(*self, pipeline, shutdown.fired()))
    }
}

/// Serves `server` until `shutdown` completes, then drains connections.
pub async fn serve(
    server: HttpServer,
    pipeline: Arc<Pipeline>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
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
        let pipeline = pipeline.clone();
        let settings = server.settings.clone();
        let client = Arc::new(Peer::new(peer));
        let service = service_fn(move |request: Request<Incoming>| {
            let pipeline = pipeline.clone();
            let settings = settings.clone();
            let client = client.clone();
            async move { Ok::<_, Infallible>(handle(request, &client, &pipeline, &settings).await) }
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
    if tokio::time::timeout(DRAIN_TIME, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_TIME:?}; closing them");
    }
}

async fn handle(
    request: Request<Incoming>,
    peer: &Peer,
    pipeline: &Pipeline,
    settings: &HttpFrontendSettings,
) -> Response<ResponseBody> {
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
