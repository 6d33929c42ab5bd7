//! `GrpcBackend`: calls any method of a gRPC server with protobuf bytes, no generated code.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use http::header::{CONTENT_TYPE, TE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use super::body::{payload_kind, GrpcRequestBody};
use super::channel::Channel;
use super::config::GrpcEndpoint;
use super::framing::{format_timeout, frame, status_from_trailers};
use super::response::{broken_stream, ResponseMessages};
use crate::backends::deadline::within;
use crate::model::{
    Backend, BackendCall, BackendFuture, Code, ErrorSource, GatewayResponse, Payload,
    RequestMessages, ResponseBody, Status,
};

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
}

impl GrpcBackend {
    /// A backend named `name` at `endpoint`; connects on first use.
    pub fn new(name: &str, endpoint: GrpcEndpoint) -> Self {
        let name: Arc<str> = Arc::from(name);
        let max_message_size = endpoint.max_message_size;
        Self {
            inner: Arc::new(Inner {
                channel: Channel::new(name.clone(), endpoint),
                name,
                max_message_size,
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
        Box::pin(async move {
            let timeout = call.timeout;
            within(timeout, inner.invoke(call)).await
        })
    }
}

impl Inner {
    async fn invoke(&self, call: BackendCall) -> Result<GatewayResponse, Status> {
        let request_failure = Arc::new(OnceLock::new());
        let request = self.build_request(
            &call.operation,
            call.messages,
            call.metadata,
            call.timeout,
            &request_failure,
        )?;
        let outcome = match self.send(request).await {
            Ok(response) => {
                self.read_response(response, call.shape.server_streams())
                    .await
            }
            Err(status) => Err(status),
        };
        // A request stream that failed (a bad NDJSON line) resets the call; its error is the answer.
        outcome.map_err(|status| request_failure.get().cloned().unwrap_or(status))
    }

    fn build_request(
        &self,
        operation: &str,
        messages: RequestMessages,
        metadata: HeaderMap,
        timeout: Option<Duration>,
        request_failure: &Arc<OnceLock<Status>>,
    ) -> Result<Request<GrpcRequestBody>, Status> {
        let body = match messages {
            RequestMessages::Unary(Payload::Protobuf(message)) => {
                GrpcRequestBody::Unary(Some(frame(&message)))
            }
            RequestMessages::Unary(other) => {
                return Err(Status::internal(format!(
                    "gRPC backend '{}' received a {} message instead of protobuf",
                    self.name,
                    payload_kind(&other)
                )))
            }
            RequestMessages::Stream(stream) => {
                GrpcRequestBody::Stream(stream, request_failure.clone())
            }
        };
        let uri = Uri::builder()
            .scheme(self.channel.scheme().clone())
            .authority(self.channel.authority().clone())
            .path_and_query(operation)
            .build()
            .map_err(|e| {
                Status::internal(format!("invalid gRPC method path '{operation}': {e}"))
            })?;
        let mut request = Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        *headers = metadata;
        headers.insert(CONTENT_TYPE, GRPC_CONTENT_TYPE);
        headers.insert(TE, TRAILERS);
        headers.entry(USER_AGENT).or_insert(POLYGATE_AGENT);
        if let Some(timeout) = timeout {
            if let Ok(value) = HeaderValue::from_str(&format_timeout(timeout)) {
                headers.insert(HeaderName::from_static("grpc-timeout"), value);
            }
        }
        Ok(request)
    }

    /// Sends on the shared connection; a request the dead connection never took is sent once
    /// more on a fresh one, so a restarted backend costs no failed call.
    async fn send(&self, request: Request<GrpcRequestBody>) -> Result<Response<Incoming>, Status> {
        let mut sender = self.channel.sender().await?;
        match sender.try_send_request(request).await {
            Ok(response) => Ok(response),
            Err(mut failed) => {
                self.channel.discard_if_closed();
                match failed.take_message() {
                    Some(request) => {
                        let mut sender = self.channel.sender().await?;
                        sender.send_request(request).await.map_err(|e| {
                            self.channel.discard_if_closed();
                            self.channel.unreachable(e.to_string())
                        })
                    }
                    None => Err(broken_stream(failed.error())),
                }
            }
        }
    }

    async fn read_response(
        &self,
        response: Response<Incoming>,
        server_streams: bool,
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
        let mut messages = ResponseMessages::new(body, self.max_message_size);
        if server_streams {
            return Ok(GatewayResponse {
                metadata,
                body: ResponseBody::Stream(Box::pin(messages)),
            });
        }
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

fn merge(mut headers: HeaderMap, trailers: HeaderMap) -> HeaderMap {
    headers.extend(response_metadata(trailers));
    headers
}

/// The metadata an application set: protocol headers removed.
fn response_metadata(mut headers: HeaderMap) -> HeaderMap {
    for name in [
        "content-type",
        "grpc-status",
        "grpc-message",
        "grpc-status-details-bin",
        "grpc-encoding",
        "grpc-accept-encoding",
        "content-length",
        "date",
        "te",
        "trailer",
    ] {
        headers.remove(name);
    }
    headers
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
