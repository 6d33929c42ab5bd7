//! Protobuf → JSON for well-known types: `Timestamp`, `Duration`, `FieldMask`, `Empty` and the
//! wrappers are written directly; `Any`, `Struct`, `Value` and `ListValue` are decoded and
//! printed by prost-reflect's `DynamicMessage`.

use prost_reflect::{DynamicMessage, MessageDescriptor};

use super::failure::{Failure, FailureKind};
use super::json_write::{write_f32, write_f64, write_i64_quoted, write_str, write_u64_quoted};
use super::kinds::{ScalarKind, WellKnown};
use super::proto_to_json::{wire_failure, Emitter};
use super::proto_values::{check_utf8, expect_wire_type, write_scalar, Raw};
use super::wire::{Reader, FIXED32, FIXED64, LEN, VARINT};
use super::wkt_text::{format_duration, format_timestamp, push_field_mask_path};

/// Reads the value of one record whose wire type has been checked.
fn read_raw<'a>(reader: &mut Reader<'a>, wire_type: u8) -> Result<Raw<'a>, Box<Failure>> {
    match wire_type {
        VARINT => reader.varint().map(Raw::Num),
        FIXED32 => reader.fixed32().map(|v| Raw::Num(u64::from(v))),
        FIXED64 => reader.fixed64().map(Raw::Num),
        _ => reader.length_delimited().map(Raw::Bytes),
    }
    .map_err(wire_failure)
}

/// The `seconds` and `nanos` of a Timestamp or Duration.
fn read_seconds_nanos(wire: &[u8], depth: u32) -> Result<(i64, i32), Box<Failure>> {
    let mut reader = Reader::new(wire);
    let (mut seconds, mut nanos) = (0i64, 0i32);
    while !reader.is_empty() {
        let (number, wire_type) = reader.key().map_err(wire_failure)?;
        match number {
            1 | 2 => {
                expect_wire_type(wire_type, VARINT)?;
                let value = reader.varint().map_err(wire_failure)?;
                if number == 1 {
                    seconds = value as i64;
                } else {
                    nanos = value as i32;
                }
            }
            _ => reader
                .skip(number, wire_type, depth)
                .map_err(wire_failure)?,
        }
    }
    Ok((seconds, nanos))
}

impl Emitter<'_> {
    /// A value that decodes but has no JSON form: an error, unless the value is only being
    /// checked (then a placeholder is written and later discarded).
    fn unrepresentable(&mut self, reason: String) -> Result<(), Box<Failure>> {
        if self.validating {
            self.out.extend_from_slice(b"null");
            Ok(())
        } else {
            Err(Failure::new(FailureKind::Unrepresentable, reason))
        }
    }

    pub(super) fn write_well_known(
        &mut self,
        desc: &MessageDescriptor,
        wkt: WellKnown,
        wire: &[u8],
        depth: u32,
    ) -> Result<(), Box<Failure>> {
        match wkt {
            WellKnown::Timestamp | WellKnown::Duration => {
                let (seconds, nanos) = read_seconds_nanos(wire, depth)?;
                let mark = self.out.len();
                self.out.push(b'"');
                let written = if wkt == WellKnown::Timestamp {
                    format_timestamp(self.out, seconds, nanos)
                } else {
                    format_duration(self.out, seconds, nanos)
                };
                match written {
                    Ok(()) => self.out.push(b'"'),
                    Err(reason) => {
                        self.out.truncate(mark);
                        self.unrepresentable(reason)?;
                    }
                }
            }
            WellKnown::FieldMask => self.write_field_mask(wire, depth)?,
            WellKnown::Empty => {
                let mut reader = Reader::new(wire);
                while !reader.is_empty() {
                    let (number, wire_type) = reader.key().map_err(wire_failure)?;
                    reader
                        .skip(number, wire_type, depth)
                        .map_err(wire_failure)?;
                }
                self.out.extend_from_slice(b"{}");
            }
            WellKnown::Wrapper(kind) => self.write_wrapper(kind, wire, depth)?,
            WellKnown::Delegated => {
                let message = DynamicMessage::decode(desc.clone(), wire)
                    .map_err(|err| Failure::new(FailureKind::InvalidWire, err.to_string()))?;
                if self.validating {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
                let mut serializer = serde_json::Serializer::new(&mut *self.out);
                message
                    .serialize_with_options(&mut serializer, &self.opts.serialize_options())
                    .map_err(|err| Failure::new(FailureKind::Unrepresentable, err.to_string()))?;
            }
        }
        Ok(())
    }

    fn write_field_mask(&mut self, wire: &[u8], depth: u32) -> Result<(), Box<Failure>> {
        let mut reader = Reader::new(wire);
        let mut text = String::new();
        let mut problem = None;
        let mut first = true;
        while !reader.is_empty() {
            let (number, wire_type) = reader.key().map_err(wire_failure)?;
            if number != 1 {
                reader
                    .skip(number, wire_type, depth)
                    .map_err(wire_failure)?;
                continue;
            }
            expect_wire_type(wire_type, LEN)?;
            let raw = read_raw(&mut reader, wire_type)?;
            check_utf8(ScalarKind::String, raw)?;
            let Raw::Bytes(bytes) = raw else { continue };
            let path = std::str::from_utf8(bytes).unwrap_or_default();
            if !first {
                text.push(',');
            }
            first = false;
            if let Err(reason) = push_field_mask_path(&mut text, path) {
                problem.get_or_insert(reason);
            }
        }
        match problem {
            Some(reason) => self.unrepresentable(reason),
            None => {
                write_str(self.out, &text);
                Ok(())
            }
        }
    }

    /// Wrappers print as their bare value, a non-finite float or double as `"NaN"`,
    /// `"Infinity"` or `"-Infinity"` like the field it wraps (prost-reflect prints `null`, which
    /// reads back as an absent wrapper, and as no value at all at the top level).
    fn write_wrapper(
        &mut self,
        kind: ScalarKind,
        wire: &[u8],
        depth: u32,
    ) -> Result<(), Box<Failure>> {
        let mut reader = Reader::new(wire);
        let mut last = None;
        while !reader.is_empty() {
            let (number, wire_type) = reader.key().map_err(wire_failure)?;
            if number != 1 {
                reader
                    .skip(number, wire_type, depth)
                    .map_err(wire_failure)?;
                continue;
            }
            expect_wire_type(wire_type, kind.wire_type())?;
            let raw = read_raw(&mut reader, wire_type)?;
            check_utf8(kind, raw)?;
            last = Some(raw);
        }
        let raw = last.unwrap_or(match kind {
            ScalarKind::String | ScalarKind::Bytes => Raw::Bytes(&[]),
            _ => Raw::Num(0),
        });
        match (kind, raw) {
            (ScalarKind::Double, Raw::Num(bits)) => write_f64(self.out, f64::from_bits(bits)),
            (ScalarKind::Float, Raw::Num(bits)) => write_f32(self.out, f32::from_bits(bits as u32)),
            (ScalarKind::Int64, Raw::Num(v)) => write_i64_quoted(self.out, v as i64),
            (ScalarKind::Uint64, Raw::Num(v)) => write_u64_quoted(self.out, v),
            _ => write_scalar(self.out, kind, raw)?,
        }
        Ok(())
    }
}
