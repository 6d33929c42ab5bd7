//! `GrpcBackend`: calls any method of a gRPC server with protobuf bytes, no generated code.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::StreamExt;
use h2::client::ResponseFuture;
use h2::{RecvStream, SendStream};
use http::header::{CONTENT_TYPE, TE, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};

use super::body::{payload_kind, pump};
use super::channel::Channel;
use super::config::GrpcEndpoint;
use super::framing::{format_timeout, frame, status_from_trailers};
use super::response::{broken_stream, ResponseMessages};
use super::stall::{self, PumpSignal, ReadProgress, Resetter};
use crate::backends::deadline::within;
use crate::model::{
    Backend, BackendCall, BackendFuture, Code, ErrorSource, GatewayResponse, Payload,
    RequestMessages, ResponseBody, Status,
};

const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
const GRPC_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/grpc");
const TRAILERS: HeaderValue = HeaderValue::from_static("trailers");
const POLYGATE_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("polygate/", env!("CARGO_PKG_VERSION")));

/// A gRPC backend: one HTTP/2 connection, shared by all calls.
#[derive(Clone)]
pub struct GrpcBackend {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    channel: Channel,
    max_message_size: usize,
    stalled_reader_timeout: Duration,
    /// Method paths already parsed; a backend has a fixed, small set of methods.
    paths: ArcSwap<HashMap<Arc<str>, PathAndQuery>>,
}

impl GrpcBackend {
    /// A backend named `name` at `endpoint`; connects on first use.
    pub fn new(name: &str, endpoint: GrpcEndpoint) -> Self {
        let name: Arc<str> = Arc::from(name);
        let max_message_size = endpoint.max_message_size;
        let stalled_reader_timeout = endpoint.stalled_reader_timeout;
        Self {
            inner: Arc::new(Inner {
                stalled_reader_timeout,
                channel: Channel::new(name.clone(), endpoint),
                name,
                max_message_size,
                paths: ArcSwap::default(),
            }),
        }
    }
}

impl Backend for GrpcBackend {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn call(&self, call: BackendCall) -> BackendFuture {
        let inner = self.inner.clone();
        let timeout = call.timeout;
        Box::pin(within(timeout, async move { inner.invoke(call).await }))
    }
}

impl Inner {
    async fn invoke(&self, call: BackendCall) -> Result<GatewayResponse, Status> {
        let head = self.request_head(&call.operation, call.metadata, call.timeout)?;
        let request_failure = Arc::new(OnceLock::new());
        let (response, resetter) = match call.messages {
            RequestMessages::Unary(Payload::Protobuf(message)) => {
                let (response, mut stream) = self.open_stream(head).await?;
                stream
                    .send_data(frame(&message), true)
                    .map_err(|e| broken_stream(&e))?;
                (response.await, Resetter::Stream(stream))
            }
            RequestMessages::Unary(other) => {
                return Err(Status::internal(format!(
                    "gRPC backend '{}' received a {} message instead of protobuf",
                    self.name,
                    payload_kind(&other)
                )))
            }
            RequestMessages::Stream(messages) => {
                let (response, stream) = self.open_stream(head).await?;
                let signal = Arc::new(PumpSignal::default());
                // Streamed requests go on while the answer comes in, so they get a task.
                tokio::spawn(pump(
                    messages,
                    stream,
                    request_failure.clone(),
                    call.shape.server_streams().then(|| signal.clone()),
                ));
                (response.await, Resetter::Pump(signal))
            }
        };
        let outcome = match response {
            Ok(response) => {
                self.read_response(response, call.shape.server_streams(), resetter)
                    .await
            }
            Err(error) => Err(broken_stream(&error)),
        };
        // A request stream that failed (a bad NDJSON line) resets the call; its error is the answer.
        outcome.map_err(|status| request_failure.get().cloned().unwrap_or(status))
    }

