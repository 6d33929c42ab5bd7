//! What can go wrong between polygate and an HTTP upstream, and the canonical error of each.

use bytes::Bytes;
use http::StatusCode;
use serde_json::value::RawValue;

use crate::model::{Code, ErrorSource, Status};

/// `@type` of the detail describing an upstream's error answer.
pub(crate) const UPSTREAM_RESPONSE_TYPE: &str = "type.polygate.dev/polygate.v1.UpstreamResponse";

/// Upstream error bodies larger than this are not copied into error details.
const MAX_DETAIL_BODY: usize = 4096;

/// A failure of the HTTP exchange itself.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// No connection could be made (refused, DNS, TLS handshake, connect timeout).
    #[error("cannot connect: {0}")]
    Unreachable(String),
    /// The connection failed while the request was under way.
    #[error("the request failed: {0}")]
    Failed(String),
    /// The answer's body could not be read.
    #[error("the answer could not be read: {0}")]
    BodyRead(String),
    /// The answer is larger than `max_response_size`.
    #[error("the answer exceeds max_response_size ({limit} bytes){}", .size.map(|s| format!(": Content-Length is {s}")).unwrap_or_default())]
    TooLarge {
        /// The limit.
        limit: usize,
        /// The declared size, when the upstream declared one.
        size: Option<u64>,
    },
    /// The answer is compressed although polygate asked for `identity`.
    #[error("the answer has Content-Encoding '{0}', but polygate asks for identity and does not decompress")]
    ContentEncoding(String),
    /// The request target could not be built.
    #[error("invalid request target {0}")]
    InvalidTarget(String),
    /// The upstream answered with a non-2xx status, where only success was expected.
    #[error("answered HTTP {status}")]
    HttpStatus {
        /// The status.
        status: StatusCode,
        /// The answer's media type.
        media_type: String,
        /// The answer's body.
        body: Bytes,
    },
}

impl UpstreamError {
    /// Classifies a hyper-util client error.
    pub(crate) fn from_client(error: &hyper_util::client::legacy::Error) -> Self {
        let text = super::client::chain(error);
        if error.is_connect() {
            UpstreamError::Unreachable(text)
        } else {
            UpstreamError::Failed(text)
        }
    }

    /// The canonical error, naming the backend. Connection problems are `UNAVAILABLE` (503, as
    /// for gRPC backends); an unusable answer is a 502.
    pub(crate) fn into_status(self, backend: &str) -> Status {
        let message = format!("backend '{backend}': {self}");
        match self {
            // No connection: the upstream received nothing, so a retry is safe.
            UpstreamError::Unreachable(_) => Status::unavailable(message)
                .with_reason("UPSTREAM_UNAVAILABLE")
                .with_unsent(),
            UpstreamError::Failed(_) | UpstreamError::BodyRead(_) => {
                Status::unavailable(message).with_reason("UPSTREAM_UNAVAILABLE")
            }
            // Not RESOURCE_EXHAUSTED: the client did nothing wrong (and HTTP clients read that
            // code as 429, "slow down").
            UpstreamError::TooLarge { .. } => Status::upstream_fault(Code::Internal, message)
                .with_reason("UPSTREAM_RESPONSE_TOO_LARGE"),
            UpstreamError::ContentEncoding(_) => Status::upstream_fault(Code::Unknown, message)
                .with_reason("UPSTREAM_CONTENT_ENCODING"),
            UpstreamError::InvalidTarget(_) => Status::internal(message),
            UpstreamError::HttpStatus {
                status,
                media_type,
                body,
            } => status_for_http_error(backend, status, &media_type, &body),
        }
    }
}

