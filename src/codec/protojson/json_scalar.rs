//! JSON scalar values (numbers, strings, booleans, null) converted to protobuf scalars with the
//! same acceptance rules as prost-reflect's JSON deserializer, and written as wire bytes. Two
//! differences, each where prost-reflect loses a value: a number that rounds to `f32::MAX` is a
//! `float` (`3.4028235e38`, how `f32::MAX` prints), and a number in a string beyond a `float`'s or
//! `double`'s range is refused instead of read as an infinity.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, DecodeError, DecodeSliceError, Engine as _};
use prost_reflect::EnumDescriptor;

use super::kinds::ScalarKind;
use super::wire::{
    begin_len, end_len, put_tag, put_varint, zigzag32, zigzag64, FIXED32, FIXED64, LEN, VARINT,
};

/// One JSON scalar token, as serde_json hands it over.
#[derive(Debug, Clone, Copy)]
pub(super) enum Token<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(&'a str),
}

impl Token<'_> {
    /// How the token reads in an error message.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Bool(value) => value.to_string(),
            Self::U64(value) => value.to_string(),
            Self::I64(value) => value.to_string(),
            Self::F64(value) => value.to_string(),
            Self::Str(text) => format!("the string \"{}\"", text.escape_debug()),
        }
    }
}

pub(super) fn expected(what: &str, token: Token<'_>) -> String {
    format!("expected {what}, found {}", token.describe())
}

fn out_of_range(token: Token<'_>, kind: ScalarKind) -> String {
    format!(
        "{} is out of range for {}",
        token.describe(),
        kind.proto_name()
    )
}

/// Checks that a JSON float is integral and within `[min, max]` (compared as `f64`, as
/// prost-reflect does).
fn integral(
    value: f64,
    min: f64,
    max: f64,
    token: Token<'_>,
    kind: ScalarKind,
) -> Result<f64, String> {
    if value.fract() != 0.0 {
        return Err(format!("{} is not an integer", token.describe()));
    }
    if value < min || value > max {
        return Err(out_of_range(token, kind));
    }
    Ok(value)
}

fn parse_str<T: std::str::FromStr>(
    text: &str,
    token: Token<'_>,
    kind: ScalarKind,
) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{} is not a valid {}", token.describe(), kind.proto_name()))
}

pub(super) fn to_i32(token: Token<'_>, kind: ScalarKind) -> Result<i32, String> {
    match token {
        Token::U64(v) => i32::try_from(v).map_err(|_| out_of_range(token, kind)),
        Token::I64(v) => i32::try_from(v).map_err(|_| out_of_range(token, kind)),
        Token::F64(v) => {
            integral(v, f64::from(i32::MIN), f64::from(i32::MAX), token, kind).map(|v| v as i32)
        }
        Token::Str(text) => parse_str(text, token, kind),
        _ => Err(expected("a 32-bit integer", token)),
    }
}

pub(super) fn to_u32(token: Token<'_>, kind: ScalarKind) -> Result<u32, String> {
    match token {
        Token::U64(v) => u32::try_from(v).map_err(|_| out_of_range(token, kind)),
        Token::I64(v) => u32::try_from(v).map_err(|_| out_of_range(token, kind)),
        Token::F64(v) => integral(v, 0.0, f64::from(u32::MAX), token, kind).map(|v| v as u32),
        Token::Str(text) => parse_str(text, token, kind),
        _ => Err(expected("a 32-bit unsigned integer", token)),
    }
}

pub(super) fn to_i64(token: Token<'_>, kind: ScalarKind) -> Result<i64, String> {
    match token {
        Token::U64(v) => i64::try_from(v).map_err(|_| out_of_range(token, kind)),
        Token::I64(v) => Ok(v),
        Token::F64(v) => {
            integral(v, i64::MIN as f64, i64::MAX as f64, token, kind).map(|v| v as i64)
        }
        Token::Str(text) => parse_str(text, token, kind),
        _ => Err(expected("a 64-bit integer or a decimal string", token)),
    }
}

