//! Protobuf wire-format primitives for polygate's transcoder: writing tags, varints and
//! back-patched length prefixes, and reading records with the same strictness as prost.

use prost::encoding::{decode_varint, encode_varint};

/// Wire type of varint-encoded values.
pub(super) const VARINT: u8 = 0;
/// Wire type of 8-byte little-endian values.
pub(super) const FIXED64: u8 = 1;
/// Wire type of length-prefixed values.
pub(super) const LEN: u8 = 2;
/// Wire type opening a group.
pub(super) const START_GROUP: u8 = 3;
/// Wire type closing a group.
pub(super) const END_GROUP: u8 = 4;
/// Wire type of 4-byte little-endian values.
pub(super) const FIXED32: u8 = 5;

/// How deep messages and groups may nest in protobuf input; the same limit as prost, so that
/// polygate accepts exactly what `DynamicMessage::decode` accepts.
pub(super) const MAX_WIRE_DEPTH: u32 = 100;

/// Why protobuf bytes could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum WireError {
    #[error("truncated or overlong varint")]
    Varint,
    #[error("field key {0} is out of range")]
    Key(u64),
    #[error("field number 0 is not allowed")]
    FieldZero,
    #[error("wire type {0} does not exist")]
    UnknownWireType(u8),
    #[error("length {len} exceeds the {remaining} remaining bytes")]
    Length { len: u64, remaining: usize },
    #[error("truncated {0}-byte value")]
    Truncated(usize),
    #[error("end-group tag without a matching start-group tag")]
    UnexpectedEndGroup,
    #[error("group is not terminated")]
    UnterminatedGroup,
    #[error("messages are nested deeper than {MAX_WIRE_DEPTH} levels")]
    TooDeep,
    #[error("wire type {actual} does not match the field type (expected wire type {expected})")]
    WireTypeMismatch { expected: u8, actual: u8 },
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
}

/// Appends a field key.
#[inline]
pub(super) fn put_tag(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    encode_varint((u64::from(number) << 3) | u64::from(wire_type), out);
}

/// Appends a varint.
#[inline]
pub(super) fn put_varint(out: &mut Vec<u8>, value: u64) {
    encode_varint(value, out);
}

/// ZigZag encoding of `sint32`.
#[inline]
pub(super) fn zigzag32(value: i32) -> u64 {
    u64::from(((value << 1) ^ (value >> 31)) as u32)
}

/// ZigZag encoding of `sint64`.
#[inline]
pub(super) fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Decodes a `sint32` varint the way prost does (the varint is truncated to 32 bits first).
#[inline]
pub(super) fn unzigzag32(value: u64) -> i32 {
    let value = value as u32;
    ((value >> 1) as i32) ^ (-((value & 1) as i32))
}

/// Decodes a `sint64` varint.
#[inline]
pub(super) fn unzigzag64(value: u64) -> i64 {
    ((value >> 1) as i64) ^ (-((value & 1) as i64))
}

/// Reserves a one-byte length prefix and returns where the content starts; pair with
/// [`end_len`]. The prefix grows in place when the content turns out to be 128 bytes or more,
/// which avoids a separate sizing pass over nested messages.
#[inline]
pub(super) fn begin_len(out: &mut Vec<u8>) -> usize {
    out.push(0);
    out.len()
}

/// Writes the length of everything appended since [`begin_len`] returned `content_start`.
#[inline]
pub(super) fn end_len(out: &mut Vec<u8>, content_start: usize) {
    let len = out.len().saturating_sub(content_start);
    let prefix_at = content_start.saturating_sub(1);
    if len < 0x80 {
        if let Some(slot) = out.get_mut(prefix_at) {
            *slot = len as u8;
        }
        return;
    }
    let mut prefix = [0u8; 10];
    let mut width = 0;
    let mut value = len as u64;
    for slot in prefix.iter_mut() {
        width += 1;
        if value < 0x80 {
            *slot = value as u8;
            break;
        }
        *slot = (value as u8) | 0x80;
        value >>= 7;
    }
    out.splice(prefix_at..content_start, prefix.iter().take(width).copied());
}

