//! `UpstreamReply`: what an HTTP backend (REST, plain XML) answered besides its message — its
//! status, the response headers its allow-list passes back and, for an error, its body — so a
//! frontend can pass the answer on as the backend sent it.

use http::HeaderMap;

use super::Payload;

/// Hop-by-hop headers (RFC 9110 7.6.1, plus the proxy ones): they belong to one connection, so
/// the gateway never passes them on, neither to a backend nor back to a client.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// An HTTP backend's own answer, for pass-through. The backend fills it; the mapping layer
/// decides (per route, with the backend's default) whether it reaches the client, converts an
/// XML error body to JSON and rewrites `Location`; the frontend writes it.
#[derive(Debug, Clone)]
pub struct UpstreamReply {
    /// The status to answer with: the backend's, except that a 5xx other than 503 and 504 is
    /// 502 (the gateway is the client's server).
    pub status: u16,
    /// The backend's response headers on its allow-list, `Location` excepted.
    pub headers: HeaderMap,
    /// A `Location` pointing at the backend, as a path (and query) under the backend's URL,
    /// for the route to rewrite into its own front path.
    pub location: Option<String>,
    /// A `Location` pointing elsewhere, passed on as it is.
    pub foreign_location: Option<http::HeaderValue>,
    /// An error answer's body when it is JSON (checked) or XML (decoded to UTF-8); `None` for
    /// successes (the message carries the body) and for bodies that are neither.
    pub body: Option<Payload>,
    /// The backend's `pass_through` setting, which a route may override.
    pub pass_through: bool,
}
