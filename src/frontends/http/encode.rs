//! `GatewayResponse` or `Status` → HTTP response: the one place gRPC codes become HTTP statuses.

use futures_util::StreamExt;
use http::header::{
    AGE, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use super::body::{Framing, ResponseBody};
use crate::model::{
    Code, GatewayResponse, Payload, Rejection, ResponseBody as Messages, Status, UpstreamReply,
};

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const NDJSON: HeaderValue = HeaderValue::from_static("application/x-ndjson");
const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
/// The IETF `RateLimit-Policy` field (draft-ietf-httpapi-ratelimit-headers).
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The IETF `RateLimit` field.
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The RFC 9211 `Cache-Status` field.
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// The HTTP status of a gRPC code, as grpc-gateway maps it.
pub(crate) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The error response: the canonical JSON body, the status from the code or the rejection,
/// and the backend's metadata as `Grpc-Metadata-*` headers.
pub(crate) fn error_response(status: &Status) -> Response<ResponseBody> {
    if let Some(reply) = status.upstream() {
        return passed_error(status, reply);
    }
    let (code, body) = match status.rejection() {
        Some(Rejection::WrongMethod { .. }) => (StatusCode::METHOD_NOT_ALLOWED, status.to_json()),
        Some(Rejection::TooLarge) => (StatusCode::PAYLOAD_TOO_LARGE, status.to_json()),
        Some(Rejection::RequestTimeout) => (StatusCode::REQUEST_TIMEOUT, status.to_json()),
        Some(Rejection::MetadataTooLarge) => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            status.to_json(),
        ),
        Some(Rejection::UnsupportedMediaType { expected }) => {
            // HTTP clients are told which header to set.
            let message = format!("{} (Content-Type: {expected})", status.message());
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                status.to_json_with_message(&message),
            )
        }
        Some(Rejection::UpstreamFault) => (StatusCode::BAD_GATEWAY, status.to_json()),
        Some(Rejection::Unauthenticated { .. }) => (StatusCode::UNAUTHORIZED, status.to_json()),
        Some(Rejection::RateLimited { .. }) => (StatusCode::TOO_MANY_REQUESTS, status.to_json()),
        None => (http_status(status.code()), status.to_json()),
    };
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    if let Some(Rejection::WrongMethod { allowed }) = status.rejection() {
        if let Ok(allow) = HeaderValue::from_str(allowed) {
            headers.insert(ALLOW, allow);
        }
    }
    headers.insert(CONTENT_TYPE, JSON);
    match status.rejection() {
        Some(Rejection::Unauthenticated { challenge }) => {
            if let Ok(challenge) = HeaderValue::from_str(challenge) {
                headers.insert(WWW_AUTHENTICATE, challenge);
            }
        }
        Some(Rejection::RateLimited {
            retry_after,
            policy,
            state,
        }) => {
            headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            if let Ok(policy) = HeaderValue::from_str(policy) {
                headers.insert(RATELIMIT_POLICY, policy);
            }
            if let Ok(state) = HeaderValue::from_str(state) {
                headers.insert(RATELIMIT, state);
            }
        }
        _ => {}
    }
    if status.code() == Code::Unauthenticated && !headers.contains_key(WWW_AUTHENTICATE) {
        if let Ok(challenge) = HeaderValue::from_str(status.message()) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
    }
    prefix_metadata(headers, status.metadata(), "grpc-metadata-");
    response
}

/// A REST or plain-XML backend's error passed on: its status and allow-listed headers, and
/// its body when it was JSON or XML (as JSON); otherwise the canonical body.
fn passed_error(status: &Status, reply: &UpstreamReply) -> Response<ResponseBody> {
    let body = match &reply.body {
        Some(Payload::Json(json)) => json.clone(),
        _ => bytes::Bytes::from(status.to_json()),
    };
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, JSON);
    for (name, value) in &reply.headers {
        headers.append(name.clone(), value.clone());
    }
    response
}

/// Applies a backend's own success status and headers; a 204, 205 or 304 has no body.
fn pass_success(response: &mut Response<ResponseBody>, reply: UpstreamReply) {
    if let Ok(code) = StatusCode::from_u16(reply.status) {
        *response.status_mut() = code;
    }
    if matches!(reply.status, 204 | 205 | 304) {
        *response.body_mut() = ResponseBody::full(bytes::Bytes::new());
        response.headers_mut().remove(CONTENT_TYPE);
    }
    let headers = response.headers_mut();
    for (name, value) in reply.headers {
        if let Some(name) = name {
            headers.append(name, value);
        }
    }
}

