//! HTTP request → `GatewayRequest`: metadata by allowlist, deadline, and the body as one JSON
//! message, raw bytes, or a stream of NDJSON messages.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::config::HttpFrontendSettings;
use super::request_id::X_REQUEST_ID;
use crate::model::{
    Caller, FrontendKind, GatewayRequest, Payload, RequestBody, RequestKey, Status, HOP_BY_HOP,
};

const METADATA_PREFIX: &str = "grpc-metadata-";
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const METHOD_OVERRIDE: HeaderName = HeaderName::from_static("x-http-method-override");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The client at the other end of a connection, worked out once per connection.
#[derive(Debug, Clone)]
pub struct Peer {
    ip: HeaderValue,
    address: SocketAddr,
}

impl Peer {
    /// The peer at `address`.
    pub fn new(address: SocketAddr) -> Self {
        let ip = HeaderValue::from_str(&address.ip().to_string())
            .unwrap_or(HeaderValue::from_static("unknown"));
        Self { ip, address }
    }

    fn ip(&self) -> &HeaderValue {
        &self.ip
    }

    /// The caller this peer is through `frontend`, with the request's `headers` (its
    /// credentials).
    pub fn caller(&self, frontend: FrontendKind, headers: HeaderMap) -> Caller {
        Caller {
            frontend,
            address: Some(self.address),
            headers,
            ..Caller::default()
        }
    }
}

/// Decodes the parts of an HTTP request the pipeline needs.
pub(crate) async fn decode(
    request: Request<Incoming>,
    peer: &Peer,
    settings: &HttpFrontendSettings,
) -> Result<GatewayRequest, Status> {
    let (parts, body) = request.into_parts();
    let timeout = match parts.headers.get(GRPC_TIMEOUT) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(parse_grpc_timeout)
                .ok_or_else(|| {
                    Status::invalid_argument(
                        "invalid Grpc-Timeout header; use gRPC's syntax, e.g. 500m or 2S",
                    )
                })?,
        ),
    };
    let method = routed_method(&parts.method, &parts.headers, settings)?;
    let metadata = forwarded_metadata(&parts.headers, &parts.uri, peer, &settings.forward_headers)?;
    let body = read_body(&parts.headers, body, settings).await?;
    Ok(GatewayRequest {
        key: request_key(method, parts.uri),
        body,
        metadata,
        timeout,
        caller: peer.caller(FrontendKind::Rest, parts.headers),
    })
}

/// The method a request is routed as: with `method_override`, a POST as the method its
/// `X-HTTP-Method-Override` names. (HEAD reaches a path's GET route unless a route claims HEAD;
/// the server drops the body.)
fn routed_method(
    method: &Method,
    headers: &HeaderMap,
    settings: &HttpFrontendSettings,
) -> Result<Method, Status> {
    if *method != Method::POST || !settings.method_override {
        return Ok(method.clone());
    }
    let Some(value) = headers.get(METHOD_OVERRIDE) else {
        return Ok(Method::POST);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().to_ascii_uppercase())
        .filter(|v| !v.is_empty() && v != "CONNECT" && v != "TRACE")
        .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
        .ok_or_else(|| {
            Status::invalid_argument(
                "X-HTTP-Method-Override must name an HTTP method such as PUT, PATCH or DELETE",
            )
        })
}

/// The route key of an HTTP method and target: how REST clients, and WebSocket calls naming a
/// route the way REST clients do, address a route.
pub fn request_key(method: Method, uri: Uri) -> RequestKey {
    RequestKey::Http { method, uri }
}

