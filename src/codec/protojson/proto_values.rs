//! Protobuf → JSON for field values: singular scalars, enums and messages, and repeated
//! fields in packed or unpacked form.

use prost_reflect::{EnumDescriptor, FieldDescriptor, MessageDescriptor};

use super::failure::Failure;
use super::json_write::{
    write_base64, write_f32, write_f64, write_i32, write_i64_quoted, write_str, write_u32,
    write_u64_quoted,
};
use super::kinds::{is_null_value, ScalarKind, ValueKind};
use super::proto_to_json::{wire_failure, Emitter, Run, Written};
use super::wire::{
    unzigzag32, unzigzag64, Reader, Record, WireError, FIXED32, FIXED64, LEN, START_GROUP, VARINT,
};

/// A scalar as read from the wire: a varint or fixed-width value, or length-delimited bytes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Raw<'a> {
    Num(u64),
    Bytes(&'a [u8]),
}

/// The payload of a length-delimited record or group of the message in `wire`.
pub(super) fn payload<'a>(wire: &'a [u8], record: &Record) -> Result<&'a [u8], Box<Failure>> {
    wire.get(record.start..record.end)
        .ok_or_else(|| wire_failure(WireError::Truncated(record.end)))
}

/// Checks a record's wire type against what its field expects.
pub(super) fn expect_wire_type(actual: u8, expected: u8) -> Result<(), Box<Failure>> {
    if actual == expected {
        Ok(())
    } else {
        Err(wire_failure(WireError::WireTypeMismatch {
            expected,
            actual,
        }))
    }
}

/// The raw value of a record that has already been checked to have its field's wire type.
pub(super) fn raw_of<'a>(wire: &'a [u8], record: &Record) -> Result<Raw<'a>, Box<Failure>> {
    if record.wire_type == LEN {
        payload(wire, record).map(Raw::Bytes)
    } else {
        Ok(Raw::Num(record.value))
    }
}

/// Checks that a string value is UTF-8, as prost does when decoding.
pub(super) fn check_utf8(kind: ScalarKind, raw: Raw<'_>) -> Result<(), Box<Failure>> {
    match (kind, raw) {
        (ScalarKind::String, Raw::Bytes(bytes)) if std::str::from_utf8(bytes).is_err() => {
            Err(wire_failure(WireError::InvalidUtf8))
        }
        _ => Ok(()),
    }
}

/// Whether a scalar holds its type's default value, after the same truncation prost applies.
pub(super) fn is_default_scalar(kind: ScalarKind, raw: Raw<'_>) -> bool {
    match raw {
        Raw::Bytes(bytes) => bytes.is_empty(),
        Raw::Num(v) => match kind {
            ScalarKind::Int32
            | ScalarKind::Sint32
            | ScalarKind::Uint32
            | ScalarKind::Fixed32
            | ScalarKind::Sfixed32 => v as u32 == 0,
            ScalarKind::Double => f64::from_bits(v) == 0.0,
            ScalarKind::Float => f32::from_bits(v as u32) == 0.0,
            _ => v == 0,
        },
    }
}

/// Writes a scalar in the canonical JSON mapping.
pub(super) fn write_scalar(
    out: &mut Vec<u8>,
    kind: ScalarKind,
    raw: Raw<'_>,
) -> Result<(), Box<Failure>> {
    let v = match raw {
        Raw::Num(v) => v,
        Raw::Bytes(bytes) => {
            match kind {
                ScalarKind::String => {
                    let text = std::str::from_utf8(bytes)
                        .map_err(|_| wire_failure(WireError::InvalidUtf8))?;
                    write_str(out, text);
                }
                _ => write_base64(out, bytes),
            }
            return Ok(());
        }
    };
    match kind {
        ScalarKind::Int32 => write_i32(out, v as i32),
        ScalarKind::Sint32 => write_i32(out, unzigzag32(v)),
        ScalarKind::Sfixed32 => write_i32(out, v as u32 as i32),
        ScalarKind::Uint32 | ScalarKind::Fixed32 => write_u32(out, v as u32),
        ScalarKind::Int64 | ScalarKind::Sfixed64 => write_i64_quoted(out, v as i64),
        ScalarKind::Sint64 => write_i64_quoted(out, unzigzag64(v)),
        ScalarKind::Uint64 | ScalarKind::Fixed64 => write_u64_quoted(out, v),
        ScalarKind::Double => write_f64(out, f64::from_bits(v)),
        ScalarKind::Float => write_f32(out, f32::from_bits(v as u32)),
        ScalarKind::Bool => out.extend_from_slice(if v != 0 { b"true" } else { b"false" }),
        ScalarKind::String | ScalarKind::Bytes => write_str(out, ""),
    }
    Ok(())
}

