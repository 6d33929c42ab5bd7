//! The listener: accepts connections, serves HTTP/1.1 and h2c on each, hands `Upgrade`
//! requests to the protocol that takes them (the WebSocket frontend), and shuts down
//! gracefully, letting requests under way finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::borrow::Cow;

use http::header::{ACCEPT, CONNECTION, ORIGIN};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Response, Uri, Version};
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
use super::decode::{decode, request_key, Peer};
use super::encode::{error_response, success_response};
use super::framing::Framing;
use super::request_id::{self, X_REQUEST_ID};
use super::upgrade::{Upgrade, UpgradeContext};
use super::{compress, cors, encode, path};
use crate::frontends::{Listener, ServeFuture, Shutdown};
use crate::model::Status;
use crate::pipeline::Pipeline;

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
        let config = super::HttpFrontendConfig {
            listen: listen.to_string(),
            ..Default::default()
        };
        let settings = config.validate().map_err(std::io::Error::other)?;
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

/// How the listener treats `Upgrade` requests.
struct Upgrades {
    /// The protocol that takes them, if any.
    upgrade: Option<Arc<dyn Upgrade>>,
    /// Serves upgrades only: every other request is 404 (a protocol's own listener).
    only: bool,
    /// Fires when the gateway shuts down (upgraded connections drain themselves).
    shutdown: Shutdown,
}

/// Serves `server` until `shutdown` fires, then drains connections: no new connections, idle
/// ones closed at once, requests under way given `drain_timeout`, then cut with 503; upgraded
/// connections (WebSockets) keep their own grace period and end themselves.
pub async fn serve(server: HttpServer, pipeline: Arc<Pipeline>, shutdown: Shutdown) {
    let settings = server.settings.clone();
    let builder = builder(&settings);
    let (phase, phases) = watch::channel(Phase::Serving);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let mut connections = JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    let upgrades = Arc::new(Upgrades {
        upgrade: server.upgrade.clone(),
        only: server.upgrades_only,
        shutdown: shutdown.clone(),
    });
    let shutdown = shutdown.fired();
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
            peer,
            builder.clone(),
            pipeline.clone(),
            settings.clone(),
            upgrades.clone(),
            phases.clone(),
            slot,
        ));
    }
    drop(server.listener);
    let _ = phase.send(Phase::Draining);
    let upgraded = async {
        if let Some(upgrade) = &server.upgrade {
            upgrade.drained().await;
        }
    };
    let http = async {
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
    };
    futures_util::future::join(http, upgraded).await;
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
        .max_pending_accept_reset_streams(settings.http2_max_pending_accept_reset_streams)
        .max_local_error_reset_streams(Some(settings.http2_max_local_error_reset_streams));
    builder
}