    fn request_head(
        &self,
        operation: &str,
        metadata: HeaderMap,
        timeout: Option<Duration>,
    ) -> Result<Request<()>, Status> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.channel.scheme().clone());
        parts.authority = Some(self.channel.authority().clone());
        parts.path_and_query = Some(self.method_path(operation)?);
        let uri = Uri::from_parts(parts).map_err(|e| {
            Status::internal(format!("invalid gRPC method path '{operation}': {e}"))
        })?;
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        *headers = metadata;
        headers.insert(CONTENT_TYPE, GRPC_CONTENT_TYPE);
        headers.insert(TE, TRAILERS);
        headers.entry(USER_AGENT).or_insert(POLYGATE_AGENT);
        if let Some(timeout) = timeout {
            headers.insert(GRPC_TIMEOUT, format_timeout(timeout));
        }
        Ok(request)
    }

    /// The parsed `:path` of `operation`, parsed once per method.
    fn method_path(&self, operation: &str) -> Result<PathAndQuery, Status> {
        if let Some(path) = self.paths.load().get(operation) {
            return Ok(path.clone());
        }
        let path = PathAndQuery::try_from(operation).map_err(|e| {
            Status::internal(format!("invalid gRPC method path '{operation}': {e}"))
        })?;
        self.paths.rcu(|paths| {
            let mut paths = HashMap::clone(paths);
            paths.insert(Arc::from(operation), path.clone());
            paths
        });
        Ok(path)
    }

    /// Opens a stream on a pooled connection. A connection found dead before the request goes
    /// out is replaced once, so a restarted backend costs no failed call. Metadata larger than
    /// the connection takes is refused here, for this call only: sent, it would make the backend
    /// reset the whole connection.
    async fn open_stream(
        &self,
        head: Request<()>,
    ) -> Result<(ResponseFuture, SendStream<Bytes>), Status> {
        let size = header_list_size(&head);
        let mut retried = false;
        let (mut sender, slot) = loop {
            let live = self.channel.live().await?;
            if size > live.max_header_list_size {
                return Err(Status::metadata_too_large(format!(
                    "the request's metadata ({size} bytes as HTTP/2 counts it) exceeds the {} bytes backend '{}' accepts",
                    live.max_header_list_size, self.name
                )));
            }
            match live.sender.ready().await {
                Ok(ready) => break (ready, live.slot),
                Err(_) if !retried => {
                    self.channel.discard(live.slot);
                    retried = true;
                }
                Err(error) => {
                    self.channel.discard(live.slot);
                    return Err(self.channel.unreachable(error.to_string()));
                }
            }
        };
        sender.send_request(head, false).map_err(|error| {
            self.channel.discard(slot);
            self.channel.unreachable(error.to_string())
        })
    }

    async fn read_response(
        &self,
        response: Response<RecvStream>,
        server_streams: bool,
        resetter: Resetter,
    ) -> Result<GatewayResponse, Status> {
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(status_from_http(parts.status));
        }
        let grpc_content = parts
            .headers
            .get(CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
        // A trailers-only answer carries its status in the headers.
        if let Some(result) = status_from_trailers(&parts.headers) {
            let metadata = response_metadata(parts.headers);
            return match result {
                Err(status) => Err(status.with_metadata(metadata)),
                Ok(()) if server_streams => Ok(GatewayResponse {
                    upstream: None,
                    cache: None,
                    metadata,
                    body: ResponseBody::Stream(Box::pin(futures_util::stream::empty())),
                }),
                Ok(()) => Err(Status::new(
                    Code::Internal,
                    "backend answered a unary call with no message",
                    ErrorSource::Backend,
                )),
            };
        }
        if !grpc_content {
            return Err(Status::new(
                Code::Unknown,
                "backend answered with a content type other than application/grpc",
                ErrorSource::Backend,
            ));
        }
        let metadata = response_metadata(parts.headers);
        if server_streams {
            let mut body = body;
            let flow = body.flow_control().clone();
            let progress = Arc::new(ReadProgress::default());
            tokio::spawn(stall::watch(
                flow,
                progress.clone(),
                resetter,
                self.stalled_reader_timeout,
            ));
            let messages = ResponseMessages::new(body, self.max_message_size, Some(progress));
            return Ok(GatewayResponse {
                upstream: None,
                cache: None,
                metadata,
                body: ResponseBody::Stream(Box::pin(messages)),
            });
        }
        let mut messages = ResponseMessages::new(body, self.max_message_size, None);
        let message = match messages.next().await {
            Some(Ok(message)) => message,
            Some(Err(status)) => {
                return Err(status.with_metadata(merge(metadata, messages.take_trailers())))
            }
            None => {
                return Err(Status::new(
                    Code::Internal,
                    "backend answered a unary call with no message",
                    ErrorSource::Backend,
                ))
            }
        };
        match messages.next().await {
            None => Ok(GatewayResponse {
                upstream: None,
                cache: None,
                metadata,
                body: ResponseBody::Unary {
                    message,
                    trailers: response_metadata(messages.take_trailers()),
                },
            }),
            Some(Ok(_)) => Err(Status::new(
                Code::Internal,
                "backend sent more than one message for a unary call",
                ErrorSource::Backend,
            )),
            Some(Err(status)) => {
                Err(status.with_metadata(merge(metadata, messages.take_trailers())))
            }
        }
    }
}

/// The size of a request's header list as HTTP/2 counts it (RFC 9113 §6.5.2): every field's
/// name and value plus 32 bytes, pseudo-headers included.
fn header_list_size(request: &Request<()>) -> usize {
    const PER_FIELD: usize = 32;
    let uri = request.uri();
    let pseudo = ":method".len()
        + request.method().as_str().len()
        + ":scheme".len()
        + uri.scheme_str().map_or(0, str::len)
        + ":authority".len()
        + uri.authority().map_or(0, |a| a.as_str().len())
        + ":path".len()
        + uri.path_and_query().map_or(0, |p| p.as_str().len())
        + 4 * PER_FIELD;
    request
        .headers()
        .iter()
        .fold(pseudo, |total, (name, value)| {
            total + name.as_str().len() + value.len() + PER_FIELD
        })
}

fn merge(mut headers: HeaderMap, trailers: HeaderMap) -> HeaderMap {
    headers.extend(response_metadata(trailers));
    headers
}

/// The metadata an application set: protocol headers removed.
fn response_metadata(headers: HeaderMap) -> HeaderMap {
    // Most answers carry protocol headers only: skip building a map for them.
    if headers.keys().all(is_protocol_header) {
        return HeaderMap::new();
    }
    let mut metadata = HeaderMap::with_capacity(headers.len());
    let mut current = None;
    for (name, value) in headers {
        if let Some(name) = name {
            current = (!is_protocol_header(&name)).then_some(name);
        }
        if let Some(name) = &current {
            metadata.append(name.clone(), value);
        }
    }
    metadata
}

/// Headers gRPC and HTTP use for themselves, not set by the application.
fn is_protocol_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-type"
            | "grpc-status"
            | "grpc-message"
            | "grpc-status-details-bin"
            | "grpc-encoding"
            | "grpc-accept-encoding"
            | "content-length"
            | "date"
            | "te"
            | "trailer"
    )
}

/// gRPC's mapping of an HTTP status from a non-gRPC hop (a proxy, a wrong port) to a code.
fn status_from_http(status: StatusCode) -> Status {
    let code = match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(
        code,
        format!("backend answered HTTP {status} instead of a gRPC response"),
        ErrorSource::Backend,
    )
}
