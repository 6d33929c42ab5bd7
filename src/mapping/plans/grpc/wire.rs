//! A minimal protobuf wire reader and writer for what the mapping layer assembles by hand:
//! nested field wrappers, `google.api.HttpBody`, `google.rpc.Status` details.

use prost::encoding::{
    decode_varint, encode_key, encode_varint, encoded_len_varint, key_len, WireType,
};
use prost_reflect::FieldDescriptor;

/// One field occurrence in an encoded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireField<'a> {
    pub(crate) number: u32,
    pub(crate) value: WireValue<'a>,
}

/// The value of a field occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    Varint(u64),
    Fixed64,
    Fixed32,
    Bytes(&'a [u8]),
}

/// Iterates over the fields of an encoded message; yields `Err` once on malformed input.
pub(crate) struct WireFields<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// The fields of `message`.
pub(crate) fn fields(message: &[u8]) -> WireFields<'_> {
    WireFields {
        rest: message,
        failed: false,
    }
}

impl<'a> Iterator for WireFields<'a> {
    type Item = Result<WireField<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let result = self.read();
        self.failed = result.is_err();
        Some(result)
    }
}

impl<'a> WireFields<'a> {
    fn read(&mut self) -> Result<WireField<'a>, String> {
        let key = decode_varint(&mut self.rest).map_err(|e| e.to_string())?;
        let number = u32::try_from(key >> 3).map_err(|_| "field number out of range".to_owned())?;
        if number == 0 {
            return Err("field number 0".into());
        }
        let value = match key & 7 {
            0 => WireValue::Varint(decode_varint(&mut self.rest).map_err(|e| e.to_string())?),
            1 => {
                self.skip(8)?;
                WireValue::Fixed64
            }
            5 => {
                self.skip(4)?;
                WireValue::Fixed32
            }
            2 => {
                let len = decode_varint(&mut self.rest).map_err(|e| e.to_string())?;
                let len = usize::try_from(len).map_err(|_| "length out of range".to_owned())?;
                if len > self.rest.len() {
                    return Err("length past the end of the message".into());
                }
                let (bytes, rest) = self.rest.split_at(len);
                self.rest = rest;
                WireValue::Bytes(bytes)
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        Ok(WireField { number, value })
    }

    fn skip(&mut self, len: usize) -> Result<(), String> {
        if len > self.rest.len() {
            return Err("fixed-width value past the end of the message".into());
        }
        self.rest = &self.rest[len..];
        Ok(())
    }
}

/// Whether `message` sets the field reached through `chain` (field numbers, outermost first).
pub(crate) fn contains(message: &[u8], chain: &[u32]) -> bool {
    let Some((first, rest)) = chain.split_first() else {
        return false;
    };
    fields(message)
        .filter_map(Result::ok)
        .filter(|f| f.number == *first)
        .any(|f| match (rest, f.value) {
            ([], _) => true,
            (_, WireValue::Bytes(inner)) => contains(inner, rest),
            _ => false,
        })
}

/// The last length-delimited value of field `number` (a singular message or string field).
pub(crate) fn last_bytes(message: &[u8], number: u32) -> Result<Option<&[u8]>, String> {
    let mut found = None;
    for field in fields(message) {
        let field = field?;
        if field.number == number {
            if let WireValue::Bytes(bytes) = field.value {
                found = Some(bytes);
            }
        }
    }
    Ok(found)
}

/// Writes `leaf` (an encoded field) wrapped in the singular message fields `parents`,
/// outermost first, without building the inner messages separately.
pub(crate) fn write_nested(parents: &[FieldDescriptor], leaf: &[u8], out: &mut Vec<u8>) {
    let mut sizes = Vec::with_capacity(parents.len());
    let mut inner = leaf.len();
    for parent in parents.iter().rev() {
        sizes.push(inner);
        inner += key_len(parent.number()) + encoded_len_varint(inner as u64);
    }
    out.reserve(inner);
    for (parent, size) in parents.iter().zip(sizes.iter().rev()) {
        encode_key(parent.number(), WireType::LengthDelimited, out);
        encode_varint(*size as u64, out);
    }
    out.extend_from_slice(leaf);
}

/// Writes a length-delimited field.
pub(crate) fn write_bytes_field(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_and_malformed_input_is_an_error() {
        let mut message = Vec::new();
        write_bytes_field(1, b"text/html", &mut message);
        message.extend_from_slice(&[0x18, 0x96, 0x01]); // field 3, varint 150
        let read: Vec<_> = fields(&message).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            read[0],
            WireField {
                number: 1,
                value: WireValue::Bytes(b"text/html")
            }
        );
        assert_eq!(
            read[1],
            WireField {
                number: 3,
                value: WireValue::Varint(150)
            }
        );
        assert!(fields(&[0x0a, 0x05, b'a']).any(|f| f.is_err()));
        assert!(fields(&[0x0b]).any(|f| f.is_err()));
        assert_eq!(last_bytes(&message, 1).unwrap(), Some(&b"text/html"[..]));
    }

    #[test]
    fn contains_follows_nested_messages() {
        // field 1 { field 2: "x" }
        let inner = [0x12, 0x01, b'x'];
        let mut outer = Vec::new();
        write_bytes_field(1, &inner, &mut outer);
        assert!(contains(&outer, &[1]));
        assert!(contains(&outer, &[1, 2]));
        assert!(!contains(&outer, &[1, 3]));
        assert!(!contains(&outer, &[2]));
    }
}
