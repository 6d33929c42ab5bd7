//! Protobuf → JSON for map fields: entries become object members, and when a key occurs in
//! several entries the last one wins (earlier ones are still checked, as prost decodes them).

use prost_reflect::{FieldDescriptor, Kind};

use super::failure::{Failure, FailureKind};
use super::json_write::{write_i64_quoted, write_str, write_u64_quoted};
use super::kinds::{ScalarKind, ValueKind};
use super::proto_to_json::{wire_failure, Emitter, Run, Written};
use super::proto_values::{check_utf8, expect_wire_type, payload, write_scalar, Raw};
use super::wire::{unzigzag32, unzigzag64, Reader, WireError, FIXED32, FIXED64, LEN, VARINT};

/// A map key, normalised so that equal keys compare equal whatever their encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MapKey<'a> {
    Signed(i64),
    Unsigned(u64),
    Bool(bool),
    Text(&'a [u8]),
}

impl<'a> MapKey<'a> {
    fn new(kind: ScalarKind, raw: Option<Raw<'a>>) -> Self {
        let v = match raw {
            Some(Raw::Bytes(bytes)) => return Self::Text(bytes),
            Some(Raw::Num(v)) => v,
            None if kind == ScalarKind::String => return Self::Text(&[]),
            None => 0,
        };
        match kind {
            ScalarKind::Int32 => Self::Signed(i64::from(v as i32)),
            ScalarKind::Sint32 => Self::Signed(i64::from(unzigzag32(v))),
            ScalarKind::Sfixed32 => Self::Signed(i64::from(v as u32 as i32)),
            ScalarKind::Int64 | ScalarKind::Sfixed64 => Self::Signed(v as i64),
            ScalarKind::Sint64 => Self::Signed(unzigzag64(v)),
            ScalarKind::Uint32 | ScalarKind::Fixed32 => Self::Unsigned(u64::from(v as u32)),
            ScalarKind::Bool => Self::Bool(v != 0),
            _ => Self::Unsigned(v),
        }
    }