/// The canonical error for an upstream's non-2xx HTTP answer (plain-XML and REST backends):
/// statuses with a gRPC counterpart keep their meaning, other 5xx answers are a 502.
fn status_for_http_error(
    backend: &str,
    status: StatusCode,
    media_type: &str,
    body: &Bytes,
) -> Status {
    let code = match status.as_u16() {
        400 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 | 410 => Code::NotFound,
        409 => Code::Aborted,
        412 => Code::FailedPrecondition,
        429 => Code::ResourceExhausted,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        400..=499 => Code::FailedPrecondition,
        _ => Code::Unknown,
    };
    let message = format!("backend '{backend}' answered HTTP {status}");
    let result = if code == Code::Unknown {
        Status::upstream_fault(code, message)
    } else {
        Status::new(code, message, ErrorSource::Backend)
    };
    let result = result.with_reason("UPSTREAM_HTTP_ERROR");
    match upstream_detail(status, media_type, body) {
        Some(detail) => result.with_detail(detail),
        None => result,
    }
}

/// `{"@type":…,"status":404,"body":…}`: the upstream's answer, its body as JSON when it is
/// JSON, else as text; bodies over 4 KiB are left out.
fn upstream_detail(status: StatusCode, media_type: &str, body: &Bytes) -> Option<Box<RawValue>> {
    let mut json = String::with_capacity(96 + body.len().min(MAX_DETAIL_BODY));
    json.push_str(r#"{"@type":""#);
    json.push_str(UPSTREAM_RESPONSE_TYPE);
    json.push_str(r#"","status":"#);
    json.push_str(&status.as_u16().to_string());
    if !body.is_empty() && body.len() <= MAX_DETAIL_BODY {
        let is_json = media_type == "application/json" || media_type.ends_with("+json");
        let as_json = is_json
            .then(|| serde_json::from_slice::<&RawValue>(body).ok())
            .flatten();
        match as_json {
            Some(raw) => {
                json.push_str(r#","body":"#);
                json.push_str(raw.get());
            }
            None => {
                json.push_str(r#","body":"#);
                json.push_str(&serde_json::Value::from(String::from_utf8_lossy(body)).to_string());
            }
        }
    }
    json.push('}');
    RawValue::from_string(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Rejection;

    #[test]
    fn upstream_statuses_keep_their_meaning_and_5xx_is_bad_gateway() {
        let body = Bytes::from_static(br#"{"error":"no such user"}"#);
        let status =
            status_for_http_error("users", StatusCode::NOT_FOUND, "application/json", &body);
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status.message(),
            "backend 'users' answered HTTP 404 Not Found"
        );
        assert_eq!(
            status.details()[1].get(),
            r#"{"@type":"type.polygate.dev/polygate.v1.UpstreamResponse","status":404,"body":{"error":"no such user"}}"#
        );
        let status = status_for_http_error(
            "users",
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html",
            &Bytes::from_static(b"<h1>oops</h1>"),
        );
        assert_eq!(status.code(), Code::Unknown);
        assert_eq!(status.rejection(), Some(&Rejection::UpstreamFault));
        assert!(status.details()[1]
            .get()
            .ends_with(r#""status":500,"body":"<h1>oops</h1>"}"#));
        for (http, code) in [
            (401, Code::Unauthenticated),
            (429, Code::ResourceExhausted),
            (503, Code::Unavailable),
            (418, Code::FailedPrecondition),
        ] {
            let status =
                status_for_http_error("b", StatusCode::from_u16(http).unwrap(), "", &Bytes::new());
            assert_eq!(status.code(), code, "{http}");
            assert_eq!(status.rejection(), None, "{http}");
        }
    }

    #[test]
    fn transport_failures_are_unavailable_and_bad_answers_bad_gateway() {
        let status = UpstreamError::Unreachable("connection refused".into()).into_status("b");
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.message(),
            "backend 'b': cannot connect: connection refused"
        );
        let status = UpstreamError::TooLarge {
            limit: 10,
            size: Some(20),
        }
        .into_status("b");
        assert_eq!(status.rejection(), Some(&Rejection::UpstreamFault));
        assert_eq!(
            status.message(),
            "backend 'b': the answer exceeds max_response_size (10 bytes): Content-Length is 20"
        );
    }
}