pub(super) fn to_u64(token: Token<'_>, kind: ScalarKind) -> Result<u64, String> {
    match token {
        Token::U64(v) => Ok(v),
        Token::I64(v) => u64::try_from(v).map_err(|_| out_of_range(token, kind)),
        Token::F64(v) => integral(v, 0.0, u64::MAX as f64, token, kind).map(|v| v as u64),
        Token::Str(text) => parse_str(text, token, kind),
        _ => Err(expected(
            "a 64-bit unsigned integer or a decimal string",
            token,
        )),
    }
}

/// Reads the special float strings that Rust's parser does not spell the same way.
fn special_float(text: &str) -> Option<f64> {
    match text {
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => None,
    }
}

pub(super) fn to_f64(token: Token<'_>) -> Result<f64, String> {
    match token {
        Token::F64(v) => Ok(v),
        Token::U64(v) => Ok(v as f64),
        Token::I64(v) => Ok(v as f64),
        Token::Str(text) => match text.parse::<f64>() {
            Ok(v) if v.is_finite() || !is_decimal(text) => Ok(v),
            Ok(_) => Err(out_of_range(token, ScalarKind::Double)),
            Err(_) => special_float(text)
                .ok_or_else(|| format!("{} is not a valid double", token.describe())),
        },
        _ => Err(expected("a number", token)),
    }
}

pub(super) fn to_f32(token: Token<'_>) -> Result<f32, String> {
    match token {
        Token::F64(v) => narrow_to_f32(v).ok_or_else(|| out_of_range(token, ScalarKind::Float)),
        Token::U64(v) => Ok(v as f32),
        Token::I64(v) => Ok(v as f32),
        Token::Str(text) => match text.parse::<f32>() {
            Ok(v) if v.is_finite() || !is_decimal(text) => Ok(v),
            Ok(_) => Err(out_of_range(token, ScalarKind::Float)),
            Err(_) => special_float(text)
                .map(|v| v as f32)
                .ok_or_else(|| format!("{} is not a valid float", token.describe())),
        },
        _ => Err(expected("a number", token)),
    }
}

/// An `f64` as a `float` when it rounds to a finite one. The bound is not `f32::MAX` itself:
/// `f32::MAX` prints as `3.4028235e38`, a little above it as an `f64`, and what polygate prints
/// must read back (prost-reflect refuses it).
fn narrow_to_f32(v: f64) -> Option<f32> {
    let narrowed = v as f32;
    (narrowed.is_finite() || !v.is_finite()).then_some(narrowed)
}

/// Whether a string spells a number in digits, not `Infinity`, `NaN` or Rust's `inf`: read as
/// an infinity, it overflowed, and is refused rather than kept as one (prost-reflect keeps it).
pub(super) fn is_decimal(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
}

/// An enum value by name or number. `Ok(None)` is an unknown name that is to be ignored.
pub(super) fn to_enum(
    desc: &EnumDescriptor,
    token: Token<'_>,
    ignore_unknown: bool,
) -> Result<Option<i32>, String> {
    match token {
        Token::Str(name) => match desc.get_value_by_name(name) {
            Some(value) => Ok(Some(value.number())),
            None if ignore_unknown => Ok(None),
            None => Err(format!(
                "\"{}\" is not a value of enum {}",
                name.escape_debug(),
                desc.full_name()
            )),
        },
        Token::I64(v) => i32::try_from(v)
            .map(Some)
            .map_err(|_| format!("{v} is out of range for an enum")),
        Token::U64(v) => i32::try_from(v)
            .map(Some)
            .map_err(|_| format!("{v} is out of range for an enum")),
        _ => Err(expected("an enum value name or number", token)),
    }
}