/// Parses a `Grpc-Timeout` value: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// Forwarded metadata: allowlisted headers, `X-Request-Id` (always), every `Grpc-Metadata-*`
/// header under its own name,
/// and `X-Forwarded-For/-Host/-Proto`. Values gRPC cannot carry are skipped.
pub fn forwarded_metadata(
    headers: &HeaderMap,
    uri: &Uri,
    peer: &Peer,
    forward_headers: &[HeaderName],
) -> Result<HeaderMap, Status> {
    let mut metadata = HeaderMap::with_capacity(8);
    // Headers the client named in `Connection` belong to its hop: never forwarded.
    let hop_named: Vec<&str> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    // The earlier proxies' `X-Forwarded-For` and the `Host` are picked up on the way (their
    // first values, as `HeaderMap::get` would give), saving two lookups per request.
    let (mut forwarded_before, mut host) = (None, None);
    for (name, value) in headers {
        if *name == HOST {
            host.get_or_insert(value);
        } else if *name == X_FORWARDED_FOR {
            forwarded_before.get_or_insert(value);
        }
        if HOP_BY_HOP.contains(&name.as_str())
            || hop_named
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name.as_str()))
        {
            continue;
        }
        if let Some(key) = name.as_str().strip_prefix(METADATA_PREFIX) {
            let Ok(key) = HeaderName::from_bytes(key.as_bytes()) else {
                continue;
            };
            if !is_metadata_key(key.as_str()) {
                continue;
            }
            if key.as_str().ends_with("-bin") {
                if !is_base64(value.as_bytes()) {
                    return Err(Status::invalid_argument(format!(
                        "header {name} must be base64, as its -Bin suffix says"
                    )));
                }
            } else if !is_printable_ascii(value) {
                continue;
            }
            metadata.append(key, value.clone());
        } else if (forward_headers.contains(name) || name == X_REQUEST_ID)
            && is_printable_ascii(value)
        {
            metadata.append(name.clone(), value.clone());
        }
    }
    let forwarded_for = match forwarded_before.and_then(|v| v.to_str().ok()) {
        Some(earlier) => HeaderValue::from_str(&format!(
            "{earlier}, {}",
            peer.ip().to_str().unwrap_or_default()
        ))
        .ok(),
        None => Some(peer.ip().clone()),
    };
    if let Some(value) = forwarded_for {
        metadata.insert(X_FORWARDED_FOR, value);
    }
    let host = host.cloned().or_else(|| {
        uri.authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if let Some(host) = host {
        metadata.insert(X_FORWARDED_HOST, host);
    }
    metadata.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    Ok(metadata)
}

/// gRPC metadata keys: lowercase letters, digits, `-`, `_` and `.`; not reserved for gRPC.
pub fn is_metadata_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with("grpc-")
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// Whether a metadata value is printable ASCII, as gRPC requires of values without `-bin`.
pub fn is_printable_ascii(value: &HeaderValue) -> bool {
    value.as_bytes().iter().all(|b| (0x20..0x7f).contains(b))
}

/// Whether a `-bin` metadata value is base64 (padded or not).
pub fn is_base64(value: &[u8]) -> bool {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine as _;
    STANDARD.decode(value).is_ok() || STANDARD_NO_PAD.decode(value).is_ok()
}

/// Whether a content type is JSON: `application/json`, `application/*+json`, or none at all.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return true;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn is_ndjson(content_type: Option<&str>) -> bool {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl"
    )
}

async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    settings: &HttpFrontendSettings,
) -> Result<RequestBody, Status> {
    let limit = settings.max_body_size;
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("invalid"));
    if is_ndjson(content_type) {
        return Ok(RequestBody::Stream(Box::pin(NdjsonMessages::new(
            body, settings,
        ))));
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    if declared == Some(0) || body.is_end_stream() {
        return Ok(RequestBody::Empty);
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "bounded: Limited to max_body_size"
    )]
    let collect = Limited::new(body, limit).collect();
    let data = tokio::time::timeout(settings.request_body_timeout, collect)
        .await
        .map_err(|_| slow_body(settings.request_body_timeout, "the request body"))?
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large(limit)
            } else {
                Status::invalid_argument(format!("the request body could not be read: {e}"))
            }
        })?;
    let data = data.to_bytes();
    if data.is_empty() {
        return Ok(RequestBody::Empty);
    }
    Ok(RequestBody::Unary(if is_json(content_type) {
        Payload::Json(data)
    } else {
        Payload::Raw {
            content_type: content_type.unwrap_or_default().to_owned(),
            data,
        }
    }))
}

