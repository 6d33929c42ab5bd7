//! `text_to_field`: URL path and query values for every kind of field.

use prost_reflect::{DynamicMessage, Value};

use super::fixtures::{field, message};
use crate::codec::protojson::{proto_to_json, text_to_field, JsonOptions, TranscodeError};

/// The value of `field_name` after decoding `wire` as a `message_name`.
fn decoded(message_name: &str, wire: &[u8], field_name: &str) -> Value {
    let message = DynamicMessage::decode(message(message_name), wire).expect("valid wire bytes");
    message
        .get_field_by_name(field_name)
        .expect("field exists")
        .into_owned()
}

fn text(message_name: &str, field_name: &str, value: &str) -> Result<Vec<u8>, TranscodeError> {
    let mut out = Vec::new();
    text_to_field(&field(message_name, field_name), value, &mut out).map(|()| out)
}

fn text_error(message_name: &str, field_name: &str, value: &str) -> String {
    text(message_name, field_name, value)
        .unwrap_err()
        .to_string()
}

#[test]
fn text_values_for_scalars() {
    let s = "test.v1.Scalars";
    assert_eq!(text(s, "f_int32", "42").unwrap(), b"\x18\x2a");
    assert_eq!(
        decoded(s, &text(s, "f_int32", "-1").unwrap(), "f_int32"),
        Value::I32(-1)
    );
    assert_eq!(
        decoded(s, &text(s, "f_int32", "+7").unwrap(), "f_int32"),
        Value::I32(7)
    );
    assert_eq!(
        text(s, "f_int32", "0").unwrap(),
        b"\x18\x00",
        "defaults are written, to override a body value"
    );
    assert_eq!(
        decoded(
            s,
            &text(s, "f_uint64", "18446744073709551615").unwrap(),
            "f_uint64"
        ),
        Value::U64(u64::MAX)
    );
    assert_eq!(
        decoded(
            s,
            &text(s, "f_sint64", "-9007199254740993").unwrap(),
            "f_sint64"
        ),
        Value::I64(-9_007_199_254_740_993)
    );
    assert_eq!(
        decoded(s, &text(s, "f_double", "1.5").unwrap(), "f_double"),
        Value::F64(1.5)
    );
    assert_eq!(
        decoded(s, &text(s, "f_double", "-Infinity").unwrap(), "f_double"),
        Value::F64(f64::NEG_INFINITY)
    );
    assert!(decoded(s, &text(s, "f_double", "NaN").unwrap(), "f_double")
        .as_f64()
        .unwrap()
        .is_nan());
    assert_eq!(
        decoded(s, &text(s, "f_float", "Infinity").unwrap(), "f_float"),
        Value::F32(f32::INFINITY)
    );
    assert_eq!(
        decoded(s, &text(s, "f_bool", "true").unwrap(), "f_bool"),
        Value::Bool(true)
    );
    assert_eq!(
        decoded(s, &text(s, "f_bool", "1").unwrap(), "f_bool"),
        Value::Bool(true)
    );
    assert_eq!(text(s, "f_bool", "0").unwrap(), b"\x68\x00");
    assert_eq!(
        text(s, "f_string", "h\u{e9} y").unwrap(),
        b"\x72\x05h\xc3\xa9 y"
    );
    assert_eq!(text(s, "f_bytes", "+/8=").unwrap(), b"\x7a\x02\xfb\xff");
    assert_eq!(text(s, "f_bytes", "-_8").unwrap(), b"\x7a\x02\xfb\xff");
    assert_eq!(text(s, "f_enum", "COLOR_GREEN").unwrap(), b"\x80\x01\x02");
    assert_eq!(text(s, "f_enum", "7").unwrap(), b"\x80\x01\x07");
    assert_eq!(
        decoded(s, &text(s, "f_float", "3.4028235e38").unwrap(), "f_float"),
        Value::F32(f32::MAX),
        "f32::MAX as it prints"
    );
}