/// Serves one client connection until it ends, times out or is drained.
#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    stream: TcpStream,
    address: SocketAddr,
    builder: Builder<TokioExecutor>,
    pipeline: Arc<Pipeline>,
    settings: Arc<HttpFrontendSettings>,
    upgrades: Arc<Upgrades>,
    phases: watch::Receiver<Phase>,
    _slot: OwnedSemaphorePermit,
) {
    let peer = Arc::new(Peer::new(address));
    let activity = Activity::new();
    let framing = Arc::new(Framing::new(settings.max_header_size.max(8192)));
    let io = TokioIo::new(watched(stream, activity.clone(), framing.clone()));
    let service = {
        let (activity, settings, phases) = (activity.clone(), settings.clone(), phases.clone());
        service_fn(move |mut request: Request<Incoming>| {
            let request_guard = activity.begin();
            let (pipeline, settings, peer, phases, upgrades, framing) = (
                pipeline.clone(),
                settings.clone(),
                peer.clone(),
                phases.clone(),
                upgrades.clone(),
                framing.clone(),
            );
            async move {
                let http1 = request.version() < Version::HTTP_2;
                let client = Client {
                    address,
                    peer: &peer,
                    framing: &framing,
                };
                // Every answer, a cut one included, carries the request's `X-Request-Id`.
                let id = request_id::assign(request.headers_mut(), settings.malformed_request_id);
                let (mut response, id) = match id {
                    Ok(id) => {
                        let response = tokio::select! {
                            // The answer first: one that is ready is sent, even once cut.
                            biased;
                            response = hygienic(request, client, &pipeline, &settings, &upgrades) => response,
                            () = reached(phases.clone(), Phase::Cut) => cut_response(http1),
                        };
                        (response, id)
                    }
                    Err(status) => (error_response(&status), request_id::generate()),
                };
                response.headers_mut().insert(X_REQUEST_ID, id);
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

/// The client at the other end of a connection.
#[derive(Clone, Copy)]
struct Client<'a> {
    address: SocketAddr,
    peer: &'a Peer,
    /// The framing of the connection's HTTP/1.1 requests.
    framing: &'a Framing,
}

/// The edge checks before routing (framing, path normalization), CORS and compression around
/// the pipeline (docs/security.md, "HTTP hygiene").
async fn hygienic(
    mut request: Request<Incoming>,
    client: Client<'_>,
    pipeline: &Arc<Pipeline>,
    settings: &HttpFrontendSettings,
    upgrades: &Upgrades,
) -> Response<ResponseBody> {
    if let Some(refusal) = client.framing.next_verdict() {
        let mut response = error_response(&Status::invalid_argument(refusal));
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    if let Err(status) = normalize_path(&mut request, settings) {
        return error_response(&status);
    }
    if !upgrades.only {
        if let Some(method) = cors::preflight_method(request.method(), request.headers()) {
            let key = request_key(method, request.uri().clone());
            let table = pipeline.routes();
            return match table.find(&key) {
                Ok(found) => {
                    cors::preflight(request.headers(), found.route.options.cors.as_deref())
                }
                Err(status) => error_response(&status),
            };
        }
    }
    let origin = request.headers().get(ORIGIN).cloned();
    let cors = match &origin {
        Some(_) if !upgrades.only => {
            let key = request_key(request.method().clone(), request.uri().clone());
            let table = pipeline.routes();
            let found = table.find(&key).ok();
            found.and_then(|found| found.route.options.cors.clone())
        }
        _ => None,
    };
    let coding = settings
        .compression_min_size
        .and_then(|_| compress::negotiate(request.headers()));
    let mut response = serve_request(request, client, pipeline, settings, upgrades).await;
    if let Some(min_size) = settings.compression_min_size {
        compress::compress(&mut response, coding, min_size).await;
    }
    if let (Some(origin), Some(policy)) = (origin, cors) {
        cors::decorate(&mut response, origin, &policy);
    }
    response
}

/// Replaces the request's path with its normalized form, or refuses it.
fn normalize_path(
    request: &mut Request<Incoming>,
    settings: &HttpFrontendSettings,
) -> Result<(), Status> {
    let normalized = match path::normalize(request.uri().path(), settings.escaped_slashes) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(normalized)) => normalized,
        Err(error) => return Err(Status::invalid_argument(error.to_string())),
    };
    let mut parts = std::mem::take(request.uri_mut()).into_parts();
    let target = match parts.path_and_query.as_ref().and_then(|pq| pq.query()) {
        Some(query) => format!("{normalized}?{query}"),
        None => normalized,
    };
    let invalid = |_| Status::invalid_argument("the request path is not valid once normalized");
    parts.path_and_query = Some(PathAndQuery::try_from(target).map_err(invalid)?);
    *request.uri_mut() = Uri::from_parts(parts)
        .map_err(|_| Status::invalid_argument("the request target is not valid once normalized"))?;
    Ok(())
}

async fn serve_request(
    request: Request<Incoming>,
    client: Client<'_>,
    pipeline: &Arc<Pipeline>,
    settings: &HttpFrontendSettings,
    upgrades: &Upgrades,
) -> Response<ResponseBody> {
    if let Some(upgrade) = upgrades.upgrade.as_ref().filter(|u| u.wants(&request)) {
        let context = UpgradeContext {
            peer: client.address,
            pipeline: pipeline.clone(),
            shutdown: upgrades.shutdown.clone(),
        };
        return match upgrade.upgrade(request, context).await {
            Ok(switching) => switching.map(|()| ResponseBody::full(bytes::Bytes::new())),
            Err(status) => error_response(&status),
        };
    }
    if upgrades.only {
        return error_response(&Status::not_found(
            "this listener serves WebSocket upgrades only",
        ));
    }
    if let Some(docs) = settings
        .api_docs
        .as_ref()
        .filter(|docs| docs.claims(request.uri().path()))
    {
        let table = pipeline.routes();
        if let Some(answer) =
            crate::describe::respond(docs, request.method(), request.uri().path(), &table)
        {
            return answer.map(ResponseBody::full);
        }
    }
    let peer = client.peer;
    let event_stream = accepts_event_stream(request.headers());
    let head = request.method() == http::Method::HEAD;
    let if_none_match = encode::if_none_match(request.headers());
    let request = match decode(request, peer, settings).await {
        Ok(request) => request,
        Err(status) => return error_response(&status),
    };
    let response = match pipeline.handle(request).await {
        Ok(answer) => encode::not_modified(
            success_response(answer, event_stream).await,
            if_none_match.as_ref(),
        ),
        Err(status) => {
            tracing::debug!(code = ?status.code(), message = status.message(), "request failed");
            error_response(&status)
        }
    };
    if head {
        // A HEAD request is its GET route's answer without the body.
        return response.map(|_| ResponseBody::full(bytes::Bytes::new()));
    }
    response
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