/// The success response. A stream's status is decided by its first message: an error before
/// any message is answered like a unary error.
pub(crate) async fn success_response(
    answer: GatewayResponse,
    event_stream: bool,
) -> Response<ResponseBody> {
    let (mut response, content_type) = match answer.body {
        Messages::Unary { message, trailers } => {
            let content_type = content_type_of(&message, JSON);
            let mut response = Response::new(ResponseBody::full(message.bytes().clone()));
            prefix_metadata(response.headers_mut(), &trailers, "grpc-trailer-");
            (response, content_type)
        }
        Messages::Stream(mut messages) => {
            let first = match messages.next().await {
                Some(Ok(message)) => Some(message),
                Some(Err(status)) => return error_response(&status),
                None => None,
            };
            let (framing, content_type) = match &first {
                Some(raw @ Payload::Raw { .. }) => (Framing::Raw, content_type_of(raw, JSON)),
                _ if event_stream => (Framing::ServerSentEvents, EVENT_STREAM),
                _ => (Framing::Ndjson, NDJSON),
            };
            let mut response = Response::new(ResponseBody::Stream {
                first,
                messages,
                framing,
                finished: false,
                cut: None,
            });
            if framing == Framing::ServerSentEvents {
                response.headers_mut().insert(CACHE_CONTROL, NO_CACHE);
            }
            (response, content_type)
        }
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    prefix_metadata(headers, &answer.metadata, "grpc-metadata-");
    if let Some(reply) = answer.upstream {
        pass_success(&mut response, *reply);
    }
    if let Some(facts) = answer.cache {
        let headers = response.headers_mut();
        headers.insert(CACHE_STATUS, facts.status);
        if let Some(etag) = facts.etag {
            headers.insert(ETAG, etag);
        }
        if let Some(age) = facts.age {
            headers.insert(AGE, HeaderValue::from(age));
        }
    }
    response
}

/// Answers 304 Not Modified when the request's `If-None-Match` names a cached answer's `ETag`
/// (weak comparison, RFC 9110 §13.1.2), keeping the answer's headers but not its body.
pub(crate) fn not_modified(
    response: Response<ResponseBody>,
    if_none_match: Option<&HeaderValue>,
) -> Response<ResponseBody> {
    let (Some(wanted), Some(etag)) = (if_none_match, response.headers().get(ETAG)) else {
        return response;
    };
    let cached = response.headers().contains_key(CACHE_STATUS);
    if !cached || !response.status().is_success() || !etag_matches(wanted, etag) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, ResponseBody::full(bytes::Bytes::new()))
}

/// Whether an `If-None-Match` list names `etag` (or is `*`), ignoring `W/` prefixes.
fn etag_matches(list: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = list.to_str() else {
        return false;
    };
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let etag = bare(etag.to_str().unwrap_or(""));
    list.trim() == "*" || list.split(',').any(|tag| bare(tag) == etag)
}

/// The request's `If-None-Match`, kept for [`not_modified`].
pub(crate) fn if_none_match(headers: &HeaderMap) -> Option<HeaderValue> {
    headers.get(IF_NONE_MATCH).cloned()
}

fn content_type_of(message: &Payload, json: HeaderValue) -> HeaderValue {
    match message {
        Payload::Raw { content_type, .. } => HeaderValue::from_str(content_type).unwrap_or(json),
        _ => json,
    }
}

fn prefix_metadata(headers: &mut HeaderMap, metadata: &HeaderMap, prefix: &str) {
    for (name, value) in metadata {
        if let Ok(name) = HeaderName::from_bytes(format!("{prefix}{name}").as_bytes()) {
            headers.append(name, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_as_grpc_gateway_maps_it() {
        let table = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::Unauthenticated, 401),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
        ];
        for (code, expected) in table {
            assert_eq!(http_status(code).as_u16(), expected, "{code:?}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_lists() {
        let etag = HeaderValue::from_static("\"pg-1\"");
        for (list, matches) in [
            ("\"pg-1\"", true),
            ("W/\"pg-1\"", true),
            ("\"x\", \"pg-1\"", true),
            ("*", true),
            ("\"pg-2\"", false),
        ] {
            assert_eq!(
                etag_matches(&HeaderValue::from_static(list), &etag),
                matches,
                "{list}"
            );
        }
    }

    #[test]
    fn rejections_choose_their_own_status_and_headers() {
        let response = error_response(&Status::wrong_method("no", "GET, POST".into()));
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "GET, POST");
        assert_eq!(
            error_response(&Status::too_large("big")).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            error_response(&Status::metadata_too_large("headers")).status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            error_response(&Status::request_timeout("slow")).status(),
            StatusCode::REQUEST_TIMEOUT
        );
        assert_eq!(
            error_response(&Status::upstream_fault(Code::Unknown, "fault")).status(),
            StatusCode::BAD_GATEWAY
        );
        let response = error_response(&Status::new(
            Code::Unauthenticated,
            "Bearer",
            crate::model::ErrorSource::Backend,
        ));
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    }
}
