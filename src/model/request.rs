//! `GatewayRequest`: what a frontend decoded, before the mapping layer binds it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Uri};

use super::{MessageStream, Payload};

/// What identifies the route a request wants, in the words of the client's protocol.
#[derive(Debug, Clone)]
pub enum RequestKey {
    /// An HTTP method and URI (path and query, still percent-encoded).
    Http {
        /// The request method.
        method: Method,
        /// The request target; only path and query are used.
        uri: Uri,
    },
    /// The topic a message was published to (MQTT).
    Topic {
        /// The topic name, exactly as published.
        topic: Box<str>,
    },
    /// A WebSocket opened on a path (the direct binding of a route to a WebSocket path).
    WebSocket {
        /// The upgrade request's target; only path and query are used.
        uri: Uri,
    },
    /// A backend method named by its full name, `pkg.Service/Method`; the request is the whole
    /// request message and the answer the whole response message.
    Method {
        /// `pkg.Service/Method`.
        name: Box<str>,
    },
}

impl RequestKey {
    /// The operation the client named with the address (an HTTP method); none for the others.
    pub fn verb(&self) -> Option<&Method> {
        match self {
            Self::Http { method, .. } => Some(method),
            Self::Topic { .. } | Self::WebSocket { .. } | Self::Method { .. } => None,
        }
    }

    /// What the client addressed: a raw path (still percent-encoded), a topic name or a
    /// method name.
    pub fn target(&self) -> &str {
        match self {
            Self::Http { uri, .. } | Self::WebSocket { uri } => uri.path(),
            Self::Topic { topic } => topic,
            Self::Method { name } => name,
        }
    }

    /// The raw query string that came with the address, if any.
    pub fn query(&self) -> Option<&str> {
        match self {
            Self::Http { uri, .. } | Self::WebSocket { uri } => uri.query(),
            Self::Topic { .. } | Self::Method { .. } => None,
        }
    }
}

/// The messages a client sent.
pub enum RequestBody {
    /// No body at all (or an empty one).
    Empty,
    /// One message.
    Unary(Payload),
    /// A stream of messages (an NDJSON request body, a WebSocket call).
    Stream(MessageStream),
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestBody::Empty => f.write_str("Empty"),
            RequestBody::Unary(p) => f.debug_tuple("Unary").field(p).finish(),
            RequestBody::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// A request as a frontend decoded it: route key, messages, metadata and deadline.
#[derive(Debug)]
pub struct GatewayRequest {
    /// What the mapping layer matches a route with.
    pub key: RequestKey,
    /// The client's messages.
    pub body: RequestBody,
    /// Metadata to forward to the backend (already filtered by the frontend's allowlist).
    pub metadata: HeaderMap,
    /// The time the client allows, if it set one; otherwise the route's timeout applies.
    pub timeout: Option<Duration>,
    /// Who sent it and through which frontend, for metrics and the access log; never used for
    /// routing.
    pub context: RequestContext,
}

/// The frontend a request came through: a closed set, so metrics keep one slot per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FrontendKind {
    /// The REST/JSON frontend (`http:`).
    Rest,
    /// The WebSocket frontend (`websocket:`).
    WebSocket,
    /// The MQTT frontend (`mqtt:`).
    Mqtt,
    /// Any other frontend (one registered in code, as the tests do).
    #[default]
    Other,
}

impl FrontendKind {
    /// Every kind, in slot order.
    pub const ALL: [FrontendKind; 4] = [Self::Rest, Self::WebSocket, Self::Mqtt, Self::Other];

    /// The kind's slot (0..4).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label metrics and logs use: `rest`, `websocket`, `mqtt`, `other`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rest => "rest",
            Self::WebSocket => "websocket",
            Self::Mqtt => "mqtt",
            Self::Other => "other",
        }
    }
}

/// Who sent a request and through which frontend.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The frontend it came through.
    pub frontend: FrontendKind,
    /// The client's address, when the frontend knows it.
    pub client: Option<SocketAddr>,
    /// Who the client is, once authenticated (an MQTT client id, later a JWT subject).
    pub principal: Option<Arc<str>>,
}

impl RequestContext {
    /// A request through `frontend` from `client`.
    pub fn new(frontend: FrontendKind, client: Option<SocketAddr>) -> Self {
        Self {
            frontend,
            client,
            principal: None,
        }
    }
}
