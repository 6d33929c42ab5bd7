//! `Status`: the canonical error of the whole gateway, in gRPC's vocabulary.

use std::fmt;

use bytes::Bytes;
use http::HeaderMap;
use serde::de::{self, Deserialize, Deserializer, Visitor};
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

/// Why the gateway refused or failed a request where the gRPC code alone does not say it.
///
/// gRPC codes have no words for "wrong method", "too large", "wrong content type" or "the
/// backend answered badly"; the rejection that raises such an error says so here, once, in no
/// protocol's terms, and each frontend's one encoder turns it into its own (HTTP: 405, 413,
/// 415, 502; a WebSocket or MQTT frontend: its own codes, with the gRPC code in the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The route exists, but not for the operation the client named (HTTP: 405 with `Allow`).
    WrongMethod {
        /// The operations the route accepts, comma-separated (e.g. `GET, POST`).
        allowed: String,
    },
    /// The request, or one of its messages, exceeds a configured size.
    TooLarge,
    /// The request's metadata (headers) is larger than the gateway or the backend accepts.
    MetadataTooLarge,
    /// The client took too long to send its request.
    RequestTimeout,
    /// The request's media type cannot be transcoded for this route.
    UnsupportedMediaType {
        /// The media type the route takes, e.g. `application/json`.
        expected: &'static str,
    },
    /// The backend answered, but with an error of its own (a SOAP server fault, an HTTP 5xx)
    /// or with something the gateway cannot use (malformed or hostile XML, MTOM). The code in
    /// the body stays what the error is (`UNKNOWN`, `INTERNAL`, …).
    UpstreamFault,
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
    rejection: Option<Rejection>,
    /// Response metadata the backend sent with the error (headers and trailers).
    metadata: HeaderMap,
    /// The backend never received the request (no connection, refused stream): safe to retry.
    unsent: bool,
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
            rejection: None,
            metadata: HeaderMap::new(),
            unsent: false,
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

    /// The route exists only for other operations (`allowed`, e.g. `GET, PUT`); the gRPC code
    /// is `UNIMPLEMENTED`.
    pub fn wrong_method(message: impl Into<String>, allowed: String) -> Self {
        Self::new(Code::Unimplemented, message, ErrorSource::Client)
            .with_rejection(Rejection::WrongMethod { allowed })
    }

    /// The request exceeds a size limit; the gRPC code is `RESOURCE_EXHAUSTED`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceExhausted, message, ErrorSource::Client)
            .with_rejection(Rejection::TooLarge)
    }

    /// The request's metadata exceeds what the gateway or the backend accepts; the gRPC code is
    /// `RESOURCE_EXHAUSTED`.
    pub fn metadata_too_large(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceExhausted, message, ErrorSource::Client)
            .with_rejection(Rejection::MetadataTooLarge)
    }

    /// The client sent its request too slowly; the gRPC code is `DEADLINE_EXCEEDED`.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(Code::DeadlineExceeded, message, ErrorSource::Client)
            .with_rejection(Rejection::RequestTimeout)
    }

    /// The request's media type cannot be transcoded; the route takes `expected`. The gRPC
    /// code is `INVALID_ARGUMENT`.
    pub fn unsupported_media_type(message: impl Into<String>, expected: &'static str) -> Self {
        Self::new(Code::InvalidArgument, message, ErrorSource::Client)
            .with_rejection(Rejection::UnsupportedMediaType { expected })
    }

    /// The backend's answer is an error of its own or unusable; the gRPC code is `code`.
    pub fn upstream_fault(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, message, ErrorSource::Backend).with_rejection(Rejection::UpstreamFault)
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

    /// Sets the rejection that says more than the code.
    pub fn with_rejection(mut self, rejection: Rejection) -> Self {
        self.0.rejection = Some(rejection);
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

    /// Marks the error as raised before the backend received anything of the request (it
    /// could not be reached, or refused the call unprocessed), so repeating the call is safe.
    pub fn with_unsent(mut self) -> Self {
        self.0.unsent = true;
        self
    }

    /// Whether the backend never received the request (see [`with_unsent`](Self::with_unsent)).
    pub fn is_unsent(&self) -> bool {
        self.0.unsent
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

    /// The rejection that says more than the code, if any.
    pub fn rejection(&self) -> Option<&Rejection> {
        self.0.rejection.as_ref()
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

    /// The canonical JSON error body with `message` in place of the status's own (for a
    /// frontend that words a rejection in its protocol's terms).
    pub fn to_json_with_message(&self, message: &str) -> Vec<u8> {
        let mut status = self.clone();
        status.0.message = message.to_owned();
        status.to_json()
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

/// A canonical (gRPC) code written by name: `NOT_FOUND` or `not_found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeName(pub Code);

const CODE_NAMES: [(&str, Code); 16] = [
    ("CANCELLED", Code::Cancelled),
    ("UNKNOWN", Code::Unknown),
    ("INVALID_ARGUMENT", Code::InvalidArgument),
    ("DEADLINE_EXCEEDED", Code::DeadlineExceeded),
    ("NOT_FOUND", Code::NotFound),
    ("ALREADY_EXISTS", Code::AlreadyExists),
    ("PERMISSION_DENIED", Code::PermissionDenied),
    ("RESOURCE_EXHAUSTED", Code::ResourceExhausted),
    ("FAILED_PRECONDITION", Code::FailedPrecondition),
    ("ABORTED", Code::Aborted),
    ("OUT_OF_RANGE", Code::OutOfRange),
    ("UNIMPLEMENTED", Code::Unimplemented),
    ("INTERNAL", Code::Internal),
    ("UNAVAILABLE", Code::Unavailable),
    ("DATA_LOSS", Code::DataLoss),
    ("UNAUTHENTICATED", Code::Unauthenticated),
];

impl<'de> Deserialize<'de> for CodeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl Visitor<'_> for CodeVisitor {
            type Value = CodeName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a gRPC code name such as NOT_FOUND or UNAVAILABLE")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                CODE_NAMES
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(v))
                    .map(|(_, code)| CodeName(*code))
                    .ok_or_else(|| {
                        E::custom(format!(
                            "'{v}' is not a gRPC code name (use one of {})",
                            CODE_NAMES.map(|(name, _)| name).join(", ")
                        ))
                    })
            }
        }
        deserializer.deserialize_str(CodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_error_info_details() {
        let status = Status::upstream_fault(Code::Unknown, "x").with_reason("XML_TOO_DEEP");
        assert_eq!(status.rejection(), Some(&Rejection::UpstreamFault));
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
