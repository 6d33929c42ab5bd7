//! JSON → protobuf for field values: scalars and enums, messages and well-known types, arrays
//! and maps. `Any`, `Struct`, `Value` and `ListValue` are read by prost-reflect's
//! `DynamicMessage` for just that subtree and then encoded.

use prost::Message as _;
use prost_reflect::{DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::failure::FailureKind;
use super::json_scalar::{expected, put_scalar, to_enum, to_null_value, Slot, Token};
use super::json_to_proto::{reject_other_values, Encoder, MessageVisitor, Outcome};
use super::kinds::{is_null_value, ScalarKind, ValueKind, WellKnown};
use super::wire::{
    begin_len, end_len, put_tag, put_varint, unzigzag32, unzigzag64, Reader, END_GROUP, FIXED32,
    FIXED64, LEN, START_GROUP, VARINT,
};
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
    let ignore_unknown = enc.opts.ignore_unknown_fields;
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

/// Where an element sits, to name it in errors.
#[derive(Clone, Copy)]
enum Position {
    Index(usize),
    /// The value of the map entry whose content starts at this offset of the output.
    MapValue {
        entry_start: usize,
        key_kind: ScalarKind,
    },
}

/// One array element or map value.
struct ElementSeed<'e, 'o> {
    enc: &'e mut Encoder<'o>,
    kind: &'e ValueKind,
    slot: Slot,
    framing: Framing,
    position: Position,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, '_> {
    type Value = Outcome;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Outcome, D::Error> {
        let ElementSeed {
            enc,
            kind,
            slot,
            framing,
            position,
        } = self;
        let result = match kind {
            ValueKind::Message(desc) => write_message(enc, desc, framing, d),
            _ => write_value(enc, kind, slot, d),
        };
        if result.is_err() {
            let name = match position {
                Position::Index(index) => Err(index),
                Position::MapValue {
                    entry_start,
                    key_kind,
                } => Ok(read_back_key(enc.out, entry_start, key_kind)),
            };
            enc.annotate(|failure| match name {
                Err(index) => failure.within_index(index),
                Ok(key) => failure.within_key(key),
            });
        }
        result
    }
}

/// A JSON array for a repeated field.
pub(super) struct ListVisitor<'e, 'o> {
    pub(super) enc: &'e mut Encoder<'o>,
    pub(super) field: &'e FieldDescriptor,
    pub(super) kind: &'e ValueKind,
    /// Packed encoding: one length-delimited record holding all values.
    pub(super) packed: bool,
}

impl ListVisitor<'_, '_> {
    fn reject<E: de::Error>(self, found: String, what: &str) -> Result<Outcome, E> {
        Err(self.enc.fail(
            FailureKind::InvalidValue,
            format!("expected {what}, found {found}"),
        ))
    }
}

impl<'de> Visitor<'de> for ListVisitor<'_, '_> {
    type Value = Outcome;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outcome, A::Error> {
        let ListVisitor {
            enc,
            field,
            kind,
            packed,
        } = self;
        let number = field.number();
        let mut index = 0usize;
        if packed {
            let mark = enc.out.len();
            put_tag(enc.out, number, LEN);
            let start = begin_len(enc.out);
            while seq
                .next_element_seed(ElementSeed {
                    enc: &mut *enc,
                    kind,
                    slot: Slot::Packed,
                    framing: Framing::Content,
                    position: Position::Index(index),
                })?
                .is_some()
            {
                index += 1;
            }
            if enc.out.len() == start {
                // No element (or only ignored enum names): an empty list is not written.
                enc.out.truncate(mark);
            } else {
                end_len(enc.out, start);
            }
        } else {
            let framing = if field.is_group() {
                Framing::Group(number)
            } else {
                Framing::Len(number)
            };
            let slot = Slot::Field {
                number,
                presence: true,
            };
            while seq
                .next_element_seed(ElementSeed {
                    enc: &mut *enc,
                    kind,
                    slot,
                    framing,
                    position: Position::Index(index),
                })?
                .is_some()
            {
                index += 1;
            }
        }
        Ok(Outcome::Set)
    }

    reject_other_values!('de, "an array", map);
}

/// A JSON object for a map field.
pub(super) struct MapVisitor<'e, 'o> {
    pub(super) enc: &'e mut Encoder<'o>,
    pub(super) field: &'e FieldDescriptor,
}

impl MapVisitor<'_, '_> {
    fn reject<E: de::Error>(self, found: String, what: &str) -> Result<Outcome, E> {
        Err(self.enc.fail(
            FailureKind::InvalidValue,
            format!("expected {what}, found {found}"),
        ))
    }
}

impl<'de> Visitor<'de> for MapVisitor<'_, '_> {
    type Value = Outcome;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        let MapVisitor { enc, field } = self;
        let Kind::Message(entry) = field.kind() else {
            return Err(enc.fail(FailureKind::InvalidValue, "map field has no entry type"));
        };
        let key_field = entry.map_entry_key_field();
        let value_field = entry.map_entry_value_field();
        let Some(key_kind) = ScalarKind::of(&key_field.kind()) else {
            return Err(enc.fail(FailureKind::InvalidValue, "map keys must be scalars"));
        };
        let value_kind = ValueKind::of_field(&value_field);
        let value_slot = Slot::Field {
            number: value_field.number(),
            presence: value_field.supports_presence(),
        };
        let number = field.number();
        loop {
            let mark = enc.out.len();
            let Some(entry_start) = map.next_key_seed(MapKeySeed {
                enc: &mut *enc,
                number,
                key_kind,
            })?
            else {
                break;
            };
            let outcome = map.next_value_seed(ElementSeed {
                enc: &mut *enc,
                kind: &value_kind,
                slot: value_slot,
                framing: Framing::Len(value_field.number()),
                position: Position::MapValue {
                    entry_start,
                    key_kind,
                },
            })?;
            if outcome == Outcome::Skipped {
                // An ignored enum name drops the whole entry, as in prost-reflect.
                enc.out.truncate(mark);
            } else {
                end_len(enc.out, entry_start);
            }
        }
        Ok(Outcome::Set)
    }

    reject_other_values!('de, "an object", seq);
}

/// Reads a map key, and opens its entry record with the key written; yields where the entry
/// content starts.
struct MapKeySeed<'e, 'o> {
    enc: &'e mut Encoder<'o>,
    number: u32,
    key_kind: ScalarKind,
}

impl<'de> DeserializeSeed<'de> for MapKeySeed<'_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for MapKeySeed<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        let MapKeySeed {
            enc,
            number,
            key_kind,
        } = self;
        let token = match key_kind {
            ScalarKind::Int32 | ScalarKind::Sint32 | ScalarKind::Sfixed32 => {
                key.parse::<i32>().ok().map(|v| Token::I64(v.into()))
            }
            ScalarKind::Int64 | ScalarKind::Sint64 | ScalarKind::Sfixed64 => {
                key.parse::<i64>().ok().map(Token::I64)
            }
            ScalarKind::Uint32 | ScalarKind::Fixed32 => {
                key.parse::<u32>().ok().map(|v| Token::U64(v.into()))
            }
            ScalarKind::Uint64 | ScalarKind::Fixed64 => key.parse::<u64>().ok().map(Token::U64),
            ScalarKind::Bool => key.parse::<bool>().ok().map(Token::Bool),
            ScalarKind::String => Some(Token::Str(key)),
            ScalarKind::Double | ScalarKind::Float | ScalarKind::Bytes => None,
        };
        let Some(token) = token else {
            let reason = format!(
                "invalid map key \"{}\": the keys of this map are {}",
                key.escape_debug(),
                key_kind.proto_name()
            );
            return Err(enc.fail(FailureKind::InvalidValue, reason));
        };
        put_tag(enc.out, number, LEN);
        let entry_start = begin_len(enc.out);
        put_scalar(
            enc.out,
            key_kind,
            Slot::Field {
                number: 1,
                presence: false,
            },
            token,
        )
        .map_err(|reason| enc.fail(FailureKind::InvalidValue, reason))?;
        Ok(entry_start)
    }
}

