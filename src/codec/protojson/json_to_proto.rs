//! JSON → protobuf: serde seeds that write wire bytes while serde_json parses the request
//! body, with no intermediate tree. This file holds the entry points, objects and their
//! members; single values are in `json_values.rs`, arrays and maps in `json_collections.rs`.

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::failure::{Failure, FailureKind};
use super::json_collections::{ListVisitor, MapVisitor};
use super::json_scalar::{Slot, Token};
use super::json_values::{write_message, write_value, Framing};
use super::kinds::{is_null_value, ValueKind};
use super::wire::{put_tag, LEN};
use super::{JsonOptions, TranscodeError};

/// Whether a JSON member set its field. `null` and ignored unknown enum names leave the field
/// as it was, exactly as in prost-reflect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Set,
    Skipped,
}

/// Implements the `visit_*` methods of a visitor that accepts only some JSON values, so that
/// every other value fails with a precise message through the visitor's `reject` method.
/// Add `seq` or `map` to also reject arrays or objects.
macro_rules! reject_other_values {
    ($de:lifetime, $what:expr) => {
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
            self.reject(Token::Bool(v).describe(), $what)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            self.reject(Token::I64(v).describe(), $what)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.reject(Token::U64(v).describe(), $what)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            self.reject(Token::F64(v).describe(), $what)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            self.reject(Token::Str(v).describe(), $what)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            self.reject(Token::Null.describe(), $what)
        }
    };
    ($de:lifetime, $what:expr, seq) => {
        reject_other_values!($de, $what);
        fn visit_seq<A: serde::de::SeqAccess<$de>>(self, _: A) -> Result<Self::Value, A::Error> {
            self.reject("an array".to_owned(), $what)
        }
    };
    ($de:lifetime, $what:expr, map) => {
        reject_other_values!($de, $what);
        fn visit_map<A: serde::de::MapAccess<$de>>(self, _: A) -> Result<Self::Value, A::Error> {
            self.reject("an object".to_owned(), $what)
        }
    };
}
pub(super) use reject_other_values;

/// State shared by all seeds of one transcoding call.
pub(super) struct Encoder<'o> {
    pub(super) out: &'o mut Vec<u8>,
    pub(super) opts: JsonOptions,
    failure: Option<Box<Failure>>,
    /// Where the current value of each field assigned so far was written (field number, start,
    /// end), for the objects being read, outermost first.
    live: Vec<(u32, usize, usize)>,
    /// Byte ranges of values replaced by a later member with the same field; they are cut out
    /// once, when their object ends, so that repeated keys cost linear time.
    dead: Vec<(usize, usize)>,
}

impl<'o> Encoder<'o> {
    fn new(out: &'o mut Vec<u8>, opts: &JsonOptions) -> Self {
        Self {
            out,
            opts: *opts,
            failure: None,
            live: Vec::new(),
            dead: Vec::new(),
        }
    }

    /// Records a failure and returns the error that makes serde unwind; the recorded failure,
    /// not serde's message, is what the caller finally sees.
    pub(super) fn fail<E: de::Error>(&mut self, kind: FailureKind, reason: impl Into<String>) -> E {
        self.failure = Some(Failure::new(kind, reason));
        E::custom("transcoding failed")
    }

    /// Adds a path segment to the failure travelling outwards, if any (syntax errors carry no
    /// failure and keep serde_json's own message).
    pub(super) fn annotate(&mut self, add: impl FnOnce(&mut Failure)) {
        if let Some(failure) = self.failure.as_deref_mut() {
            add(failure);
        }
    }

    fn into_error(self, err: serde_json::Error) -> TranscodeError {
        match self.failure {
            Some(failure) => failure.into_error(),
            None => TranscodeError::InvalidJson(err.to_string()),
        }
    }
}

/// Transcodes a JSON object (or the JSON form of a well-known type) into the wire bytes of a
/// `desc` message, appended to `out`.
pub(super) fn encode_message(
    desc: &MessageDescriptor,
    json: &[u8],
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    let mut de = serde_json::Deserializer::from_str(utf8(json)?);
    let mut enc = Encoder::new(out, opts);
    let result = write_message(&mut enc, desc, Framing::Content, &mut de).and_then(|_| de.end());
    result.map_err(|err| enc.into_error(err))
}

/// Transcodes the JSON value of `field` into the records of that field, appended to `out`.
pub(super) fn encode_field(
    field: &FieldDescriptor,
    json: &[u8],
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    let mut de = serde_json::Deserializer::from_str(utf8(json)?);
    let mut enc = Encoder::new(out, opts);
    let result = FieldSeed {
        enc: &mut enc,
        field,
    }
    .deserialize(&mut de)
    .and_then(|_| de.end());
    result.map_err(|err| enc.into_error(err))
}

/// Checks the whole body up front: serde_json checks UTF-8 only in the strings it keeps, and
/// invalid text must not slip through inside ignored members.
fn utf8(json: &[u8]) -> Result<&str, TranscodeError> {
    std::str::from_utf8(json).map_err(|err| {
        TranscodeError::InvalidJson(format!("invalid UTF-8 at byte {}", err.valid_up_to()))
    })
}