fn slow_body(limit: std::time::Duration, what: &str) -> Status {
    Status::request_timeout(format!("{what} did not arrive within {limit:?}"))
}

fn too_large(limit: usize) -> Status {
    Status::too_large(format!(
        "the request body exceeds the limit of {limit} bytes"
    ))
}

/// The messages of an NDJSON body, one per non-blank line, as the lines arrive: each within
/// `max_body_size` and `request_body_timeout`, all of them within `max_stream_size` and
/// `max_stream_messages`.
struct NdjsonMessages {
    body: Incoming,
    buffer: BytesMut,
    limit: usize,
    finished: bool,
    /// Bytes read so far, and their bound.
    total: usize,
    max_total: usize,
    /// Messages handed on so far, and their bound.
    messages: usize,
    max_messages: usize,
    /// When the next message must have arrived.
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: std::time::Duration,
}

impl NdjsonMessages {
    fn new(body: Incoming, settings: &HttpFrontendSettings) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
            limit: settings.max_body_size,
            finished: false,
            total: 0,
            max_total: settings.max_stream_size,
            messages: 0,
            max_messages: settings.max_stream_messages,
            deadline: Box::pin(tokio::time::sleep(settings.request_body_timeout)),
            timeout: settings.request_body_timeout,
        }
    }

    fn fail(&mut self, status: Status) -> Option<Result<Payload, Status>> {
        self.finished = true;
        self.buffer.clear();
        Some(Err(status))
    }

    fn next_line(&mut self, at_end: bool) -> Option<Result<Payload, Status>> {
        loop {
            let line = match self.buffer.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    let line = self.buffer.split_to(end).freeze();
                    self.buffer.advance(1);
                    line
                }
                None if at_end && !self.buffer.is_empty() => self.buffer.split().freeze(),
                None if self.buffer.len() > self.limit => {
                    return self.fail(Status::too_large(format!(
                        "an NDJSON message exceeds the limit of {} bytes",
                        self.limit
                    )));
                }
                None => return None,
            };
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                self.messages += 1;
                if self.messages > self.max_messages {
                    return self.fail(Status::too_large(format!(
                        "the request stream exceeds the limit of {} messages",
                        self.max_messages
                    )));
                }
                let next = tokio::time::Instant::now() + self.timeout;
                self.deadline.as_mut().reset(next);
                return Some(Ok(Payload::Json(trim_end(line))));
            }
        }
    }
}

fn trim_end(line: Bytes) -> Bytes {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    line.slice(..end)
}

impl Stream for NdjsonMessages {
    type Item = Result<Payload, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(message) = this.next_line(this.finished) {
                return Poll::Ready(Some(message));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => {
                    if this.deadline.as_mut().poll(cx).is_ready() {
                        let slow = slow_body(this.timeout, "the next NDJSON message");
                        return Poll::Ready(this.fail(slow));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => this.finished = true,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.total += data.len();
                        if this.total > this.max_total {
                            let large = Status::too_large(format!(
                                "the request stream exceeds the limit of {} bytes",
                                this.max_total
                            ));
                            return Poll::Ready(this.fail(large));
                        }
                        this.buffer.extend_from_slice(&data);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finished = true;
                    this.buffer.clear();
                    return Poll::Ready(Some(Err(Status::invalid_argument(format!(
                        "the request body could not be read: {e}"
                    )))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_every_unit_and_refuse_junk() {
        assert_eq!(parse_grpc_timeout("10m"), Some(Duration::from_millis(10)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("100n"), Some(Duration::from_nanos(100)));
        assert_eq!(parse_grpc_timeout("INVALID"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout(""), None);
        assert_eq!(parse_grpc_timeout("-1S"), None);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(None));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some("application/merge-patch+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/x-www-form-urlencoded")));
        assert!(is_ndjson(Some("application/x-ndjson")));
    }

    #[test]
    fn metadata_keys_follow_grpc_rules() {
        assert!(is_metadata_key("foo"));
        assert!(is_metadata_key("x-trace.id_2"));
        assert!(!is_metadata_key("grpc-status"));
        assert!(!is_metadata_key(""));
    }
}
