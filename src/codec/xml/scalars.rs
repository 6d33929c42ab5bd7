//! Lexical conversions of typed values: XSD lexical forms → JSON tokens (reading) and checks of
//! JSON scalars against a type hint (writing). Numbers never pass through a float.

use super::mapping::Inner;
use super::options::{EmptyAs, ValueType};
use crate::codec::protojson::write_json_str as write_str;

/// Largest integer a JSON consumer using doubles represents exactly (2^53 − 1).
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// A number split into its lexical parts; all parts are ASCII digit strings.
struct Number<'t> {
    negative: bool,
    integer: &'t str,
    fraction: Option<&'t str>,
    exponent: Option<(bool, &'t str)>,
}

/// Parses `[+-]? (digits ('.' digits?)? | '.' digits) ([eE] [+-]? digits)?`.
fn parse_number(text: &str, allow_fraction: bool, allow_exponent: bool) -> Option<Number<'_>> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..)?),
        Some(b'+') => (false, text.get(1..)?),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) if allow_exponent => {
            let exp = rest.get(at + 1..)?;
            let (exp_negative, digits) = match exp.as_bytes().first() {
                Some(b'-') => (true, exp.get(1..)?),
                Some(b'+') => (false, exp.get(1..)?),
                _ => (false, exp),
            };
            if !is_digits(digits) {
                return None;
            }
            (rest.get(..at)?, Some((exp_negative, digits)))
        }
        Some(_) => return None,
        None => (rest, None),
    };
    let (integer, fraction) = match mantissa.split_once('.') {
        Some((integer, fraction)) if allow_fraction => (integer, Some(fraction)),
        Some(_) => return None,
        None => (mantissa, None),
    };
    let digits_ok = (integer.is_empty() || is_digits(integer))
        && fraction.is_none_or(|f| f.is_empty() || is_digits(f));
    let has_digit = !integer.is_empty() || fraction.is_some_and(|f| !f.is_empty());
    (digits_ok && has_digit).then_some(Number {
        negative,
        integer,
        fraction,
        exponent,
    })
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Writes a number as a JSON number token: no `+`, no leading zeros, `5.` → `5`, `.5` → `0.5`.
fn write_json_number(out: &mut Vec<u8>, number: &Number<'_>) {
    if number.negative {
        out.push(b'-');
    }
    let integer = number.integer.trim_start_matches('0');
    out.extend_from_slice(if integer.is_empty() {
        b"0"
    } else {
        integer.as_bytes()
    });
    if let Some(fraction) = number.fraction.filter(|f| !f.is_empty()) {
        out.push(b'.');
        out.extend_from_slice(fraction.as_bytes());
    }
    if let Some((negative, digits)) = number.exponent {
        out.push(b'e');
        if negative {
            out.push(b'-');
        }
        out.extend_from_slice(digits.as_bytes());
    }
}

/// Trims XML whitespace, as XSD's `collapse` does for non-string types.
fn trim_xml(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\r', '\n'])
}

/// Options that change how typed values are written.
#[derive(Clone, Copy)]
pub(crate) struct NumberStyle {
    pub(crate) int64_as_number: bool,
    pub(crate) decimal_as_number: bool,
}

