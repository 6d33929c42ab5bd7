//! JSON → protobuf for arrays (repeated fields) and objects of map fields, element by
//! element.

use prost_reflect::{FieldDescriptor, Kind};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::failure::FailureKind;
use super::json_scalar::{put_scalar, Slot, Token};
use super::json_to_proto::{reject_other_values, Encoder, Outcome};
use super::json_values::{write_message, write_value, Framing};
use super::kinds::{ScalarKind, ValueKind};
use super::wire::{
    begin_len, end_len, put_tag, unzigzag32, unzigzag64, Reader, FIXED32, FIXED64, LEN, VARINT,
};

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