    /// Writes the key as a JSON member name.
    fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Signed(v) => write_i64_quoted(out, v),
            Self::Unsigned(v) => write_u64_quoted(out, v),
            Self::Bool(v) => out.extend_from_slice(if v { b"\"true\"" } else { b"\"false\"" }),
            Self::Text(bytes) => write_str(out, std::str::from_utf8(bytes).unwrap_or_default()),
        }
    }

    /// The key as shown in an error path.
    fn describe(&self) -> String {
        match *self {
            Self::Signed(v) => v.to_string(),
            Self::Unsigned(v) => v.to_string(),
            Self::Bool(v) => v.to_string(),
            Self::Text(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

/// Everything about a map field's entry type that reading an entry needs.
struct EntryType {
    key_kind: ScalarKind,
    value_kind: ValueKind,
}

impl EntryType {
    fn of(field: &FieldDescriptor) -> Result<Self, Box<Failure>> {
        let invalid = || {
            Failure::new(
                FailureKind::InvalidWire,
                "map field has no valid entry type",
            )
        };
        let Kind::Message(entry) = field.kind() else {
            return Err(invalid());
        };
        let key_kind = ScalarKind::of(&entry.map_entry_key_field().kind()).ok_or_else(invalid)?;
        let value_kind = ValueKind::of_field(&entry.map_entry_value_field());
        Ok(Self {
            key_kind,
            value_kind,
        })
    }
}

/// Reads the key of one entry, checking the entry's framing and its key.
fn read_key<'a>(entry: &'a [u8], kind: ScalarKind, depth: u32) -> Result<MapKey<'a>, Box<Failure>> {
    let mut reader = Reader::new(entry);
    let mut key = None;
    while !reader.is_empty() {
        let (number, wire_type) = reader.key().map_err(wire_failure)?;
        match number {
            1 => {
                expect_wire_type(wire_type, kind.wire_type())?;
                let raw = match wire_type {
                    VARINT => Raw::Num(reader.varint().map_err(wire_failure)?),
                    FIXED32 => Raw::Num(u64::from(reader.fixed32().map_err(wire_failure)?)),
                    FIXED64 => Raw::Num(reader.fixed64().map_err(wire_failure)?),
                    _ => Raw::Bytes(reader.length_delimited().map_err(wire_failure)?),
                };
                check_utf8(kind, raw)?;
                key = Some(raw);
            }
            _ => skip_in_entry(&mut reader, number, wire_type, depth)?,
        }
    }
    Ok(MapKey::new(kind, key))
}

/// Skips a non-key field of an entry; prost checks the nesting budget for every such field.
fn skip_in_entry(
    reader: &mut Reader<'_>,
    number: u32,
    wire_type: u8,
    depth: u32,
) -> Result<(), Box<Failure>> {
    if depth == 0 {
        return Err(wire_failure(WireError::TooDeep));
    }
    reader.skip(number, wire_type, depth).map_err(wire_failure)
}

impl Emitter<'_> {
    /// Writes a map field as a JSON object.
    pub(super) fn write_map(
        &mut self,
        field: &FieldDescriptor,
        run: Run,
        wire: &[u8],
        depth: u32,
    ) -> Result<Written, Box<Failure>> {
        let entry_type = EntryType::of(field)?;
        let mut entries: Vec<(MapKey<'_>, &[u8])> = Vec::with_capacity(run.hi - run.lo);
        for index in run.lo..run.hi {
            let record = self.record(index)?;
            expect_wire_type(record.wire_type, LEN)?;
            let entry = payload(wire, &record)?;
            entries.push((read_key(entry, entry_type.key_kind, depth)?, entry));
        }
        let winners = last_of_each_key(&entries);
        self.out.push(b'{');
        let mut first = true;
        for (position, (key, entry)) in entries.iter().enumerate() {
            let wins = winners.get(position).copied().unwrap_or(true);
            let mark = self.out.len();
            let was_validating = self.validating;
            if wins {
                if !first {
                    self.out.push(b',');
                }
                first = false;
                key.write(self.out);
                self.out.push(b':');
            } else {
                self.validating = true;
            }
            let result = self.write_entry_value(entry, &entry_type, depth);
            self.validating = was_validating;
            if !wins {
                self.out.truncate(mark);
            }
            result.map_err(|mut failure| {
                failure.within_key(key.describe());
                failure
            })?;
        }
        self.out.push(b'}');
        Ok(Written::Value)
    }

    /// Writes the value of one entry: its value records (merged for messages, last one for
    /// scalars), or the value type's default.
    fn write_entry_value(
        &mut self,
        entry: &[u8],
        entry_type: &EntryType,
        depth: u32,
    ) -> Result<(), Box<Failure>> {
        let kind = &entry_type.value_kind;
        let mut reader = Reader::new(entry);
        let mut last: Option<Raw<'_>> = None;
        let mut merged: Option<Vec<u8>> = None;
        while !reader.is_empty() {
            let (number, wire_type) = reader.key().map_err(wire_failure)?;
            if number == 1 {
                // The key was checked by `read_key`.
                reader
                    .skip(number, wire_type, depth)
                    .map_err(wire_failure)?;
                continue;
            }
            if number != 2 {
                skip_in_entry(&mut reader, number, wire_type, depth)?;
                continue;
            }
            expect_wire_type(wire_type, kind.wire_type())?;
            let raw = match wire_type {
                VARINT => Raw::Num(reader.varint().map_err(wire_failure)?),
                FIXED32 => Raw::Num(u64::from(reader.fixed32().map_err(wire_failure)?)),
                FIXED64 => Raw::Num(reader.fixed64().map_err(wire_failure)?),
                _ => Raw::Bytes(reader.length_delimited().map_err(wire_failure)?),
            };
            match (kind, raw, last) {
                (ValueKind::Message(_), Raw::Bytes(more), Some(Raw::Bytes(earlier))) => {
                    merged
                        .get_or_insert_with(|| earlier.to_vec())
                        .extend_from_slice(more);
                }
                (ValueKind::Scalar(scalar), _, _) => check_utf8(*scalar, raw)?,
                _ => {}
            }
            if merged.is_none() {
                last = Some(raw);
            }
        }
        match kind {
            ValueKind::Message(desc) => {
                let bytes = match (&merged, last) {
                    (Some(merged), _) => merged.as_slice(),
                    (None, Some(Raw::Bytes(bytes))) => bytes,
                    _ => &[],
                };
                if last.is_some() && depth == 0 {
                    return Err(wire_failure(WireError::TooDeep));
                }
                self.write_message(desc, bytes, depth.saturating_sub(1))
            }
            ValueKind::Scalar(scalar) => {
                let raw = last.unwrap_or(match scalar {
                    ScalarKind::String | ScalarKind::Bytes => Raw::Bytes(&[]),
                    _ => Raw::Num(0),
                });
                write_scalar(self.out, *scalar, raw)
            }
            ValueKind::Enum(desc) => {
                let value = match last {
                    Some(Raw::Num(v)) => v as i32,
                    _ => desc.default_value().number(),
                };
                self.write_enum(desc, value);
                Ok(())
            }
        }
    }
}

/// For each entry, whether no later entry has the same key.
fn last_of_each_key(entries: &[(MapKey<'_>, &[u8])]) -> Vec<bool> {
    if entries.len() < 2 {
        return vec![true; entries.len()];
    }
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by(|&a, &b| {
        let key_a = entries.get(a).map(|entry| entry.0);
        let key_b = entries.get(b).map(|entry| entry.0);
        key_a.cmp(&key_b).then(a.cmp(&b))
    });
    let mut winners = vec![false; entries.len()];
    for (rank, &position) in order.iter().enumerate() {
        let key = entries.get(position).map(|entry| entry.0);
        let next_key = order
            .get(rank + 1)
            .and_then(|&next| entries.get(next))
            .map(|entry| entry.0);
        if next_key != key {
            if let Some(slot) = winners.get_mut(position) {
                *slot = true;
            }
        }
    }
    winners
}