impl Emitter<'_> {
    /// Writes an enum value: its name, its number (option, or no such name), or `null` for
    /// `google.protobuf.NullValue`.
    pub(super) fn write_enum(&mut self, desc: &EnumDescriptor, value: i32) {
        if is_null_value(desc) {
            self.out.extend_from_slice(b"null");
        } else if self.opts.enums_as_ints {
            write_i32(self.out, value);
        } else if let Some(named) = desc.get_value(value) {
            write_str(self.out, named.name());
        } else {
            write_i32(self.out, value);
        }
    }

    /// The JSON value of a scalar field that is not set.
    pub(super) fn write_default_scalar(&mut self, kind: ScalarKind) {
        let raw = match kind {
            ScalarKind::String | ScalarKind::Bytes => Raw::Bytes(&[]),
            _ => Raw::Num(0),
        };
        // Default values are always representable.
        let _ = write_scalar(self.out, kind, raw);
    }

    /// Writes a nested message from one or more records (several records of a singular
    /// message field merge, which for wire bytes is concatenation).
    fn write_nested(
        &mut self,
        desc: &MessageDescriptor,
        run: Run,
        wire: &[u8],
        depth: u32,
    ) -> Result<(), Box<Failure>> {
        if depth == 0 {
            return Err(wire_failure(WireError::TooDeep));
        }
        if run.hi - run.lo == 1 {
            let record = self.record(run.lo)?;
            return self.write_message(desc, payload(wire, &record)?, depth - 1);
        }
        let mut merged = Vec::new();
        for index in run.lo..run.hi {
            let record = self.record(index)?;
            let bytes = payload(wire, &record)?;
            // Each record must be a whole message on its own: a field cut at one record's end
            // would otherwise swallow the start of the next one once they are joined.
            check_whole_message(bytes, depth).map_err(wire_failure)?;
            merged.extend_from_slice(bytes);
        }
        self.write_message(desc, &merged, depth - 1)
    }

    /// Writes a singular field: the last record wins for scalars, records merge for messages.
    pub(super) fn write_singular(
        &mut self,
        field: &FieldDescriptor,
        kind: &ValueKind,
        run: Run,
        wire: &[u8],
        depth: u32,
        skip_default: bool,
    ) -> Result<Written, Box<Failure>> {
        match kind {
            ValueKind::Message(desc) => {
                let expected = if field.is_group() { START_GROUP } else { LEN };
                for index in run.lo..run.hi {
                    expect_wire_type(self.record(index)?.wire_type, expected)?;
                }
                self.write_nested(desc, run, wire, depth)?;
                Ok(Written::Value)
            }
            ValueKind::Scalar(scalar) => {
                let mut last = None;
                for index in run.lo..run.hi {
                    let record = self.record(index)?;
                    expect_wire_type(record.wire_type, scalar.wire_type())?;
                    let raw = raw_of(wire, &record)?;
                    check_utf8(*scalar, raw)?;
                    last = Some(raw);
                }
                let Some(raw) = last else {
                    return Ok(Written::Nothing);
                };
                if skip_default && is_default_scalar(*scalar, raw) {
                    return Ok(Written::Nothing);
                }
                write_scalar(self.out, *scalar, raw)?;
                Ok(Written::Value)
            }
            ValueKind::Enum(desc) => {
                let mut last = None;
                for index in run.lo..run.hi {
                    let record = self.record(index)?;
                    expect_wire_type(record.wire_type, VARINT)?;
                    last = Some(record.value as i32);
                }
                let Some(value) = last else {
                    return Ok(Written::Nothing);
                };
                if skip_default && value == desc.default_value().number() {
                    return Ok(Written::Nothing);
                }
                self.write_enum(desc, value);
                Ok(Written::Value)
            }
        }
    }

    /// Writes a repeated field as one array, whether its values came packed, unpacked, or in
    /// several records interleaved with other fields.
    pub(super) fn write_list(
        &mut self,
        field: &FieldDescriptor,
        kind: &ValueKind,
        run: Run,
        wire: &[u8],
        depth: u32,
        force: bool,
    ) -> Result<Written, Box<Failure>> {
        self.out.push(b'[');
        let mut count = 0usize;
        for index in run.lo..run.hi {
            let record = self.record(index)?;
            self.write_list_record(field, kind, &record, wire, depth, &mut count)
                .map_err(|mut failure| {
                    failure.within_index(count);
                    failure
                })?;
        }
        self.out.push(b']');
        Ok(if count == 0 && !force {
            Written::Nothing
        } else {
            Written::Value
        })
    }

    fn write_list_record(
        &mut self,
        field: &FieldDescriptor,
        kind: &ValueKind,
        record: &Record,
        wire: &[u8],
        depth: u32,
        count: &mut usize,
    ) -> Result<(), Box<Failure>> {
        let packed = record.wire_type == LEN && kind.is_packable();
        if !packed {
            let expected = match kind {
                ValueKind::Message(_) if field.is_group() => START_GROUP,
                _ => kind.wire_type(),
            };
            expect_wire_type(record.wire_type, expected)?;
            if *count > 0 {
                self.out.push(b',');
            }
            match kind {
                ValueKind::Message(desc) => {
                    if depth == 0 {
                        return Err(wire_failure(WireError::TooDeep));
                    }
                    self.write_message(desc, payload(wire, record)?, depth - 1)?;
                }
                ValueKind::Scalar(scalar) => {
                    write_scalar(self.out, *scalar, raw_of(wire, record)?)?
                }
                ValueKind::Enum(desc) => self.write_enum(desc, record.value as i32),
            }
            *count += 1;
            return Ok(());
        }
        let mut reader = Reader::new(payload(wire, record)?);
        while !reader.is_empty() {
            let value = match kind.wire_type() {
                FIXED32 => reader.fixed32().map(u64::from),
                FIXED64 => reader.fixed64(),
                _ => reader.varint(),
            }
            .map_err(wire_failure)?;
            if *count > 0 {
                self.out.push(b',');
            }
            match kind {
                ValueKind::Enum(desc) => self.write_enum(desc, value as i32),
                ValueKind::Scalar(scalar) => write_scalar(self.out, *scalar, Raw::Num(value))?,
                ValueKind::Message(_) => {
                    return Err(wire_failure(WireError::WireTypeMismatch {
                        expected: LEN,
                        actual: LEN,
                    }))
                }
            }
            *count += 1;
        }
        Ok(())
    }
}

/// Reads every record of `bytes` without keeping any: whether they make a whole message.
fn check_whole_message(bytes: &[u8], depth: u32) -> Result<(), WireError> {
    let mut reader = Reader::new(bytes);
    while !reader.is_empty() {
        let (number, wire_type) = reader.key()?;
        reader.skip(number, wire_type, depth)?;
    }
    Ok(())
}
