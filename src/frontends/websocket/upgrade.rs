//! The WebSocket handshake on the HTTP listener: an `Upgrade: websocket` request is checked
//! (method, version, key, `Origin` against the allow-list, the route) before anything is
//! upgraded, answered `101 Switching Protocols` with the negotiated subprotocol and no
//! extensions, and the upgraded connection is served by the multiplexed endpoint's driver or
//! the direct binding's.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::header::{
    CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::config::{AllowedOrigin, WebSocketSettings};
use super::protocol::SUBPROTOCOL;
use super::{connection, direct, Connection};
use crate::frontends::http::{forwarded_metadata, Peer, Upgrade, UpgradeContext};
use crate::model::{CallShape, Code, ErrorSource, FrontendKind, RequestKey, Status};

/// The WebSocket frontend as the HTTP listener sees it: it takes every `Upgrade: websocket`
/// request.
pub struct WebSocketEndpoint {
    settings: Arc<WebSocketSettings>,
    socket: WebSocketConfig,
    open: Arc<Tracker>,
}

impl WebSocketEndpoint {
    /// The endpoint for `settings`.
    pub fn new(settings: WebSocketSettings) -> Self {
        let socket = WebSocketConfig::default()
            .read_buffer_size(settings.read_buffer_size)
            .write_buffer_size(settings.write_buffer_size)
            .max_message_size(Some(settings.max_message_size))
            .max_frame_size(Some(settings.max_message_size));
        Self {
            settings: Arc::new(settings),
            socket,
            open: Arc::new(Tracker::default()),
        }
    }

    /// Where the endpoint listens when it has a listener of its own.
    pub fn own_listener(&self) -> Option<std::net::SocketAddr> {
        self.settings.listen
    }
}

/// Which way in a socket takes.
enum Way {
    /// The multiplexed endpoint; false when the client did not offer `polygate.v1`.
    Envelope { accepted: bool },
    /// A route bound to the path.
    Direct { key: RequestKey, shape: CallShape },
}

impl Upgrade for WebSocketEndpoint {
    fn wants(&self, request: &Request<Incoming>) -> bool {
        has_token(request.headers(), &UPGRADE, "websocket")
    }

    fn upgrade(
        &self,
        request: Request<Incoming>,
        context: UpgradeContext,
    ) -> Pin<Box<dyn Future<Output = Result<Response<()>, Status>> + Send + '_>> {
        Box::pin(self.answer(request, context))
    }

    fn drained(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let open = self.open.clone();
        Box::pin(async move { open.idle().await })
    }
}

impl WebSocketEndpoint {
    /// [`Upgrade::upgrade`]: checks the handshake, the origin, the route and the credentials,
    /// then answers `101` and serves the upgraded connection in the background.
    async fn answer(
        &self,
        mut request: Request<Incoming>,
        context: UpgradeContext,
    ) -> Result<Response<()>, Status> {
        let accept = handshake(&request)?;
        let headers = request.headers();
        check_origin(headers, &self.settings.allowed_origins)?;
        let way = if request.uri().path() == self.settings.path {
            Way::Envelope {
                accepted: offers(headers, SUBPROTOCOL),
            }
        } else {
            let key = RequestKey::WebSocket {
                uri: request.uri().clone(),
            };
            let shape = context.pipeline.call_shape(&key)?;
            Way::Direct { key, shape }
        };
        // The upgrade is authenticated before the 101: a credential sent must be valid, and
        // none at all is refused unless the socket's route (the default authentication, for
        // the multiplexed endpoint) is public. Each call is admitted again by the pipeline.
        let caller = {
            let route = match &way {
                Way::Direct { key, .. } => Some(context.pipeline.route(key)?),
                Way::Envelope { .. } => None,
            };
            let peer = Peer::new(context.peer);
            let probe = peer.caller(FrontendKind::WebSocket, headers.clone());
            let identity = context
                .pipeline
                .policies()
                .connect(
                    route.as_ref().map(|r| &r.options.policy),
                    &probe,
                    request.uri().query(),
                )
                .await?;
            crate::model::Caller {
                identity,
                ..peer.caller(FrontendKind::WebSocket, HeaderMap::new())
            }
        };
        let metadata = detached(forwarded_metadata(
            headers,
            request.uri(),
            &Peer::new(context.peer),
            &self.settings.forward_headers,
        )?);
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let response_headers = response.headers_mut();
        response_headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        response_headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        response_headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        if let Way::Envelope { accepted: true } = way {
            response_headers.insert(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(SUBPROTOCOL),
            );
        }
        let connection = Connection {
            settings: self.settings.clone(),
            pipeline: context.pipeline,
            metadata,
            caller,
            shutdown: context.shutdown,
        };
        let config = self.socket;
        let guard = self.open.enter();
        let upgrading = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            let _open = guard;
            let upgraded = match upgrading.await {
                Ok(upgraded) => upgraded,
                Err(error) => {
                    tracing::debug!(%error, "WebSocket upgrade failed");
                    return;
                }
            };
            let socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            let telemetry = connection.pipeline.telemetry().clone();
            telemetry.metrics.websocket.connected();
            let _counted = Disconnected(&telemetry.metrics.websocket);
            match way {
                Way::Envelope { accepted } => connection::serve(socket, connection, accepted).await,
                Way::Direct { key, shape } => direct::serve(socket, connection, key, shape).await,
            }
        });
        Ok(response)
    }
}

