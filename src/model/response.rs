//! `GatewayResponse`: a backend's answer, one message or a stream of them, plus metadata.

use std::pin::Pin;

use futures_util::Stream;
use http::{HeaderMap, HeaderValue};

use super::{Payload, Status, UpstreamReply};

/// A bounded stream of messages, ended early by a `Status` on error.
pub type MessageStream = Pin<Box<dyn Stream<Item = Result<Payload, Status>> + Send>>;

/// The messages of an answer.
pub enum ResponseBody {
    /// One message, followed by the trailers the backend sent after it.
    Unary {
        /// The message.
        message: Payload,
        /// Trailing metadata.
        trailers: HeaderMap,
    },
    /// A stream of messages (server streaming).
    Stream(MessageStream),
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseBody::Unary { message, trailers } => f
                .debug_struct("Unary")
                .field("message", message)
                .field("trailers", trailers)
                .finish(),
            ResponseBody::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// A backend's answer.
#[derive(Debug)]
pub struct GatewayResponse {
    /// Leading metadata the backend sent.
    pub metadata: HeaderMap,
    /// The message or messages.
    pub body: ResponseBody,
    /// An HTTP backend's own status and headers, to pass on (REST and plain-XML backends).
    pub upstream: Option<Box<UpstreamReply>>,
    /// What the response cache did, for the frontend to tell the client (`ETag`, `Age`,
    /// `Cache-Status`); `None` on routes without `cache:`.
    pub cache: Option<Box<CacheFacts>>,
}

/// The response cache's facts about one answer, written by the pipeline, read by frontends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFacts {
    /// The RFC 9211 `Cache-Status` value, e.g. `polygate; hit`.
    pub status: HeaderValue,
    /// The stored answer's strong validator; `None` when the answer was not stored.
    pub etag: Option<HeaderValue>,
    /// Seconds since the answer was stored, for `Age`; `None` for a fresh backend answer.
    pub age: Option<u64>,
}
