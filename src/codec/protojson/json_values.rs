//! JSON → protobuf for single values: scalars and enums, messages and well-known types.
//! `Any`, `Struct`, `Value` and `ListValue` are read by prost-reflect's `DynamicMessage` for
//! just that subtree and then encoded.

use prost::Message as _;
use prost_reflect::{DynamicMessage, EnumDescriptor, MessageDescriptor};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::failure::FailureKind;
use super::json_scalar::{expected, put_scalar, to_enum, to_null_value, Slot, Token};
use super::json_to_proto::{reject_other_values, Encoder, MessageVisitor, Outcome};
use super::kinds::{is_null_value, ScalarKind, ValueKind, WellKnown};
use super::wire::{begin_len, end_len, put_tag, put_varint, END_GROUP, LEN, START_GROUP, VARINT};
use super::wkt_text::{parse_duration, parse_field_mask, parse_timestamp};

/// How a message is framed in the output.
#[derive(Debug, Clone, Copy)]
pub(super) enum Framing {
    /// The bare content: the message being transcoded itself.
    Content,
    /// A length-delimited record of the given field.
    Len(u32),
    /// A proto2 group of the given field.
    Group(u32),
}

/// Reads the JSON form of a `desc` message and writes it with `framing`.
pub(super) fn write_message<'de, D: Deserializer<'de>>(
    enc: &mut Encoder<'_>,
    desc: &MessageDescriptor,
    framing: Framing,
    d: D,
) -> Result<Outcome, D::Error> {
    let content_start = match framing {
        Framing::Content => 0,
        Framing::Len(number) => {
            put_tag(enc.out, number, LEN);
            begin_len(enc.out)
        }
        Framing::Group(number) => {
            put_tag(enc.out, number, START_GROUP);
            0
        }
    };
    match WellKnown::of(desc) {
        None => {
            d.deserialize_any(MessageVisitor {
                enc: &mut *enc,
                desc,
            })?;
        }
        Some(WellKnown::Delegated) => delegate(enc, desc, d)?,
        Some(WellKnown::Empty) => {
            d.deserialize_any(EmptyVisitor { enc: &mut *enc })?;
        }
        Some(wkt) => {
            d.deserialize_any(TokenVisitor {
                enc: &mut *enc,
                what: wkt_expecting(wkt),
                accept: move |enc: &mut Encoder<'_>, token: Token<'_>| put_wkt(enc.out, wkt, token),
            })?;
        }
    }
    match framing {
        Framing::Content => {}
        Framing::Len(_) => end_len(enc.out, content_start),
        Framing::Group(number) => put_tag(enc.out, number, END_GROUP),
    }
    Ok(Outcome::Set)
}

/// Reads a scalar or enum value (or a message, for list elements and map values) into `slot`.
pub(super) fn write_value<'de, D: Deserializer<'de>>(
    enc: &mut Encoder<'_>,
    kind: &ValueKind,
    slot: Slot,
    d: D,
) -> Result<Outcome, D::Error> {
    match kind {
        ValueKind::Scalar(scalar) => {
            let scalar = *scalar;
            d.deserialize_any(TokenVisitor {
                enc,
                what: scalar_expecting(scalar),
                accept: move |enc: &mut Encoder<'_>, token: Token<'_>| {
                    put_scalar(enc.out, scalar, slot, token).map(|()| Outcome::Set)
                },
            })
        }
        ValueKind::Enum(desc) => d.deserialize_any(TokenVisitor {
            enc,
            what: "an enum value name or number",
            accept: move |enc: &mut Encoder<'_>, token: Token<'_>| put_enum(enc, desc, slot, token),
        }),
        ValueKind::Message(desc) => {
            let framing = match slot {
                Slot::Field { number, .. } => Framing::Len(number),
                Slot::Packed => Framing::Content,
            };
            write_message(enc, desc, framing, d)
        }
    }
}

fn scalar_expecting(kind: ScalarKind) -> &'static str {
    match kind {
        ScalarKind::Int32 | ScalarKind::Sint32 | ScalarKind::Sfixed32 => "a 32-bit integer",
        ScalarKind::Uint32 | ScalarKind::Fixed32 => "a 32-bit unsigned integer",
        ScalarKind::Int64 | ScalarKind::Sint64 | ScalarKind::Sfixed64 => {
            "a 64-bit integer or a decimal string"
        }
        ScalarKind::Uint64 | ScalarKind::Fixed64 => "a 64-bit unsigned integer or a decimal string",
        ScalarKind::Double | ScalarKind::Float => "a number",
        ScalarKind::Bool => "true or false",
        ScalarKind::String => "a string",
        ScalarKind::Bytes => "a base64 string",
    }
}

fn wkt_expecting(wkt: WellKnown) -> &'static str {
    match wkt {
        WellKnown::Timestamp => "an RFC 3339 timestamp string",
        WellKnown::Duration => "a duration string such as \"1.5s\"",
        WellKnown::FieldMask => "a field mask string",
        WellKnown::Wrapper(kind) => scalar_expecting(kind),
        WellKnown::Empty => "an empty object",
        WellKnown::Delegated => "a JSON value",
    }
}

