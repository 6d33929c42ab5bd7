//! `Payload`: one message in whichever form is cheapest for the next stage.

use bytes::Bytes;

/// One message travelling through the pipeline.
///
/// Each stage hands on the form the next stage needs, so nothing is converted twice: a REST
/// request's JSON becomes protobuf once, in the mapping layer, and a gRPC answer becomes JSON once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// UTF-8 JSON text.
    Json(Bytes),
    /// Encoded protobuf message bytes (without gRPC framing).
    Protobuf(Bytes),
    /// XML text. Backends hand over UTF-8 (other encodings are decoded first); an empty
    /// message means no document.
    Xml(Bytes),
    /// Bytes with their media type, passed through untouched (`google.api.HttpBody`).
    Raw {
        /// The media type, e.g. `text/html`.
        content_type: String,
        /// The bytes.
        data: Bytes,
    },
}

impl Payload {
    /// The bytes of the message, whatever its form.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Payload::Json(b) | Payload::Protobuf(b) | Payload::Xml(b) => b,
            Payload::Raw { data, .. } => data,
        }
    }
}