/// XML → JSON: writes non-empty text with a type hint as a JSON token, or returns `Err` when the
/// text is not in the type's lexical space.
pub(crate) fn write_typed(
    out: &mut Vec<u8>,
    text: &str,
    value_type: ValueType,
    style: NumberStyle,
) -> Result<(), ()> {
    let trimmed = trim_xml(text);
    match value_type {
        ValueType::String => {
            write_str(out, text);
            Ok(())
        }
        ValueType::Int => {
            let number = parse_number(trimmed, false, false).ok_or(())?;
            let digits = number.integer.trim_start_matches('0');
            let magnitude: u64 = if digits.is_empty() {
                0
            } else {
                digits.parse().map_err(|_| ())?
            };
            if magnitude > MAX_SAFE_INTEGER {
                return Err(());
            }
            write_json_number(out, &number);
            Ok(())
        }
        ValueType::Int64 => {
            let number = parse_number(trimmed, false, false).ok_or(())?;
            trimmed.parse::<i64>().map_err(|_| ())?;
            wrap_if(out, !style.int64_as_number, |out| {
                write_json_number(out, &number)
            });
            Ok(())
        }
        ValueType::Decimal => {
            let number = parse_number(trimmed, true, false).ok_or(())?;
            wrap_if(out, !style.decimal_as_number, |out| {
                write_json_number(out, &number)
            });
            Ok(())
        }
        ValueType::Double => {
            match trimmed {
                "INF" | "+INF" => out.extend_from_slice(b"\"INF\""),
                "-INF" => out.extend_from_slice(b"\"-INF\""),
                "NaN" => out.extend_from_slice(b"\"NaN\""),
                _ => {
                    let number = parse_number(trimmed, true, true).ok_or(())?;
                    // serde_json refuses numbers beyond the double range; keep those as strings.
                    if trimmed.parse::<f64>().map_or(true, |v| !v.is_finite()) {
                        write_str(out, trimmed);
                    } else {
                        write_json_number(out, &number);
                    }
                }
            }
            Ok(())
        }
        ValueType::Boolean => {
            match trimmed {
                "true" | "1" => out.extend_from_slice(b"true"),
                "false" | "0" => out.extend_from_slice(b"false"),
                _ => return Err(()),
            }
            Ok(())
        }
    }
}

fn wrap_if(out: &mut Vec<u8>, quoted: bool, write: impl FnOnce(&mut Vec<u8>)) {
    if quoted {
        out.push(b'"');
    }
    write(out);
    if quoted {
        out.push(b'"');
    }
}

/// XML → JSON without a hint, with `recognise_scalars`: whether the text is exactly a JSON token
/// worth un-quoting (`true`, `false`, or a JSON number without leading zeros whose integer value
/// stays within ±2^53 and whose float value is finite). `01234` is not.
pub(crate) fn looks_like_json_scalar(text: &str) -> bool {
    if text == "true" || text == "false" {
        return true;
    }
    let bytes = text.as_bytes();
    let digits_start = usize::from(bytes.first() == Some(&b'-'));
    // JSON forbids `+`, `.5`, `5.` and leading zeros; `parse_number` accepts them.
    match bytes.get(digits_start) {
        Some(b'0') if bytes.get(digits_start + 1).is_some_and(u8::is_ascii_digit) => return false,
        Some(b) if b.is_ascii_digit() => {}
        _ => return false,
    }
    let Some(number) = parse_number(text, true, true) else {
        return false;
    };
    if number.fraction.is_some_and(str::is_empty) {
        return false;
    }
    if number.fraction.is_none() && number.exponent.is_none() {
        return number
            .integer
            .parse::<u64>()
            .is_ok_and(|v| v <= MAX_SAFE_INTEGER);
    }
    text.parse::<f64>().is_ok_and(f64::is_finite)
}

/// JSON → XML: whether a scalar's text is in the lexical space of the hinted type.
pub(crate) fn fits_type(value_type: ValueType, text: &str) -> bool {
    match value_type {
        ValueType::String => true,
        ValueType::Int => parse_number(text, false, false).is_some(),
        ValueType::Int64 => {
            parse_number(text, false, false).is_some() && text.parse::<i64>().is_ok()
        }
        ValueType::Decimal => parse_number(text, true, false).is_some(),
        ValueType::Double => {
            matches!(text, "INF" | "+INF" | "-INF" | "NaN")
                || parse_number(text, true, true).is_some()
        }
        ValueType::Boolean => matches!(text, "true" | "false" | "1" | "0"),
    }
}