/// A `google.protobuf.NullValue`: `null` or `"NULL_VALUE"`.
pub(super) fn to_null_value(token: Token<'_>, ignore_unknown: bool) -> Result<Option<i32>, String> {
    match token {
        Token::Null => Ok(Some(0)),
        Token::Str("NULL_VALUE") => Ok(Some(0)),
        Token::Str(_) if ignore_unknown => Ok(None),
        _ => Err(expected("null", token)),
    }
}

/// Where a scalar goes: a field record (tag included) or an element of a packed array.
#[derive(Debug, Clone, Copy)]
pub(super) enum Slot {
    /// A record of field `number`. Without presence, a default value is not written at all.
    Field { number: u32, presence: bool },
    /// A value inside a packed array, without a tag.
    Packed,
}

impl Slot {
    /// Writes the tag when needed; returns false when the value is to be left out.
    #[inline]
    fn open(self, out: &mut Vec<u8>, wire_type: u8, is_default: bool) -> bool {
        match self {
            Self::Field { number, presence } => {
                if is_default && !presence {
                    return false;
                }
                put_tag(out, number, wire_type);
                true
            }
            Self::Packed => true,
        }
    }
}

fn put_varint_value(out: &mut Vec<u8>, slot: Slot, value: u64, is_default: bool) {
    if slot.open(out, VARINT, is_default) {
        put_varint(out, value);
    }
}

fn put_fixed32(out: &mut Vec<u8>, slot: Slot, bits: u32, is_default: bool) {
    if slot.open(out, FIXED32, is_default) {
        out.extend_from_slice(&bits.to_le_bytes());
    }
}

fn put_fixed64(out: &mut Vec<u8>, slot: Slot, bits: u64, is_default: bool) {
    if slot.open(out, FIXED64, is_default) {
        out.extend_from_slice(&bits.to_le_bytes());
    }
}

/// Converts `token` to `kind` and writes it into `slot`.
pub(super) fn put_scalar(
    out: &mut Vec<u8>,
    kind: ScalarKind,
    slot: Slot,
    token: Token<'_>,
) -> Result<(), String> {
    match kind {
        ScalarKind::Int32 => {
            let v = to_i32(token, kind)?;
            put_varint_value(out, slot, v as u64, v == 0);
        }
        ScalarKind::Sint32 => {
            let v = to_i32(token, kind)?;
            put_varint_value(out, slot, zigzag32(v), v == 0);
        }
        ScalarKind::Sfixed32 => {
            let v = to_i32(token, kind)?;
            put_fixed32(out, slot, v as u32, v == 0);
        }
        ScalarKind::Uint32 => {
            let v = to_u32(token, kind)?;
            put_varint_value(out, slot, u64::from(v), v == 0);
        }
        ScalarKind::Fixed32 => {
            let v = to_u32(token, kind)?;
            put_fixed32(out, slot, v, v == 0);
        }
        ScalarKind::Int64 => {
            let v = to_i64(token, kind)?;
            put_varint_value(out, slot, v as u64, v == 0);
        }
        ScalarKind::Sint64 => {
            let v = to_i64(token, kind)?;
            put_varint_value(out, slot, zigzag64(v), v == 0);
        }
        ScalarKind::Sfixed64 => {
            let v = to_i64(token, kind)?;
            put_fixed64(out, slot, v as u64, v == 0);
        }
        ScalarKind::Uint64 => {
            let v = to_u64(token, kind)?;
            put_varint_value(out, slot, v, v == 0);
        }
        ScalarKind::Fixed64 => {
            let v = to_u64(token, kind)?;
            put_fixed64(out, slot, v, v == 0);
        }
        ScalarKind::Double => {
            let v = to_f64(token)?;
            put_fixed64(out, slot, v.to_bits(), v == 0.0);
        }
        ScalarKind::Float => {
            let v = to_f32(token)?;
            put_fixed32(out, slot, v.to_bits(), v == 0.0);
        }
        ScalarKind::Bool => match token {
            Token::Bool(v) => put_varint_value(out, slot, u64::from(v), !v),
            _ => return Err(expected("true or false", token)),
        },
        ScalarKind::String => match token {
            Token::Str(text) => {
                if slot.open(out, LEN, text.is_empty()) {
                    put_varint(out, text.len() as u64);
                    out.extend_from_slice(text.as_bytes());
                }
            }
            _ => return Err(expected("a string", token)),
        },
        ScalarKind::Bytes => match token {
            Token::Str(text) => {
                let mark = out.len();
                if slot.open(out, LEN, text.is_empty()) {
                    let start = begin_len(out);
                    if let Err(reason) = decode_base64_into(out, text) {
                        out.truncate(mark);
                        return Err(reason);
                    }
                    if start == out.len()
                        && matches!(
                            slot,
                            Slot::Field {
                                presence: false,
                                ..
                            }
                        )
                    {
                        // Decoded to nothing (e.g. "="): the default, which is not written.
                        out.truncate(mark);
                    } else {
                        end_len(out, start);
                    }
                }
            }
            _ => return Err(expected("a base64 string", token)),
        },
    }
    Ok(())
}

