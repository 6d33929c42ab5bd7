//! `BackendCall` and the `Backend` trait: the one seam between the mapping layer and protocols.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};

use super::{GatewayResponse, MessageStream, Payload, Status};

/// The protocol a backend speaks, which decides the kind of route target that can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// gRPC, described by protobuf descriptors.
    Grpc,
    /// SOAP 1.1 or 1.2.
    Soap,
    /// Plain XML over HTTP.
    Xml,
    /// REST/JSON.
    Rest,
    /// An MQTT broker that messages are published to.
    Mqtt,
}

impl BackendKind {
    /// The key of the kind in configs and mapping files (`grpc`, `soap`, `xml`, `rest`).
    pub fn key(self) -> &'static str {
        match self {
            BackendKind::Grpc => "grpc",
            BackendKind::Soap => "soap",
            BackendKind::Xml => "xml",
            BackendKind::Rest => "rest",
            BackendKind::Mqtt => "mqtt",
        }
    }
}

/// The call shapes a backend method can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallShape {
    /// One request, one answer.
    Unary,
    /// One request, a stream of answers.
    ServerStreaming,
    /// A stream of requests, one answer.
    ClientStreaming,
    /// Streams both ways.
    Bidirectional,
}

impl CallShape {
    /// Whether the client sends a stream.
    pub fn client_streams(self) -> bool {
        matches!(self, CallShape::ClientStreaming | CallShape::Bidirectional)
    }

    /// Whether the backend answers with a stream.
    pub fn server_streams(self) -> bool {
        matches!(self, CallShape::ServerStreaming | CallShape::Bidirectional)
    }
}

/// The request messages of a call, already in the backend's form.
pub enum RequestMessages {
    /// One message.
    Unary(Payload),
    /// A stream of messages.
    Stream(MessageStream),
}

/// A call bound to a backend: what to invoke, with which messages, metadata and deadline.
pub struct BackendCall {
    /// The backend-specific operation: the gRPC path `/pkg.Service/Method`, the SOAP action, or
    /// the path and query (relative to the backend's URL) of a plain-XML or REST request.
    pub operation: Arc<str>,
    /// The HTTP method of backends whose calls are HTTP requests of their own (plain XML, REST);
    /// `POST` for the others.
    pub method: Method,
    /// The method's call shape.
    pub shape: CallShape,
    /// The request messages.
    pub messages: RequestMessages,
    /// Request metadata to send.
    pub metadata: HeaderMap,
    /// How long the backend may take.
    pub timeout: Option<Duration>,
    /// Whether repeating the call is safe: an idempotent HTTP method of a plain-XML or REST
    /// call, a gRPC method whose `idempotency_level` is set, or a route marked `retryable`.
    /// Only such calls are retried once the backend may have received them.
    pub idempotent: bool,
}

impl BackendCall {
    /// A unary call: one message (an empty one means no request body) to `operation`.
    pub fn unary(
        operation: Arc<str>,
        method: Method,
        message: Payload,
        metadata: HeaderMap,
        timeout: Duration,
    ) -> Self {
        Self {
            operation,
            shape: CallShape::Unary,
            messages: RequestMessages::Unary(message),
            idempotent: method.is_idempotent(),
            method,
            metadata,
            timeout: Some(timeout),
        }
    }
}

/// The future a backend returns.
pub type BackendFuture = Pin<Box<dyn Future<Output = Result<GatewayResponse, Status>> + Send>>;

/// A backend: turns a bound call into its protocol and answers with a response or a `Status`.
///
/// Implementations reuse connections across calls and map every protocol failure to a `Status`
/// in one place. Resilience policies wrap any `Backend` unchanged.
pub trait Backend: Send + Sync + 'static {
    /// The backend's configured name.
    fn name(&self) -> &str;

    /// Performs one call.
    fn call(&self, call: BackendCall) -> BackendFuture;

    /// The backend as `Any`, for readers that know a wrapper's concrete type (telemetry reads
    /// a resilience layer's endpoint state this way); `None` for plain backends.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}