/// Writes text (element content or attribute value) as the JSON value its hint or the
/// mapping's options give; `Err` names the expected type.
pub(crate) fn write_scalar(
    out: &mut Vec<u8>,
    text: &str,
    value_type: Option<ValueType>,
    mapping: &Inner,
) -> Result<(), &'static str> {
    match value_type {
        None | Some(ValueType::String) if text.is_empty() => match mapping.empty_as {
            EmptyAs::EmptyString => out.extend_from_slice(b"\"\""),
            EmptyAs::Null => out.extend_from_slice(b"null"),
        },
        Some(_) if text.is_empty() => out.extend_from_slice(b"null"),
        None if mapping.recognise_scalars && looks_like_json_scalar(text) => {
            out.extend_from_slice(text.as_bytes());
        }
        None => write_str(out, text),
        Some(value_type) => {
            let style = NumberStyle {
                int64_as_number: mapping.int64_as_number,
                decimal_as_number: mapping.decimal_as_number,
            };
            write_typed(out, text, value_type, style).map_err(|()| value_type.name())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str, value_type: ValueType) -> Result<String, ()> {
        let mut out = Vec::new();
        let style = NumberStyle {
            int64_as_number: false,
            decimal_as_number: false,
        };
        write_typed(&mut out, text, value_type, style)?;
        String::from_utf8(out).map_err(|_| ())
    }

    #[test]
    fn ints_are_normalised() {
        assert_eq!(typed("+5", ValueType::Int), Ok("5".into()));
        assert_eq!(typed("007", ValueType::Int), Ok("7".into()));
        assert_eq!(typed(" -12\n", ValueType::Int), Ok("-12".into()));
        assert_eq!(
            typed("9007199254740991", ValueType::Int),
            Ok("9007199254740991".into())
        );
        assert_eq!(typed("9007199254740992", ValueType::Int), Err(()));
        assert_eq!(typed("1.5", ValueType::Int), Err(()));
        assert_eq!(typed("", ValueType::Int), Err(()));
        assert_eq!(typed("-", ValueType::Int), Err(()));
    }

    #[test]
    fn int64_and_decimal_are_strings() {
        assert_eq!(
            typed("9223372036854775807", ValueType::Int64),
            Ok("\"9223372036854775807\"".into())
        );
        assert_eq!(typed("9223372036854775808", ValueType::Int64), Err(()));
        assert_eq!(typed("5.", ValueType::Decimal), Ok("\"5\"".into()));
        assert_eq!(typed(".5", ValueType::Decimal), Ok("\"0.5\"".into()));
        assert_eq!(typed("+007.10", ValueType::Decimal), Ok("\"7.10\"".into()));
        assert_eq!(typed("1e3", ValueType::Decimal), Err(()));
    }

    #[test]
    fn doubles_and_booleans() {
        assert_eq!(typed("1.5E3", ValueType::Double), Ok("1.5e3".into()));
        assert_eq!(typed("-.5e-2", ValueType::Double), Ok("-0.5e-2".into()));
        assert_eq!(typed("INF", ValueType::Double), Ok("\"INF\"".into()));
        assert_eq!(typed("NaN", ValueType::Double), Ok("\"NaN\"".into()));
        assert_eq!(typed("1e999", ValueType::Double), Ok("\"1e999\"".into()));
        assert_eq!(typed("abc", ValueType::Double), Err(()));
        assert_eq!(typed("1", ValueType::Boolean), Ok("true".into()));
        assert_eq!(typed("false", ValueType::Boolean), Ok("false".into()));
        assert_eq!(typed("yes", ValueType::Boolean), Err(()));
    }

    #[test]
    fn guessing_keeps_leading_zeros() {
        assert!(looks_like_json_scalar("12"));
        assert!(looks_like_json_scalar("-0.5e3"));
        assert!(looks_like_json_scalar("true"));
        assert!(!looks_like_json_scalar("01234"));
        assert!(!looks_like_json_scalar("+5"));
        assert!(!looks_like_json_scalar("5."));
        assert!(!looks_like_json_scalar(".5"));
        assert!(!looks_like_json_scalar(" 5"));
        assert!(!looks_like_json_scalar("9007199254740992"));
        assert!(!looks_like_json_scalar("1e999"));
        assert!(!looks_like_json_scalar("True"));
    }

    #[test]
    fn lexical_checks_for_writing() {
        assert!(fits_type(ValueType::Int, "-12"));
        assert!(!fits_type(ValueType::Int, "1e2"));
        assert!(fits_type(ValueType::Int64, "9223372036854775807"));
        assert!(!fits_type(ValueType::Int64, "9223372036854775808"));
        assert!(fits_type(ValueType::Decimal, "12.50"));
        assert!(!fits_type(ValueType::Decimal, "1e2"));
        assert!(fits_type(ValueType::Double, "1e2"));
        assert!(fits_type(ValueType::Double, "-INF"));
        assert!(fits_type(ValueType::Boolean, "0"));
        assert!(!fits_type(ValueType::Boolean, "no"));
    }
}