/// Field numbers already assigned in the object being read, to apply "last one wins" to
/// repeated keys and to reject two members of one oneof.
#[derive(Default)]
struct Assigned {
    low: u128,
    high: Vec<u32>,
}

impl Assigned {
    fn contains(&self, number: u32) -> bool {
        if number < 128 {
            self.low & (1u128 << number) != 0
        } else {
            self.high.contains(&number)
        }
    }

    fn insert(&mut self, number: u32) {
        if number < 128 {
            self.low |= 1u128 << number;
        } else if !self.high.contains(&number) {
            self.high.push(number);
        }
    }
}

/// Removes the byte ranges `dead[base..]` (disjoint, in any order) from `out` with one pass
/// over the bytes after the first of them.
fn cut_dead_ranges(out: &mut Vec<u8>, dead: &mut Vec<(usize, usize)>, base: usize) {
    let Some(ranges) = dead.get_mut(base..) else {
        return;
    };
    if ranges.is_empty() {
        return;
    }
    ranges.sort_unstable();
    let mut write = ranges.first().map_or(0, |range| range.0);
    let mut read = write;
    for &(start, end) in ranges.iter() {
        if start > read {
            out.copy_within(read..start, write);
            write += start - read;
        }
        read = read.max(end);
    }
    let len = out.len();
    if read < len {
        out.copy_within(read..len, write);
        write += len - read;
    }
    out.truncate(write);
    dead.truncate(base);
}

/// Reads a JSON object into the fields of `desc`.
pub(super) struct MessageVisitor<'e, 'o> {
    pub(super) enc: &'e mut Encoder<'o>,
    pub(super) desc: &'e MessageDescriptor,
}

impl<'de> Visitor<'de> for MessageVisitor<'_, '_> {
    type Value = Outcome;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        let MessageVisitor { enc, desc } = self;
        let live_base = enc.live.len();
        let dead_base = enc.dead.len();
        let mut assigned = Assigned::default();
        let keep_unknown_names = !enc.opts.ignore_unknown_fields;
        // Objects usually list fields in field-number order, so the field after the last one
        // found is tried first, before the name tables.
        let mut upcoming = desc.fields();
        let mut guess = upcoming.next();
        let has_oneofs = desc.oneofs().len() != 0;
        while let Some(key) = map.next_key_seed(KeySeed {
            desc,
            guess: &mut guess,
            keep_unknown_names,
        })? {
            let (field, number) = match key {
                FieldKey::Known(field) => {
                    let number = field.number();
                    if guess.is_none() {
                        guess = upcoming.next();
                    }
                    while guess.as_ref().is_some_and(|next| next.number() <= number) {
                        guess = upcoming.next();
                    }
                    (field, number)
                }
                FieldKey::Unknown(None) => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                FieldKey::Unknown(Some(name)) => {
                    let err = enc.fail(FailureKind::UnknownField, "");
                    enc.annotate(|failure| failure.within_field(&name));
                    return Err(err);
                }
            };
            let value_start = enc.out.len();
            if map.next_value_seed(FieldSeed {
                enc: &mut *enc,
                field: &field,
            })? == Outcome::Skipped
            {
                continue;
            }
            if let Some(oneof) = has_oneofs.then(|| field.containing_oneof()).flatten() {
                if let Some(other) = oneof
                    .fields()
                    .find(|member| assigned.contains(member.number()))
                {
                    let reason = if other.number() == number {
                        format!(
                            "field is given twice and belongs to oneof '{}'",
                            oneof.name()
                        )
                    } else {
                        format!(
                            "oneof '{}' already has field '{}' set",
                            oneof.name(),
                            other.json_name()
                        )
                    };
                    let err = enc.fail(FailureKind::InvalidValue, reason);
                    enc.annotate(|failure| failure.within_field(field.json_name()));
                    return Err(err);
                }
            }
            let value_end = enc.out.len();
            if assigned.contains(number) {
                let earlier = enc
                    .live
                    .get_mut(live_base..)
                    .and_then(|live| live.iter_mut().find(|(n, ..)| *n == number));
                if let Some((_, start, end)) = earlier {
                    enc.dead.push((*start, *end));
                    (*start, *end) = (value_start, value_end);
                }
            } else {
                enc.live.push((number, value_start, value_end));
                assigned.insert(number);
            }
        }
        cut_dead_ranges(enc.out, &mut enc.dead, dead_base);
        enc.live.truncate(live_base);
        Ok(Outcome::Set)
    }

    reject_other_values!('de, "an object", seq);
}

impl MessageVisitor<'_, '_> {
    fn reject<E: de::Error>(self, found: String, what: &str) -> Result<Outcome, E> {
        Err(self.enc.fail(
            FailureKind::InvalidValue,
            format!("expected {what}, found {found}"),
        ))
    }
}

