//! URL path and query values → protobuf records, for the fields an HTTP rule binds to path
//! variables and query parameters.
//!
//! Rules: integers in decimal (an optional sign, no exponent or fraction); `float` and
//! `double` in any form Rust's float parser reads, plus `NaN`, `Infinity` and `-Infinity`;
//! `bool` as `true`/`false`/`1`/`0`; strings as they are; bytes in standard or URL-safe base64
//! with or without padding; enums by name or number. Of the message types only the well-known
//! ones with a scalar JSON form are accepted: `Timestamp` (RFC 3339), `Duration` (`1.5s`),
//! `FieldMask` (`fooBar,baz`), the wrappers (by the rules of their scalar), and `Struct`,
//! `Value`, `ListValue` written as JSON text.

use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, MessageDescriptor};

use super::json_scalar::{decode_base64_into, is_decimal, put_scalar, Slot, Token};
use super::json_values::put_seconds_nanos;
use super::kinds::{ScalarKind, ValueKind, WellKnown};
use super::wire::{begin_len, end_len, put_tag, put_varint, LEN, VARINT};
use super::wkt_text::{parse_duration, parse_field_mask, parse_timestamp};
use super::{JsonOptions, TranscodeError};

/// The well-known type of `desc` when a URL value can be one: not `Empty`, not `Any`.
pub(super) fn text_form(desc: &MessageDescriptor) -> Option<WellKnown> {
    match WellKnown::of(desc)? {
        WellKnown::Empty => None,
        WellKnown::Delegated if desc.full_name() == "google.protobuf.Any" => None,
        wkt => Some(wkt),
    }
}

/// Appends one record of `field` holding the value of `text`.
pub(super) fn encode_text(
    field: &FieldDescriptor,
    text: &str,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    let invalid = |reason: String| TranscodeError::InvalidValue {
        field: field.json_name().to_owned(),
        reason,
    };
    if field.is_map() {
        return Err(TranscodeError::MapFromText {
            field: field.json_name().to_owned(),
        });
    }
    let number = field.number();
    // Written even when it is the default value, so that a URL value overrides a value that
    // the request body gave the same field.
    let slot = Slot::Field {
        number,
        presence: true,
    };
    match ValueKind::of_field(field) {
        ValueKind::Scalar(kind) => {
            put_scalar(out, kind, slot, text_token(kind, text).map_err(invalid)?).map_err(invalid)
        }
        ValueKind::Enum(desc) => {
            let value = match desc.get_value_by_name(text) {
                Some(value) => value.number(),
                None => text.parse::<i32>().map_err(|_| {
                    invalid(format!(
                        "\"{}\" is not a value of enum {}",
                        text.escape_debug(),
                        desc.full_name()
                    ))
                })?,
            };
            put_tag(out, number, VARINT);
            put_varint(out, i64::from(value) as u64);
            Ok(())
        }
        ValueKind::Message(desc) => {
            let refuse = || TranscodeError::MessageFromText {
                field: field.json_name().to_owned(),
                message: desc.full_name().to_owned(),
            };
            let Some(wkt) = text_form(&desc) else {
                return Err(refuse());
            };
            let mark = out.len();
            put_tag(out, number, LEN);
            let start = begin_len(out);
            let result = message_from_text(&desc, wkt, text, out);
            if let Err(reason) = result {
                out.truncate(mark);
                return Err(invalid(reason));
            }
            end_len(out, start);
            Ok(())
        }
    }
}