fn put_enum(
    enc: &mut Encoder<'_>,
    desc: &EnumDescriptor,
    slot: Slot,
    token: Token<'_>,
) -> Result<Outcome, String> {
    let ignore_unknown = enc.opts.ignore_unknown_enum_values;
    let value = if is_null_value(desc) {
        to_null_value(token, ignore_unknown)?
    } else {
        to_enum(desc, token, ignore_unknown)?
    };
    let Some(value) = value else {
        return Ok(Outcome::Skipped);
    };
    let bits = i64::from(value) as u64;
    match slot {
        Slot::Field { number, presence } => {
            if presence || value != desc.default_value().number() {
                put_tag(enc.out, number, VARINT);
                put_varint(enc.out, bits);
            }
        }
        Slot::Packed => put_varint(enc.out, bits),
    }
    Ok(Outcome::Set)
}

/// Writes the content of a Timestamp, Duration, FieldMask or wrapper from its JSON scalar.
fn put_wkt(out: &mut Vec<u8>, wkt: WellKnown, token: Token<'_>) -> Result<Outcome, String> {
    match wkt {
        WellKnown::Timestamp | WellKnown::Duration => {
            let Token::Str(text) = token else {
                return Err(expected(wkt_expecting(wkt), token));
            };
            let (seconds, nanos) = if wkt == WellKnown::Timestamp {
                parse_timestamp(text)?
            } else {
                parse_duration(text)?
            };
            put_seconds_nanos(out, seconds, nanos);
        }
        WellKnown::FieldMask => {
            let Token::Str(text) = token else {
                return Err(expected(wkt_expecting(wkt), token));
            };
            for path in parse_field_mask(text)? {
                put_tag(out, 1, LEN);
                put_varint(out, path.len() as u64);
                out.extend_from_slice(path.as_bytes());
            }
        }
        WellKnown::Wrapper(kind) => put_scalar(
            out,
            kind,
            Slot::Field {
                number: 1,
                presence: false,
            },
            token,
        )?,
        WellKnown::Empty | WellKnown::Delegated => return Err(expected(wkt_expecting(wkt), token)),
    }
    Ok(Outcome::Set)
}

/// Writes the two fields shared by Timestamp and Duration, leaving out zeros.
pub(super) fn put_seconds_nanos(out: &mut Vec<u8>, seconds: i64, nanos: i32) {
    if seconds != 0 {
        put_tag(out, 1, VARINT);
        put_varint(out, seconds as u64);
    }
    if nanos != 0 {
        put_tag(out, 2, VARINT);
        put_varint(out, i64::from(nanos) as u64);
    }
}

/// Hands the subtree to prost-reflect and encodes the message it builds.
fn delegate<'de, D: Deserializer<'de>>(
    enc: &mut Encoder<'_>,
    desc: &MessageDescriptor,
    d: D,
) -> Result<(), D::Error> {
    match DynamicMessage::deserialize_with_options(desc.clone(), d, &enc.opts.deserialize_options())
    {
        Ok(message) => {
            message.encode_raw(enc.out);
            Ok(())
        }
        Err(err) => {
            let reason = err.to_string();
            Err(enc.fail(FailureKind::InvalidValue, reason))
        }
    }
}

/// Accepts one JSON scalar and hands it to `accept`; arrays and objects are rejected.
struct TokenVisitor<'e, 'o, F> {
    enc: &'e mut Encoder<'o>,
    what: &'static str,
    accept: F,
}

impl<F> TokenVisitor<'_, '_, F>
where
    F: FnOnce(&mut Encoder<'_>, Token<'_>) -> Result<Outcome, String>,
{
    #[inline]
    fn take<E: de::Error>(self, token: Token<'_>) -> Result<Outcome, E> {
        let TokenVisitor { enc, accept, .. } = self;
        accept(enc, token).map_err(|reason| enc.fail(FailureKind::InvalidValue, reason))
    }

    fn reject<E: de::Error>(self, found: &str) -> Result<Outcome, E> {
        Err(self.enc.fail(
            FailureKind::InvalidValue,
            format!("expected {}, found {found}", self.what),
        ))
    }
}

impl<'de, F> Visitor<'de> for TokenVisitor<'_, '_, F>
where
    F: FnOnce(&mut Encoder<'_>, Token<'_>) -> Result<Outcome, String>,
{
    type Value = Outcome;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Outcome, E> {
        self.take(Token::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Outcome, E> {
        self.take(Token::I64(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Outcome, E> {
        self.take(Token::U64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Outcome, E> {
        self.take(Token::F64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Outcome, E> {
        self.take(Token::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Outcome, E> {
        self.take(Token::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Outcome, A::Error> {
        self.reject("an array")
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Outcome, A::Error> {
        self.reject("an object")
    }
}

/// `google.protobuf.Empty`: only `{}`.
struct EmptyVisitor<'e, 'o> {
    enc: &'e mut Encoder<'o>,
}

impl EmptyVisitor<'_, '_> {
    fn reject<E: de::Error>(self, found: String, what: &str) -> Result<Outcome, E> {
        Err(self.enc.fail(
            FailureKind::InvalidValue,
            format!("expected {what}, found {found}"),
        ))
    }
}

impl<'de> Visitor<'de> for EmptyVisitor<'_, '_> {
    type Value = Outcome;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an empty object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(self
                .enc
                .fail(FailureKind::InvalidValue, "expected an empty object"));
        }
        Ok(Outcome::Set)
    }

    reject_other_values!('de, "an empty object", seq);
}
