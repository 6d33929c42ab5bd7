//! `Status`: the canonical error of the whole gateway, in gRPC's vocabulary.

use std::fmt;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::value::RawValue;

pub use tonic::Code;

/// Who caused an error: decides logging and whether a retry may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The client sent something the gateway cannot accept.
    Client,
    /// The gateway itself failed (configuration, internal limits).
    Gateway,
    /// The backend answered with an error or could not be reached.
    Backend,
}

/// How an HTTP frontend should answer an error whose status is not given by the gRPC code table.
///
/// gRPC codes have no words for "wrong method", "too large" or "wrong content type"; the
/// rejection that raises such an error says so here, once, and the HTTP encoder obeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpHint {
    /// 405, with the `Allow` header listing the methods the path exists under.
    MethodNotAllowed {
        /// The value of the `Allow` header, e.g. `GET, POST`.
        allow: String,
    },
    /// 413: the request body exceeds the configured limit.
    PayloadTooLarge,
    /// 415: the request's content type cannot be transcoded.
    UnsupportedMediaType,
    /// 502: the backend answered, but with an error of its own (a SOAP server fault, an HTTP 5xx)
    /// or with something the gateway cannot use (malformed or hostile XML, MTOM). gRPC has no
    /// code for "bad gateway", so the code in the body stays what the error is (`UNKNOWN`,
    /// `INTERNAL`, …) and this hint gives the HTTP status.
    BadGateway,
}

/// A gRPC status code with a message and `google.rpc.Status` details, plus where it came from.
///
/// One pointer wide, so `Result<T, Status>` costs the success path nothing.
#[derive(Debug, Clone)]
pub struct Status(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    code: Code,
    message: String,
    /// Details already rendered as proto3 JSON objects (`{"@type": …, …}`).
    details: Vec<Box<RawValue>>,
    /// The backend's `grpc-status-details-bin` (an encoded `google.rpc.Status`), until rendered.
    encoded_details: Option<Bytes>,
    source: ErrorSource,
    http_hint: Option<HttpHint>,
    /// Response metadata the backend sent with the error (headers and trailers).
    metadata: HeaderMap,
}

impl Status {
    /// A status with `code` and `message`, raised by `source`.
    pub fn new(code: Code, message: impl Into<String>, source: ErrorSource) -> Self {
        Self(Box::new(Inner {
            code,
            message: message.into(),
            details: Vec::new(),
            encoded_details: None,
            source,
            http_hint: None,
            metadata: HeaderMap::new(),
        }))
    }