/// Reads a URL value as a scalar token, by the rules in the module documentation.
fn text_token(kind: ScalarKind, text: &str) -> Result<Token<'_>, String> {
    let not_a = |what: &str| format!("\"{}\" is not a valid {what}", text.escape_debug());
    Ok(match kind {
        ScalarKind::Int32 | ScalarKind::Sint32 | ScalarKind::Sfixed32 => Token::I64(
            text.parse::<i32>()
                .map_err(|_| not_a(kind.proto_name()))?
                .into(),
        ),
        ScalarKind::Uint32 | ScalarKind::Fixed32 => Token::U64(
            text.parse::<u32>()
                .map_err(|_| not_a(kind.proto_name()))?
                .into(),
        ),
        ScalarKind::Int64 | ScalarKind::Sint64 | ScalarKind::Sfixed64 => {
            Token::I64(text.parse::<i64>().map_err(|_| not_a(kind.proto_name()))?)
        }
        ScalarKind::Uint64 | ScalarKind::Fixed64 => {
            Token::U64(text.parse::<u64>().map_err(|_| not_a(kind.proto_name()))?)
        }
        ScalarKind::Double | ScalarKind::Float => {
            let value = match text {
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                _ => match text.parse::<f64>() {
                    Ok(value) if value.is_finite() || !is_decimal(text) => value,
                    Ok(_) => {
                        return Err(format!(
                            "\"{}\" is out of range for {}",
                            text.escape_debug(),
                            kind.proto_name()
                        ))
                    }
                    Err(_) => return Err(not_a(kind.proto_name())),
                },
            };
            // Finite values go through the range check for `float`; non-finite ones are kept.
            if value.is_finite() || kind == ScalarKind::Double {
                Token::F64(value)
            } else if value.is_nan() {
                Token::Str("NaN")
            } else if value > 0.0 {
                Token::Str("Infinity")
            } else {
                Token::Str("-Infinity")
            }
        }
        ScalarKind::Bool => match text {
            "true" | "1" => Token::Bool(true),
            "false" | "0" => Token::Bool(false),
            _ => {
                return Err(format!(
                    "\"{}\" is not a valid bool (use true, false, 1 or 0)",
                    text.escape_debug()
                ))
            }
        },
        ScalarKind::String | ScalarKind::Bytes => Token::Str(text),
    })
}

/// Writes the content of a well-known message from its URL value.
fn message_from_text(
    desc: &MessageDescriptor,
    wkt: WellKnown,
    text: &str,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match wkt {
        WellKnown::Timestamp => {
            let (seconds, nanos) = parse_timestamp(text)?;
            put_seconds_nanos(out, seconds, nanos);
        }
        WellKnown::Duration => {
            let (seconds, nanos) = parse_duration(text)?;
            put_seconds_nanos(out, seconds, nanos);
        }
        WellKnown::FieldMask => {
            for path in parse_field_mask(text)? {
                put_tag(out, 1, LEN);
                put_varint(out, path.len() as u64);
                out.extend_from_slice(path.as_bytes());
            }
        }
        WellKnown::Wrapper(ScalarKind::Bytes) => {
            // Decoded here so that an empty value stays an empty wrapper.
            let mark = out.len();
            put_tag(out, 1, LEN);
            let start = begin_len(out);
            decode_base64_into(out, text)?;
            if out.len() == start {
                out.truncate(mark);
            } else {
                end_len(out, start);
            }
        }
        WellKnown::Wrapper(kind) => {
            put_scalar(
                out,
                kind,
                Slot::Field {
                    number: 1,
                    presence: false,
                },
                text_token(kind, text)?,
            )?;
        }
        WellKnown::Delegated => {
            let opts = JsonOptions {
                ignore_unknown_fields: false,
                ..JsonOptions::default()
            };
            let mut de = serde_json::Deserializer::from_str(text);
            let message = DynamicMessage::deserialize_with_options(
                desc.clone(),
                &mut de,
                &opts.deserialize_options(),
            )
            .and_then(|message| de.end().map(|()| message))
            .map_err(|err| format!("invalid JSON for {}: {err}", desc.full_name()))?;
            message.encode_raw(out);
        }
        WellKnown::Empty => {
            return Err(format!(
                "{} cannot be set from a URL value",
                desc.full_name()
            ))
        }
    }
    Ok(())
}
