//! Streaming transcoding between proto3 JSON and protobuf wire bytes, driven by prost-reflect
//! descriptors compiled at run time.
//!
//! polygate turns REST/JSON requests into gRPC calls without generated code. This module
//! converts request bodies straight from JSON text to wire bytes, and backend answers straight
//! from wire bytes to JSON text, without building a `DynamicMessage` or a `serde_json::Value`
//! on the way: JSON is read with serde_json's streaming parser and each value is encoded as
//! soon as it is read (nested messages get their length prefix back-patched), and wire bytes
//! are read record by record and printed directly.
//!
//! The JSON mapping is prost-reflect's (the canonical proto3 mapping), and inputs are accepted
//! or rejected exactly as `DynamicMessage` accepts or rejects them, so the two can be swapped.
//! Differences worth knowing:
//!
//! - `Any`, `Struct`, `Value` and `ListValue` subtrees are handed to `DynamicMessage`, so
//!   their protobuf nesting budget (100 levels) starts afresh inside them.
//! - A map record with a wire type other than "length-delimited" is an error here;
//!   prost-reflect reads a varint there as an entry length.
//! - `null` for a repeated or map field leaves it empty (prost-reflect asserts in debug builds).
//! - Extension fields are not recognised by their `[full.name]` JSON keys.
//!
//! On error, `out` is left as it was before the call.

mod failure;
mod json_collections;
mod json_scalar;
mod json_to_proto;
mod json_values;
mod json_write;
pub(crate) use json_write::write_str as write_json_str;
mod kinds;
mod options;
mod proto_map;
mod proto_to_json;
mod proto_values;
mod proto_wkt;
mod text_value;
mod wire;
mod wkt_text;

#[cfg(test)]
mod tests;

use prost_reflect::{FieldDescriptor, MessageDescriptor};

pub use options::JsonOptions;

/// Why a transcoding failed. The messages name the field (as a JSON path such as
/// `dimensions.widthCm`, `tags[2]` or `labels["k"]`) and the problem, and are meant to be shown
/// to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// The JSON text is not well-formed: a syntax error, invalid UTF-8, nesting deeper than 128
    /// levels, or characters after the value. The message carries serde_json's position.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// A JSON value does not fit the type of its field.
    #[error("{}", value_message(.field, .reason))]
    InvalidValue {
        /// Path of the field, empty for the top-level value.
        field: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A JSON member names no field of its message and unknown fields are rejected.
    #[error("unknown field '{field}'")]
    UnknownField {
        /// Path of the member, ending with its name.
        field: String,
    },
    /// The protobuf bytes are malformed for the message type.
    #[error("{}", wire_message(.field, .reason))]
    InvalidProtobuf {
        /// Path of the field holding the bad bytes, empty for the message itself.
        field: String,
        /// What is wrong with the bytes.
        reason: String,
    },
    /// A well-formed protobuf value has no JSON form (e.g. a timestamp beyond year 9999).
    #[error("field '{field}' cannot be written as JSON: {reason}")]
    Unrepresentable {
        /// Path of the field.
        field: String,
        /// Why it cannot be written.
        reason: String,
    },
    /// A URL path or query value was given for a message field that has no scalar form.
    #[error("field '{field}' has message type '{message}' and cannot be set from a URL value")]
    MessageFromText {
        /// JSON name of the field.
        field: String,
        /// Full name of the field's message type.
        message: String,
    },
    /// A URL path or query value was given for a map field.
    #[error("field '{field}' is a map and cannot be set from a URL value")]
    MapFromText {
        /// JSON name of the field.
        field: String,
    },
}

fn value_message(field: &str, reason: &str) -> String {
    if field.is_empty() {
        format!("invalid value: {reason}")
    } else {
        format!("invalid value for field '{field}': {reason}")
    }
}

fn wire_message(field: &str, reason: &str) -> String {
    if field.is_empty() {
        format!("invalid protobuf message: {reason}")
    } else {
        format!("invalid protobuf data for field '{field}': {reason}")
    }
}

/// Leaves `out` as it was when `f` fails.
fn restoring_on_error(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), TranscodeError>,
) -> Result<(), TranscodeError> {
    let start = out.len();
    let result = f(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Transcodes the JSON form of a `desc` message (an object, or the JSON form of a well-known
/// type) into protobuf wire bytes appended to `out`. Repeated scalars are packed where the
/// field allows it; values equal to their default are not written for fields without presence.
pub fn json_to_proto(
    desc: &MessageDescriptor,
    json: &[u8],
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    restoring_on_error(out, |out| {
        json_to_proto::encode_message(desc, json, opts, out)
    })
}

/// Transcodes the wire bytes of a `desc` message into its JSON form, appended to `out`.
pub fn proto_to_json(
    desc: &MessageDescriptor,
    wire: &[u8],
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    restoring_on_error(out, |out| {
        proto_to_json::decode_message(desc, wire, opts, out)
    })
}

/// The JSON value of one field of a message given as wire bytes (for `response_body: "field"`):
/// object, array, scalar, or the field's default/empty value when absent (`{}` for an absent
/// `Any`). The message's other fields are checked for framing only.
pub fn field_to_json(
    field: &FieldDescriptor,
    message_wire: &[u8],
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    restoring_on_error(out, |out| {
        proto_to_json::decode_field(field, message_wire, opts, out)
    })
}

/// Encodes `json` (the JSON value of `field`: an array for a repeated field, an object for a
/// map/message) as wire bytes of that field, tag included (for `body: "field"`). The value is
/// read exactly as the member of an object would be: `null` writes nothing, and neither does a
/// default scalar of a field without presence.
pub fn json_to_field(
    field: &FieldDescriptor,
    json: &[u8],
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    restoring_on_error(out, |out| {
        json_to_proto::encode_field(field, json, opts, out)
    })
}

/// Whether `desc` is a well-known type with a JSON form of its own (a string, a number, or
/// `Any`'s `@type` object) rather than a plain object of its fields.
pub fn is_well_known(desc: &MessageDescriptor) -> bool {
    kinds::WellKnown::of(desc).is_some()
}

/// Whether [`text_to_field`] can set `field` from a URL value: a scalar or an enum, or one of the
/// well-known types with a text form; never a map.
pub fn settable_from_text(field: &FieldDescriptor) -> bool {
    match field.kind() {
        prost_reflect::Kind::Message(desc) => {
            !field.is_map() && text_value::text_form(&desc).is_some()
        }
        _ => !field.is_map(),
    }
}

/// Encodes one occurrence of `field` (tag included) from a URL path or query string value.
/// A repeated field gets one element per call; a map field is an error. See the rules in
/// `text_value.rs`: integers in decimal, `true`/`false`/`1`/`0` for bools, base64 (either
/// alphabet) for bytes, enum names or numbers, and for messages only the well-known types with
/// a scalar form (plus `Struct`, `Value`, `ListValue` as JSON text). The value is written even
/// when it is the default, so that it overrides a body value for the same field.
pub fn text_to_field(
    field: &FieldDescriptor,
    text: &str,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    restoring_on_error(out, |out| text_value::encode_text(field, text, out))
}