const BASE64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_allow_trailing_bits(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, BASE64_CONFIG);
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_CONFIG);

/// Appends the bytes of standard or URL-safe base64 text, padded or not (the rules of
/// prost-reflect: the URL-safe alphabet is tried when the text holds `-` or `_`).
pub(super) fn decode_base64_into(out: &mut Vec<u8>, text: &str) -> Result<(), String> {
    let start = out.len();
    let capacity = base64::decoded_len_estimate(text.len());
    let attempt = |engine: &GeneralPurpose, out: &mut Vec<u8>| -> Result<(), DecodeSliceError> {
        out.resize(start + capacity, 0);
        let written = match out.get_mut(start..) {
            Some(target) => engine.decode_slice(text, target),
            None => Ok(0),
        };
        out.truncate(start + written.as_ref().copied().unwrap_or(0));
        written.map(drop)
    };
    let failure = match attempt(&BASE64_STANDARD, out) {
        Ok(()) => return Ok(()),
        Err(DecodeSliceError::DecodeError(DecodeError::InvalidByte(_, b'-' | b'_'))) => {
            match attempt(&BASE64_URL_SAFE, out) {
                Ok(()) => return Ok(()),
                Err(err) => err,
            }
        }
        Err(err) => err,
    };
    out.truncate(start);
    Err(match failure {
        DecodeSliceError::DecodeError(err) => format!("invalid base64: {err}"),
        other => format!("invalid base64: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_prost_reflect() {
        assert_eq!(to_i32(Token::F64(1.0), ScalarKind::Int32), Ok(1));
        assert_eq!(to_i32(Token::F64(100.0), ScalarKind::Int32), Ok(100));
        assert_eq!(to_i32(Token::Str("+12"), ScalarKind::Int32), Ok(12));
        assert_eq!(
            to_i32(Token::U64(4_294_967_296), ScalarKind::Int32).unwrap_err(),
            "4294967296 is out of range for int32"
        );
        assert_eq!(
            to_i32(Token::F64(1.5), ScalarKind::Int32).unwrap_err(),
            "1.5 is not an integer"
        );
        assert_eq!(
            to_i32(Token::Str("1e2"), ScalarKind::Int32).unwrap_err(),
            "the string \"1e2\" is not a valid int32"
        );
        assert_eq!(
            to_u64(Token::F64(18_446_744_073_709_551_616.0), ScalarKind::Uint64),
            Ok(u64::MAX)
        );
        assert!(to_u64(Token::I64(-1), ScalarKind::Uint64).is_err());
        assert_eq!(
            to_i32(Token::Bool(true), ScalarKind::Int32).unwrap_err(),
            "expected a 32-bit integer, found true"
        );
    }

    #[test]
    fn floats_accept_special_strings() {
        assert!(to_f64(Token::Str("NaN")).unwrap().is_nan());
        assert_eq!(to_f64(Token::Str("-Infinity")), Ok(f64::NEG_INFINITY));
        assert_eq!(to_f32(Token::Str("Infinity")), Ok(f32::INFINITY));
        assert_eq!(
            to_f32(Token::F64(1e39)).unwrap_err(),
            "1000000000000000000000000000000000000000 is out of range for float"
        );
    }

    #[test]
    fn a_float_is_whatever_rounds_to_a_finite_f32() {
        // How f32::MAX prints: above f32::MAX as an f64, yet it rounds to it.
        assert_eq!(to_f32(Token::F64(3.402_823_5e38)), Ok(f32::MAX));
        assert_eq!(to_f32(Token::F64(-3.402_823_5e38)), Ok(f32::MIN));
        assert_eq!(to_f32(Token::Str("3.4028235e38")), Ok(f32::MAX));
        // Half a unit in the last place above f32::MAX ties to even: infinity, so out of range.
        let tie = f64::from(f32::MAX) + 2f64.powi(103);
        assert_eq!(narrow_to_f32(tie), None);
        assert_eq!(narrow_to_f32(tie.next_down()), Some(f32::MAX));
        assert_eq!(
            to_f32(Token::F64(3.402_823_6e38)).unwrap_err(),
            "340282360000000000000000000000000000000 is out of range for float"
        );
        assert_eq!(narrow_to_f32(f64::INFINITY), Some(f32::INFINITY));
        assert!(narrow_to_f32(f64::NAN).is_some_and(f32::is_nan));
        assert_eq!(narrow_to_f32(1e-46), Some(0.0));
    }

    #[test]
    fn a_number_in_a_string_that_overflows_is_refused_not_read_as_infinity() {
        assert_eq!(
            to_f32(Token::Str("1e39")).unwrap_err(),
            "the string \"1e39\" is out of range for float"
        );
        assert_eq!(
            to_f64(Token::Str("-1e400")).unwrap_err(),
            "the string \"-1e400\" is out of range for double"
        );
        assert_eq!(to_f64(Token::Str("Infinity")), Ok(f64::INFINITY));
        assert_eq!(to_f32(Token::Str("-Infinity")), Ok(f32::NEG_INFINITY));
        assert_eq!(to_f64(Token::Str("inf")), Ok(f64::INFINITY));
        assert_eq!(to_f64(Token::Str("1e308")), Ok(1e308));
        assert!(is_decimal("-1.5E+3"));
        assert!(!is_decimal("inf") && !is_decimal("NaN") && !is_decimal("+.e"));
    }

    #[test]
    fn base64_accepts_both_alphabets() {
        let mut out = Vec::new();
        decode_base64_into(&mut out, "+/+/aGk=").unwrap();
        assert_eq!(out, b"\xfb\xff\xbfhi");
        out.clear();
        decode_base64_into(&mut out, "-_-_aGk").unwrap();
        assert_eq!(out, b"\xfb\xff\xbfhi");
        out.clear();
        assert!(decode_base64_into(&mut out, "a*").is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn defaults_are_left_out_without_presence() {
        let mut out = Vec::new();
        let slot = Slot::Field {
            number: 1,
            presence: false,
        };
        put_scalar(&mut out, ScalarKind::Int32, slot, Token::U64(0)).unwrap();
        put_scalar(&mut out, ScalarKind::Double, slot, Token::F64(-0.0)).unwrap();
        put_scalar(&mut out, ScalarKind::Bytes, slot, Token::Str("")).unwrap();
        assert!(out.is_empty());
        let slot = Slot::Field {
            number: 1,
            presence: true,
        };
        put_scalar(&mut out, ScalarKind::Int32, slot, Token::I64(-1)).unwrap();
        assert_eq!(out, b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
    }
}