/// One record of a message: its field number, wire type, decoded scalar (varint or fixed
/// bits) and, for length-delimited records and groups, the byte range of the payload.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record {
    pub(super) number: u32,
    pub(super) wire_type: u8,
    /// Position of the record among the message's records, kept through sorting so that
    /// "last one wins" rules still see the original order.
    pub(super) order: u32,
    /// The varint value, or the little-endian bits of a fixed-width value.
    pub(super) value: u64,
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Reads records from a message's bytes.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(super) fn varint(&mut self) -> Result<u64, WireError> {
        decode_varint(&mut self.rest).map_err(|_| WireError::Varint)
    }

    /// Reads a field key, rejecting what prost rejects.
    pub(super) fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return Err(WireError::Key(key));
        }
        let wire_type = (key & 7) as u8;
        if wire_type > FIXED32 {
            return Err(WireError::UnknownWireType(wire_type));
        }
        let number = (key >> 3) as u32;
        if number == 0 {
            return Err(WireError::FieldZero);
        }
        Ok((number, wire_type))
    }

    pub(super) fn bytes(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        if len > self.rest.len() {
            return Err(WireError::Truncated(len));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    pub(super) fn fixed32(&mut self) -> Result<u32, WireError> {
        let bytes = self.bytes(4)?;
        let mut le = [0u8; 4];
        le.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(le))
    }

    pub(super) fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.bytes(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(le))
    }

    pub(super) fn length_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        let remaining = self.rest.len();
        if len > remaining as u64 {
            return Err(WireError::Length { len, remaining });
        }
        self.bytes(len as usize)
    }

    /// Reads the content of a group that opened with field `number`, up to and excluding its
    /// end tag. `depth` is the nesting budget left where the group appears.
    pub(super) fn group(&mut self, number: u32, depth: u32) -> Result<&'a [u8], WireError> {
        if depth == 0 {
            return Err(WireError::TooDeep);
        }
        let content = self.rest;
        loop {
            let before = self.rest.len();
            if before == 0 {
                return Err(WireError::UnterminatedGroup);
            }
            let (inner, wire_type) = self.key()?;
            if wire_type == END_GROUP {
                if inner != number {
                    return Err(WireError::UnexpectedEndGroup);
                }
                let used = content.len() - before;
                return Ok(content.get(..used).unwrap_or_default());
            }
            self.skip(inner, wire_type, depth - 1)?;
        }
    }

    /// Skips one value of an unknown field, validating it like prost-reflect does.
    pub(super) fn skip(&mut self, number: u32, wire_type: u8, depth: u32) -> Result<(), WireError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.bytes(8).map(drop),
            LEN => self.length_delimited().map(drop),
            START_GROUP => self.group(number, depth).map(drop),
            FIXED32 => self.bytes(4).map(drop),
            _ => Err(WireError::UnexpectedEndGroup),
        }
    }

    /// Reads the next record of a message whose bytes are `total` long in all, so that the
    /// payload range is relative to the start of the message.
    pub(super) fn record(
        &mut self,
        total: usize,
        order: u32,
        depth: u32,
    ) -> Result<Record, WireError> {
        let (number, wire_type) = self.key()?;
        let mut record = Record {
            number,
            wire_type,
            order,
            value: 0,
            start: 0,
            end: 0,
        };
        match wire_type {
            VARINT => record.value = self.varint()?,
            FIXED64 => record.value = self.fixed64()?,
            FIXED32 => record.value = u64::from(self.fixed32()?),
            LEN => {
                let payload = self.length_delimited()?;
                record.end = total - self.rest.len();
                record.start = record.end - payload.len();
            }
            START_GROUP => {
                record.start = total - self.rest.len();
                let payload = self.group(number, depth)?;
                record.end = record.start + payload.len();
            }
            _ => return Err(WireError::UnexpectedEndGroup),
        }
        Ok(record)
    }
}