/// Checks the handshake's request (RFC 6455 §4.2.1) and returns the `Sec-WebSocket-Accept`.
fn handshake(request: &Request<Incoming>) -> Result<HeaderValue, Status> {
    if request.method() != Method::GET {
        return Err(Status::wrong_method(
            format!("a WebSocket is opened with GET, not {}", request.method()),
            "GET".into(),
        ));
    }
    if request.version() != Version::HTTP_11 {
        return Err(Status::invalid_argument(
            "WebSockets are opened over HTTP/1.1 (an Upgrade request)",
        ));
    }
    let headers = request.headers();
    if !has_token(headers, &CONNECTION, "upgrade") {
        return Err(Status::invalid_argument(
            "a WebSocket upgrade needs Connection: Upgrade",
        ));
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(Status::invalid_argument(
            "a WebSocket upgrade needs Sec-WebSocket-Version: 13",
        ));
    }
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| Status::invalid_argument("a WebSocket upgrade needs Sec-WebSocket-Key"))?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| Status::internal("the Sec-WebSocket-Accept value is not a header value"))
}

/// The metadata with every value copied out of the upgrade request's read buffer: hyper's
/// header values are slices of that buffer (16 KiB), which a value kept for the socket's whole
/// life would keep alive.
fn detached(metadata: HeaderMap) -> HeaderMap {
    let mut owned = HeaderMap::with_capacity(metadata.len());
    for (name, value) in &metadata {
        let copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        owned.append(name.clone(), copy);
    }
    owned
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: &http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// Whether the client offered the subprotocol (names are case-sensitive).
fn offers(headers: &HeaderMap, subprotocol: &str) -> bool {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| item.trim() == subprotocol)
}

/// Browsers send `Origin`; a page from an origin that is neither allowed nor the gateway's own
/// is refused before the upgrade (403), so that no other site can use a visitor's cookies.
fn check_origin(headers: &HeaderMap, allowed: &[AllowedOrigin]) -> Result<(), Status> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
    let listed = allowed.iter().any(|allowed| match allowed {
        AllowedOrigin::Any => true,
        AllowedOrigin::Exact(exact) => *exact == origin,
    });
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let same = origin
        .split_once("://")
        .is_some_and(|(_, authority)| Some(authority) == host.as_deref());
    if listed || same {
        Ok(())
    } else {
        Err(Status::new(
            Code::PermissionDenied,
            format!("origin '{origin}' may not open WebSockets here (websocket.allowed_origins)"),
            ErrorSource::Client,
        ))
    }
}

/// Counts open connections, so that shutdown can wait for them.
#[derive(Debug, Default)]
struct Tracker {
    open: AtomicUsize,
    idle: Notify,
}

struct Open(Arc<Tracker>);

impl Tracker {
    fn enter(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::AcqRel);
        Open(self.clone())
    }

    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Counts a WebSocket connection closed when dropped, however its driver ends.
struct Disconnected<'a>(&'a crate::telemetry::metrics::WebSocketMetrics);

impl Drop for Disconnected<'_> {
    fn drop(&mut self) {
        self.0.disconnected();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn origins_are_the_gateways_own_listed_or_refused() {
        let none: &[AllowedOrigin] = &[];
        assert!(check_origin(&headers(&[("host", "gw:8080")]), none).is_ok());
        assert!(check_origin(
            &headers(&[("host", "gw:8080"), ("origin", "http://gw:8080")]),
            none
        )
        .is_ok());
        let refused = check_origin(
            &headers(&[("host", "gw:8080"), ("origin", "https://evil.example")]),
            none,
        )
        .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(
            refused.message(),
            "origin 'https://evil.example' may not open WebSockets here (websocket.allowed_origins)"
        );
        let listed = [AllowedOrigin::Exact("https://app.example".into())];
        assert!(check_origin(
            &headers(&[("host", "gw:8080"), ("origin", "HTTPS://app.example")]),
            &listed
        )
        .is_ok());
        assert!(check_origin(
            &headers(&[("origin", "https://other.example")]),
            &[AllowedOrigin::Any]
        )
        .is_ok());
    }

    #[test]
    fn kept_metadata_owns_its_bytes() {
        let buffer = bytes::Bytes::from_static(b"Bearer abc, and more");
        let shared = HeaderValue::from_maybe_shared(buffer.slice(0..10)).unwrap();
        let mut metadata = HeaderMap::new();
        metadata.append("authorization", shared.clone());
        let owned = detached(metadata);
        assert_eq!(owned["authorization"], "Bearer abc");
        assert_ne!(
            owned["authorization"].as_bytes().as_ptr(),
            shared.as_bytes().as_ptr()
        );
    }

    #[test]
    fn subprotocols_and_tokens_are_read_from_lists() {
        let h = headers(&[
            ("sec-websocket-protocol", "graphql-ws, polygate.v1"),
            ("connection", "keep-alive, Upgrade"),
        ]);
        assert!(offers(&h, SUBPROTOCOL));
        assert!(!offers(&h, "polygate.v2"));
        assert!(has_token(&h, &CONNECTION, "upgrade"));
    }

    #[tokio::test]
    async fn the_tracker_resolves_once_every_connection_ended() {
        let tracker = Arc::new(Tracker::default());
        tracker.idle().await;
        let open = tracker.enter();
        let waiting = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.idle().await }
        });
        drop(open);
        waiting.await.unwrap();
    }
}
