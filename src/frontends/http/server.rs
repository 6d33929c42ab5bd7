//! The listener: accepts connections, serves HTTP/1.1 and h2c on each, and shuts down
//! gracefully, letting requests under way finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, CONNECTION};
use http::{HeaderMap, HeaderValue, Request, Response, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::body::ResponseBody;
use super::config::HttpFrontendSettings;
use super::connection::{self, reached, watched, Activity, CountedBody, Phase};
use super::decode::{decode, Peer};
use super::encode::{error_response, success_response};
use crate::frontends::{Listener, ServeFuture, Shutdown};
use crate::model::Status;
use crate::pipeline::Pipeline;

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

/// Serves `server` until `shutdown` completes, then drains connections: no new connections,
/// idle ones closed at once, requests under way given `drain_timeout`, then cut with 503.
pub async fn serve(
    server: HttpServer,
    pipeline: Arc<Pipeline>,
    shutdown: impl Future<Output = ()>,
) {
    let settings = server.settings.clone();
    let builder = builder(&settings);
    let (phase, phases) = watch::channel(Phase::Serving);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let mut connections = JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = server.listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    backoff.failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        backoff.succeeded();
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(
            stream,
            Arc::new(Peer::new(peer)),
            builder.clone(),
            pipeline.clone(),
            settings.clone(),
            phases.clone(),
            slot,
        ));
    }
    drop(server.listener);
    let _ = phase.send(Phase::Draining);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(settings.drain_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "requests still under way after {:?}; answering them 503",
            settings.drain_timeout
        );
        let _ = phase.send(Phase::Cut);
        let flushed = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(CUT_FLUSH_TIME, flushed).await.is_err() {
            connections.abort_all();
        }
    }
}

/// How long cut requests get to send their 503 before their connections are closed.
const CUT_FLUSH_TIME: Duration = Duration::from_secs(1);

/// The HTTP/1.1 and HTTP/2 settings of every connection.
fn builder(settings: &HttpFrontendSettings) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .max_buf_size(settings.max_header_size.max(8192))
        .max_headers(settings.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(settings.max_header_size as u32)
        .max_concurrent_streams(settings.http2_max_concurrent_streams)
        // Rapid reset (CVE-2023-44487): a client resetting streams it opened gets GOAWAY.
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(1024);
    builder
}

/// Serves one client connection until it ends, times out or is drained.
async fn serve_connection(
    stream: TcpStream,
    peer: Arc<Peer>,
    builder: Builder<TokioExecutor>,
    pipeline: Arc<Pipeline>,
    settings: Arc<HttpFrontendSettings>,
    phases: watch::Receiver<Phase>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Activity::new();
    let io = TokioIo::new(watched(stream, activity.clone()));
    let service = {
        let (activity, settings, phases) = (activity.clone(), settings.clone(), phases.clone());
        service_fn(move |request: Request<Incoming>| {
            let request_guard = activity.begin();
            let (pipeline, settings, peer, phases) = (
                pipeline.clone(),
                settings.clone(),
                peer.clone(),
                phases.clone(),
            );
            async move {
                let http1 = request.version() < Version::HTTP_2;
                let response = tokio::select! {
                    response = handle(request, &peer, &pipeline, &settings) => response,
                    () = reached(phases.clone(), Phase::Cut) => cut_response(http1),
                };
                let (parts, mut body) = response.into_parts();
                body.cut_by(|| Box::pin(reached(phases, Phase::Cut)));
                Ok::<_, Infallible>(Response::from_parts(
                    parts,
                    CountedBody::new(body, request_guard),
                ))
            }
        })
    };
    let connection = builder.serve_connection_with_upgrades(io, service);
    connection::watch(
        connection,
        |connection| connection.graceful_shutdown(),
        activity,
        phases,
        settings.header_read_timeout,
        settings.idle_timeout,
    )
    .await;
}

/// A request cut by shutdown before its answer began: 503, and the connection closes.
fn cut_response(http1: bool) -> Response<ResponseBody> {
    let mut response = error_response(&Status::unavailable("polygate is shutting down"));
    if http1 {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Failed accepts back off (10 ms doubling to 1 s) and are logged at most once per
/// [`ACCEPT_LOG_INTERVAL`]: out of file descriptors, the listener must neither spin nor flood
/// the log.
#[derive(Default)]
struct AcceptBackoff {
    delay: Option<Duration>,
    unlogged: u64,
    logged_at: Option<tokio::time::Instant>,
}

const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl AcceptBackoff {
    async fn failed(&mut self, error: &std::io::Error) {
        // ECONNABORTED and the like concern one client only: take the next one.
        let exhausted = matches!(error.raw_os_error(), Some(23 | 24 | 12 | 105));
        if !exhausted {
            tracing::debug!(%error, "a connection failed before it was accepted");
            return;
        }
        self.unlogged += 1;
        let due = self
            .logged_at
            .is_none_or(|at| at.elapsed() >= ACCEPT_LOG_INTERVAL);
        if due {
            tracing::warn!(
                %error,
                failures = self.unlogged,
                "accepting connections fails; backing off (logged at most every {ACCEPT_LOG_INTERVAL:?})"
            );
            self.unlogged = 0;
            self.logged_at = Some(tokio::time::Instant::now());
        }
        let delay = self.delay.map_or(Duration::from_millis(10), |d| {
            (d * 2).min(Duration::from_secs(1))
        });
        self.delay = Some(delay);
        tokio::time::sleep(delay).await;
    }

    fn succeeded(&mut self) {
        self.delay = None;
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