/// A JSON member name resolved against the message's fields.
enum FieldKey {
    Known(FieldDescriptor),
    /// Not a field; the name is kept only when it is going to be reported.
    Unknown(Option<String>),
}

struct KeySeed<'e> {
    desc: &'e MessageDescriptor,
    /// The field expected next; taken when the name matches its JSON name.
    guess: &'e mut Option<FieldDescriptor>,
    keep_unknown_names: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = FieldKey;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FieldKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = FieldKey;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<FieldKey, E> {
        if self
            .guess
            .as_ref()
            .is_some_and(|guess| guess.json_name() == name)
        {
            if let Some(field) = self.guess.take() {
                return Ok(FieldKey::Known(field));
            }
        }
        // Both the JSON name and the proto name are accepted, JSON name first (as prost-reflect).
        let found = self
            .desc
            .get_field_by_json_name(name)
            .or_else(|| self.desc.get_field_by_name(name));
        Ok(match found {
            Some(field) => FieldKey::Known(field),
            None => FieldKey::Unknown(self.keep_unknown_names.then(|| name.to_owned())),
        })
    }
}

/// Reads the value of one field: `null`, an array, an object or a scalar.
pub(super) struct FieldSeed<'e, 'o> {
    pub(super) enc: &'e mut Encoder<'o>,
    pub(super) field: &'e FieldDescriptor,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_> {
    type Value = Outcome;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Outcome, D::Error> {
        let FieldSeed { enc, field } = self;
        let result = d.deserialize_option(FieldVisitor {
            enc: &mut *enc,
            field,
        });
        if result.is_err() {
            enc.annotate(|failure| failure.within_field(field.json_name()));
        }
        result
    }
}

struct FieldVisitor<'e, 'o> {
    enc: &'e mut Encoder<'o>,
    field: &'e FieldDescriptor,
}

impl<'de> Visitor<'de> for FieldVisitor<'_, '_> {
    type Value = Outcome;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field value")
    }

    fn visit_none<E: de::Error>(self) -> Result<Outcome, E> {
        Ok(write_null(self.enc, self.field))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Outcome, E> {
        Ok(write_null(self.enc, self.field))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Outcome, D::Error> {
        let FieldVisitor { enc, field } = self;
        let kind = field.kind();
        if field.cardinality() == Cardinality::Repeated {
            if let Kind::Message(entry) = &kind {
                if entry.is_map_entry() {
                    return d.deserialize_any(MapVisitor { enc, field });
                }
            }
            let kind = ValueKind::of(kind);
            let packed = kind.is_packable() && field.is_packed();
            return d.deserialize_any(ListVisitor {
                enc,
                field,
                kind: &kind,
                packed,
            });
        }
        let number = field.number();
        match ValueKind::of(kind) {
            ValueKind::Message(desc) => {
                let framing = if field.is_group() {
                    Framing::Group(number)
                } else {
                    Framing::Len(number)
                };
                write_message(enc, &desc, framing, d)
            }
            kind => {
                let slot = Slot::Field {
                    number,
                    presence: field.supports_presence(),
                };
                write_value(enc, &kind, slot, d)
            }
        }
    }
}

/// `null` for a field: unset, except for `google.protobuf.Value` (a JSON null value) and
/// `google.protobuf.NullValue`. A repeated or map field given `null` stays unset.
fn write_null(enc: &mut Encoder<'_>, field: &FieldDescriptor) -> Outcome {
    if field.cardinality() == Cardinality::Repeated {
        return Outcome::Skipped;
    }
    match field.kind() {
        Kind::Message(desc) if desc.full_name() == "google.protobuf.Value" => {
            put_tag(enc.out, field.number(), LEN);
            // Value { null_value: NULL_VALUE }: field 1, varint 0.
            enc.out.extend_from_slice(&[2, 0x08, 0x00]);
            Outcome::Set
        }
        Kind::Enum(desc) if is_null_value(&desc) => {
            if field.supports_presence() {
                put_tag(enc.out, field.number(), super::wire::VARINT);
                enc.out.push(0);
            }
            Outcome::Set
        }
        _ => Outcome::Skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_ranges_are_cut_in_one_pass() {
        let mut out = b"0123456789".to_vec();
        let mut dead = vec![(99, 99), (6, 8), (1, 3)];
        cut_dead_ranges(&mut out, &mut dead, 1);
        assert_eq!(out, b"034589");
        assert_eq!(dead, vec![(99, 99)]);
        let mut untouched = b"abc".to_vec();
        cut_dead_ranges(&mut untouched, &mut Vec::new(), 0);
        assert_eq!(untouched, b"abc");
    }

    #[test]
    fn assigned_numbers_are_tracked_below_and_above_128() {
        let mut assigned = Assigned::default();
        for number in [1, 127, 128, 536_870_911] {
            assert!(!assigned.contains(number));
            assigned.insert(number);
            assert!(assigned.contains(number));
        }
        assert!(!assigned.contains(2));
    }
}