    /// `INVALID_ARGUMENT` caused by the client's request.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message, ErrorSource::Client)
    }

    /// `NOT_FOUND` raised by the gateway (no route).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message, ErrorSource::Client)
    }

    /// `INTERNAL` raised by the gateway itself.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message, ErrorSource::Gateway)
    }

    /// `UNAVAILABLE`: the backend could not be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, message, ErrorSource::Backend)
    }

    /// `DEADLINE_EXCEEDED`: the call's deadline passed before the backend answered.
    pub fn deadline_exceeded(message: impl Into<String>) -> Self {
        Self::new(Code::DeadlineExceeded, message, ErrorSource::Backend)
    }

    /// 405 with `Allow`; the gRPC code in the body is `UNIMPLEMENTED`.
    pub fn method_not_allowed(message: impl Into<String>, allow: String) -> Self {
        Self::new(Code::Unimplemented, message, ErrorSource::Client)
            .with_http_hint(HttpHint::MethodNotAllowed { allow })
    }

    /// 413; the gRPC code in the body is `RESOURCE_EXHAUSTED`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceExhausted, message, ErrorSource::Client)
            .with_http_hint(HttpHint::PayloadTooLarge)
    }

    /// 415; the gRPC code in the body is `INVALID_ARGUMENT`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message, ErrorSource::Client)
            .with_http_hint(HttpHint::UnsupportedMediaType)
    }

    /// 502 raised by the backend's answer; the gRPC code in the body is `code`.
    pub fn bad_gateway(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, message, ErrorSource::Backend).with_http_hint(HttpHint::BadGateway)
    }

    /// Sets the rendered details.
    pub fn with_details(mut self, details: Vec<Box<RawValue>>) -> Self {
        self.0.details = details;
        self
    }

    /// Adds a `google.rpc.ErrorInfo` detail with a machine-readable `reason` (UPPER_SNAKE_CASE,
    /// e.g. `XML_DOCTYPE_FORBIDDEN`) in the `polygate` domain.
    pub fn with_reason(mut self, reason: &str) -> Self {
        let mut json = String::with_capacity(96 + reason.len());
        json.push_str(r#"{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"#);
        json.push_str(&serde_json::Value::from(reason).to_string());
        json.push_str(r#","domain":"polygate"}"#);
        if let Ok(detail) = RawValue::from_string(json) {
            self.0.details.push(detail);
        }
        self
    }

    /// Appends a detail already rendered as a JSON object with its `@type`.
    pub fn with_detail(mut self, detail: Box<RawValue>) -> Self {
        self.0.details.push(detail);
        self
    }

    /// Sets how an HTTP frontend must answer this error.
    pub fn with_http_hint(mut self, hint: HttpHint) -> Self {
        self.0.http_hint = Some(hint);
        self
    }

    /// Attaches the backend's encoded `google.rpc.Status` details, to be rendered as JSON later.
    pub fn with_encoded_details(mut self, encoded: Bytes) -> Self {
        self.0.encoded_details = Some(encoded);
        self
    }

    /// Attaches response metadata the backend sent with the error.
    pub fn with_metadata(mut self, metadata: HeaderMap) -> Self {
        self.0.metadata = metadata;
        self
    }

    /// The gRPC status code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Details rendered as JSON objects.
    pub fn details(&self) -> &[Box<RawValue>] {
        &self.0.details
    }

    /// Takes the encoded details out, so the mapping layer can render them.
    pub fn take_encoded_details(&mut self) -> Option<Bytes> {
        self.0.encoded_details.take()
    }

    /// Sets the rendered details.
    pub fn set_details(&mut self, details: Vec<Box<RawValue>>) {
        self.0.details = details;
    }

    /// Who raised the error.
    pub fn source(&self) -> ErrorSource {
        self.0.source
    }

    /// How an HTTP frontend must answer, when the code table does not say.
    pub fn http_hint(&self) -> Option<&HttpHint> {
        self.0.http_hint.as_ref()
    }

    /// Metadata the backend sent with the error.
    pub fn metadata(&self) -> &HeaderMap {
        &self.0.metadata
    }

    /// Writes the canonical JSON error body `{"code":…,"message":…,"details":[…]}` into `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"code\":");
        out.extend_from_slice(itoa_i32(self.0.code as i32).as_bytes());
        out.extend_from_slice(b",\"message\":");
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, self.0.message.as_str());
        out.extend_from_slice(b",\"details\":[");
        for (i, detail) in self.0.details.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(detail.get().as_bytes());
        }
        out.extend_from_slice(b"]}");
    }

    /// The canonical JSON error body as bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.0.message.len());
        self.write_json(&mut out);
        out
    }
}

fn itoa_i32(value: i32) -> String {
    value.to_string()
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.0.code, self.0.message)
    }
}

impl std::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_error_info_details() {
        let status = Status::bad_gateway(Code::Unknown, "x").with_reason("XML_TOO_DEEP");
        assert_eq!(status.http_hint(), Some(&HttpHint::BadGateway));
        assert_eq!(
            status.details()[0].get(),
            r#"{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"XML_TOO_DEEP","domain":"polygate"}"#
        );
    }

    #[test]
    fn json_body_has_code_message_and_details() {
        let mut status = Status::not_found("no \"route\"");
        status.set_details(vec![
            RawValue::from_string(r#"{"@type":"x"}"#.into()).unwrap()
        ]);
        assert_eq!(
            String::from_utf8(status.to_json()).unwrap(),
            r#"{"code":5,"message":"no \"route\"","details":[{"@type":"x"}]}"#
        );
    }
}