#[test]
fn text_values_that_are_rejected() {
    let s = "test.v1.Scalars";
    assert_eq!(
        text_error(s, "f_int32", "1e2"),
        "invalid value for field 'fInt32': \"1e2\" is not a valid int32"
    );
    assert_eq!(
        text_error(s, "f_int32", "2147483648"),
        "invalid value for field 'fInt32': \"2147483648\" is not a valid int32"
    );
    assert_eq!(
        text_error(s, "f_uint64", "-1"),
        "invalid value for field 'fUint64': \"-1\" is not a valid uint64"
    );
    assert_eq!(text_error(s, "f_float", "1e39"), "invalid value for field 'fFloat': 1000000000000000000000000000000000000000 is out of range for float");
    assert_eq!(
        text_error(s, "f_double", "1e400"),
        "invalid value for field 'fDouble': \"1e400\" is out of range for double"
    );
    assert_eq!(
        text_error(s, "f_float", "-1e400"),
        "invalid value for field 'fFloat': \"-1e400\" is out of range for float"
    );
    assert_eq!(
        text_error(s, "f_bool", "yes"),
        "invalid value for field 'fBool': \"yes\" is not a valid bool (use true, false, 1 or 0)"
    );
    assert_eq!(
        text_error(s, "f_bytes", "a*"),
        "invalid value for field 'fBytes': invalid base64: Invalid symbol 42, offset 1."
    );
    assert_eq!(
        text_error(s, "f_enum", "COLOR_NOPE"),
        "invalid value for field 'fEnum': \"COLOR_NOPE\" is not a value of enum test.v1.Color"
    );
    assert_eq!(
        text_error("test.v1.Everything", "scalars", "x"),
        "field 'scalars' has message type 'test.v1.Scalars' and cannot be set from a URL value"
    );
    assert_eq!(
        text_error("test.v1.WellKnown", "any", "x"),
        "field 'any' has message type 'google.protobuf.Any' and cannot be set from a URL value"
    );
    assert_eq!(
        text_error("test.v1.WellKnown", "empty", "{}"),
        "field 'empty' has message type 'google.protobuf.Empty' and cannot be set from a URL value"
    );
    assert_eq!(
        text_error("test.v1.Maps", "m_string", "x"),
        "field 'mString' is a map and cannot be set from a URL value"
    );
    assert_eq!(
        text_error("test.v1.WellKnown", "timestamp", "2024-01-02"),
        "invalid value for field 'timestamp': invalid timestamp \"2024-01-02\": expected RFC 3339 like \"2024-01-02T03:04:05.123Z\""
    );
    assert!(text_error("test.v1.WellKnown", "value", "hello")
        .starts_with("invalid value for field 'value': invalid JSON for google.protobuf.Value: "));
}

#[test]
fn text_values_for_well_known_types_and_repeated_fields() {
    let w = "test.v1.WellKnown";
    let as_json = |field_name: &str, value: &str| {
        let wire = text(w, field_name, value).unwrap();
        let mut out = Vec::new();
        proto_to_json(&message(w), &wire, &JsonOptions::default(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert_eq!(
        as_json("timestamp", "2024-01-02T03:04:05.5+01:00"),
        r#"{"timestamp":"2024-01-02T02:04:05.500Z"}"#
    );
    assert_eq!(as_json("duration", "-1.5s"), r#"{"duration":"-1.500s"}"#);
    assert_eq!(
        as_json("field_mask", "fooBar,a.bC"),
        r#"{"fieldMask":"fooBar,a.bC"}"#
    );
    assert_eq!(as_json("w_int32", "0"), r#"{"wInt32":0}"#);
    assert_eq!(as_json("w_int64", "-5"), r#"{"wInt64":"-5"}"#);
    assert_eq!(as_json("w_bool", "true"), r#"{"wBool":true}"#);
    assert_eq!(
        as_json("w_string", "plain text"),
        r#"{"wString":"plain text"}"#
    );
    assert_eq!(as_json("w_bytes", "aGk"), r#"{"wBytes":"aGk="}"#);
    // Found by fuzzing: prost-reflect prints `null` here, which reads back as no wrapper.
    assert_eq!(as_json("w_double", "NaN"), r#"{"wDouble":"NaN"}"#);
    assert_eq!(as_json("w_float", "-Infinity"), r#"{"wFloat":"-Infinity"}"#);
    assert_eq!(
        as_json("struct", r#"{"a":[1,"b"]}"#),
        r#"{"struct":{"a":[1.0,"b"]}}"#
    );
    assert_eq!(as_json("value", r#""s""#), r#"{"value":"s"}"#);
    assert_eq!(
        as_json("list_value", "[true,null]"),
        r#"{"listValue":[true,null]}"#
    );
    // NullValue has one value, its default, which a field without presence does not print.
    assert_eq!(as_json("null_value", "NULL_VALUE"), "{}");

    let r = "test.v1.Repeated";
    let mut wire = Vec::new();
    for value in ["5", "-6", "7"] {
        text_to_field(&field(r, "r_int32"), value, &mut wire).unwrap();
    }
    text_to_field(&field(r, "r_string"), "x", &mut wire).unwrap();
    assert_eq!(
        decoded(r, &wire, "r_int32"),
        Value::List(vec![Value::I32(5), Value::I32(-6), Value::I32(7)])
    );
    assert_eq!(
        decoded(r, &wire, "r_string"),
        Value::List(vec![Value::String("x".to_owned())])
    );
}
