//! `GatewayRequest`: what a frontend decoded, before the mapping layer binds it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

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
    /// Who sent it and through which frontend: what the policies authenticate and rate-limit
    /// by, and what metrics and the access log record; never used for routing.
    pub caller: Caller,
}

/// Who sent a request, as far as its frontend knows: what the policies (`policy/`)
/// authenticate and rate-limit by. A frontend fills what it has and leaves the rest empty.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The frontend the request came through (metrics and the access log count by it).
    pub frontend: FrontendKind,
    /// The address of the connection's peer (not a forwarded one).
    pub address: Option<SocketAddr>,
    /// The request's headers as the client sent them (credentials, `X-Forwarded-For`); empty
    /// where the protocol has none.
    pub headers: HeaderMap,
    /// The client's own identifier, where its protocol names one (an MQTT client id).
    pub client_id: Option<Box<str>>,
    /// An identity the policies established earlier on the same connection (at a WebSocket
    /// upgrade); the request's own credentials are not looked at when it is set.
    pub identity: Option<Arc<Identity>>,
}

/// A caller the policies authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// How it authenticated: `api_key` or `jwt`.
    pub scheme: &'static str,
    /// Who it is: the API key's name or the token's `sub`.
    pub subject: Box<str>,
    /// The scopes it holds (an API key's configured scopes; a token's `scope`/`scp`).
    pub scopes: Vec<Box<str>>,
    /// Metadata forwarded to backends for it (claims mapped to metadata, e.g. `x-user-id`).
    pub metadata: Vec<(HeaderName, HeaderValue)>,
    /// When its credential stops being valid (a token's `exp`), if it does.
    pub expires: Option<SystemTime>,
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