/// Reads all records of a message into `records`; returns whether they came in
/// non-decreasing field-number order (then each field's records are contiguous).
pub(super) fn scan(wire: &[u8], depth: u32, records: &mut Vec<Record>) -> Result<bool, WireError> {
    let mut reader = Reader::new(wire);
    let mut sorted = true;
    let mut last = 0u32;
    let mut order = 0u32;
    while !reader.is_empty() {
        let record = reader.record(wire.len(), order, depth)?;
        sorted &= record.number >= last;
        last = record.number;
        order = order.wrapping_add(1);
        records.push(record);
    }
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_grows_in_place() {
        let mut out = vec![0xAA];
        let start = begin_len(&mut out);
        out.extend(std::iter::repeat_n(7u8, 300));
        end_len(&mut out, start);
        assert_eq!(&out[..3], &[0xAA, 0xAC, 0x02]);
        assert_eq!(out.len(), 303);
        assert!(out[3..].iter().all(|&b| b == 7));
    }

    #[test]
    fn short_length_prefix_is_patched() {
        let mut out = Vec::new();
        let start = begin_len(&mut out);
        out.extend_from_slice(b"abc");
        end_len(&mut out, start);
        assert_eq!(out, b"\x03abc");
    }

    #[test]
    fn scan_reports_ranges_and_order() {
        // field 2 = "hi", field 1 = varint 150, field 3 = group { field 1 = 5 }
        let wire = b"\x12\x02hi\x08\x96\x01\x1b\x08\x05\x1c";
        let mut records = Vec::new();
        let sorted = scan(wire, MAX_WIRE_DEPTH, &mut records).unwrap();
        assert!(!sorted);
        assert_eq!(records.len(), 3);
        assert_eq!(
            (records[0].number, records[0].start, records[0].end),
            (2, 2, 4)
        );
        assert_eq!((records[1].number, records[1].value), (1, 150));
        assert_eq!((records[2].number, records[2].wire_type), (3, START_GROUP));
        assert_eq!(&wire[records[2].start..records[2].end], b"\x08\x05");
    }

    #[test]
    fn scan_rejects_malformed_input() {
        let mut records = Vec::new();
        assert_eq!(
            scan(b"\x08", 100, &mut records).unwrap_err(),
            WireError::Varint
        );
        assert_eq!(
            scan(b"\x00", 100, &mut records).unwrap_err(),
            WireError::FieldZero
        );
        assert_eq!(
            scan(b"\x0f", 100, &mut records).unwrap_err(),
            WireError::UnknownWireType(7)
        );
        assert_eq!(
            scan(b"\x12\x05ab", 100, &mut records).unwrap_err(),
            WireError::Length {
                len: 5,
                remaining: 2
            }
        );
        assert_eq!(
            scan(b"\x0c", 100, &mut records).unwrap_err(),
            WireError::UnexpectedEndGroup
        );
        assert_eq!(
            scan(b"\x0b\x08\x01", 100, &mut records).unwrap_err(),
            WireError::UnterminatedGroup
        );
        assert_eq!(
            scan(b"\x0b\x14", 100, &mut records).unwrap_err(),
            WireError::UnexpectedEndGroup
        );
        assert_eq!(
            scan(b"\x0b\x0c", 0, &mut records).unwrap_err(),
            WireError::TooDeep
        );
        assert_eq!(
            scan(b"\x0d\x01\x02", 100, &mut records).unwrap_err(),
            WireError::Truncated(4)
        );
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0i32, -1, 1, i32::MIN, i32::MAX] {
            assert_eq!(unzigzag32(zigzag32(v)), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag64(zigzag64(v)), v);
        }
    }
}