/// The map key of the entry being written, read back from the output to name it in an error.
fn read_back_key(out: &[u8], entry_start: usize, kind: ScalarKind) -> String {
    let mut reader = Reader::new(out.get(entry_start..).unwrap_or_default());
    let key = match reader.key() {
        Ok((1, wire_type)) => wire_type,
        _ => return default_key(kind).to_owned(),
    };
    let text = match (key, kind) {
        (VARINT, _) => reader.varint().ok().map(|v| match kind {
            ScalarKind::Int32 => (v as i32).to_string(),
            ScalarKind::Sint32 => unzigzag32(v).to_string(),
            ScalarKind::Sint64 => unzigzag64(v).to_string(),
            ScalarKind::Int64 => (v as i64).to_string(),
            ScalarKind::Bool => (v != 0).to_string(),
            _ => v.to_string(),
        }),
        (FIXED32, ScalarKind::Sfixed32) => reader.fixed32().ok().map(|v| (v as i32).to_string()),
        (FIXED32, _) => reader.fixed32().ok().map(|v| v.to_string()),
        (FIXED64, ScalarKind::Sfixed64) => reader.fixed64().ok().map(|v| (v as i64).to_string()),
        (FIXED64, _) => reader.fixed64().ok().map(|v| v.to_string()),
        (LEN, _) => reader
            .length_delimited()
            .ok()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    };
    text.unwrap_or_default()
}

fn default_key(kind: ScalarKind) -> &'static str {
    match kind {
        ScalarKind::Bool => "false",
        ScalarKind::String => "",
        _ => "0",
    }
}
