//! Low-level JSON output for polygate's transcoder: escaped strings, numbers printed the way
//! serde_json prints them, and base64 for bytes.

use base64::Engine as _;
use serde_json::ser::{CompactFormatter, Formatter};

/// Bytes that must be escaped inside a JSON string: control characters, `"` and `\`.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether any of the 8 bytes in `word` needs escaping (a byte below 0x20, `"` or `\`).
/// Classic SWAR tests; a false positive only sends the bytes to the byte-wise path.
#[inline]
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let has_quote = quote.wrapping_sub(ONES) & !quote;
    let has_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | has_quote | has_backslash) & HIGH != 0
}

/// Appends `text` as a quoted JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(chunk) = bytes.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !word_needs_escape(u64::from_le_bytes(word)) {
                at += 8;
                continue;
            }
        }
        let byte = bytes.get(at).copied().unwrap_or(0);
        if NEEDS_ESCAPE[usize::from(byte)] {
            out.extend_from_slice(bytes.get(copied..at).unwrap_or_default());
            copied = at + 1;
            write_escape(out, byte);
        }
        at += 1;
    }
    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
    out.push(b'"');
}

fn write_escape(out: &mut Vec<u8>, byte: u8) {
    match byte {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]),
    }
}

/// Appends `"name":`.
pub(super) fn write_key(out: &mut Vec<u8>, name: &str) {
    write_str(out, name);
    out.push(b':');
}

// serde_json's formatter only fails when the writer fails, and writing to a `Vec` cannot fail,
// so its `io::Result` carries no information here.

/// Appends a finite or non-finite double the way prost-reflect writes a `double` field:
/// shortest round-trip digits, and `"NaN"`, `"Infinity"`, `"-Infinity"` as strings.
pub(super) fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        let _ = CompactFormatter.write_f64(out, value);
    } else {
        out.extend_from_slice(non_finite(value.is_nan(), value > 0.0));
    }
}

/// Appends a `float` field the same way, with the shortest digits that read back as the same
/// `f32`.
pub(super) fn write_f32(out: &mut Vec<u8>, value: f32) {
    if value.is_finite() {
        let _ = CompactFormatter.write_f32(out, value);
    } else {
        out.extend_from_slice(non_finite(value.is_nan(), value > 0.0));
    }
}

fn non_finite(nan: bool, positive: bool) -> &'static [u8] {
    if nan {
        b"\"NaN\""
    } else if positive {
        b"\"Infinity\""
    } else {
        b"\"-Infinity\""
    }
}

/// Appends a 32-bit signed integer as a JSON number.
pub(super) fn write_i32(out: &mut Vec<u8>, value: i32) {
    let _ = CompactFormatter.write_i32(out, value);
}

/// Appends a 32-bit unsigned integer as a JSON number.
pub(super) fn write_u32(out: &mut Vec<u8>, value: u32) {
    let _ = CompactFormatter.write_u32(out, value);
}

/// Appends a 64-bit signed integer as a JSON string, as the mapping requires.
pub(super) fn write_i64_quoted(out: &mut Vec<u8>, value: i64) {
    out.push(b'"');
    let _ = CompactFormatter.write_i64(out, value);
    out.push(b'"');
}

/// Appends a 64-bit unsigned integer as a JSON string, as the mapping requires.
pub(super) fn write_u64_quoted(out: &mut Vec<u8>, value: u64) {
    out.push(b'"');
    let _ = CompactFormatter.write_u64(out, value);
    out.push(b'"');
}

/// Appends bytes as a quoted standard base64 string with padding.
pub(super) fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let engine = &base64::engine::general_purpose::STANDARD;
    let encoded_len = bytes.len().div_ceil(3) * 4;
    out.push(b'"');
    let start = out.len();
    out.resize(start + encoded_len, 0);
    if let Some(target) = out.get_mut(start..) {
        let written = engine.encode_slice(bytes, target).unwrap_or(0);
        out.truncate(start + written);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn long_strings_are_escaped_wherever_the_special_byte_sits() {
        for at in 0..20 {
            for special in [b'"', b'\\', b'\n', 0x01, 0x1f] {
                let mut text = vec![b'a'; 20];
                text[at] = special;
                let text = String::from_utf8(text).unwrap();
                let written = render(|o| write_str(o, &text));
                assert_eq!(serde_json::from_str::<String>(&written).unwrap(), text);
                assert_eq!(written, serde_json::to_string(&text).unwrap());
            }
        }
        let clean = "x ~é😀".repeat(5);
        assert_eq!(render(|o| write_str(o, &clean)), format!("\"{clean}\""));
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(render(|o| write_str(o, "plain")), "\"plain\"");
        assert_eq!(
            render(|o| write_str(o, "a\"b\\c\nd\u{1}é")),
            "\"a\\\"b\\\\c\\nd\\u0001é\""
        );
    }

    #[test]
    fn numbers_print_like_serde_json() {
        assert_eq!(render(|o| write_f64(o, 1.0)), "1.0");
        assert_eq!(render(|o| write_f64(o, 4.65)), "4.65");
        assert_eq!(render(|o| write_f32(o, 0.1)), "0.1");
        assert_eq!(render(|o| write_f64(o, f64::NAN)), "\"NaN\"");
        assert_eq!(render(|o| write_f64(o, f64::NEG_INFINITY)), "\"-Infinity\"");
        assert_eq!(render(|o| write_f32(o, f32::INFINITY)), "\"Infinity\"");
        assert_eq!(render(|o| write_i64_quoted(o, -5)), "\"-5\"");
        assert_eq!(
            render(|o| write_u64_quoted(o, u64::MAX)),
            "\"18446744073709551615\""
        );
    }

    #[test]
    fn bytes_are_padded_standard_base64() {
        assert_eq!(render(|o| write_base64(o, b"\xfb\xff")), "\"+/8=\"");
        assert_eq!(render(|o| write_base64(o, b"")), "\"\"");
    }
}
