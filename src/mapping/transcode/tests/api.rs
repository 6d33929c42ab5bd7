//! The field-level entry points (`text_to_field`, `json_to_field`, `field_to_json`), exact
//! output for the bench message, and the exact error messages API clients see.

use prost::Message as _;
use prost_reflect::{DynamicMessage, MapKey, Value};

use super::fixtures::{field, message, ITEM_JSON};
use crate::mapping::transcode::{
    field_to_json, json_to_field, json_to_proto, proto_to_json, text_to_field, JsonOptions,
    TranscodeError,
};

const STRICT: JsonOptions = JsonOptions {
    emit_unpopulated: false,
    use_proto_names: false,
    enums_as_ints: false,
    ignore_unknown_fields: false,
};

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

fn item_json_error(json: &str, opts: &JsonOptions) -> String {
    let mut out = Vec::new();
    json_to_proto(&message("bench.v1.Item"), json.as_bytes(), opts, &mut out)
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
    assert_eq!(as_json("w_double", "NaN"), r#"{"wDouble":null}"#);
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

#[test]
fn json_values_for_single_fields() {
    let item = "bench.v1.Item";
    let encode = |field_name: &str, json: &str| {
        let mut out = Vec::new();
        json_to_field(
            &field(item, field_name),
            json.as_bytes(),
            &JsonOptions::default(),
            &mut out,
        )
        .map(|()| out)
    };
    let tags = encode("tags", r#"["a","b"]"#).unwrap();
    assert_eq!(tags, b"\x3a\x01a\x3a\x01b");
    let dimensions = encode("dimensions", r#"{"widthCm":1.5,"nope":1}"#).unwrap();
    assert_eq!(
        dimensions,
        [&b"\x42\x09\x09"[..], &1.5f64.to_le_bytes()].concat()
    );
    assert_eq!(encode("price_cents", r#""4999""#).unwrap(), b"\x20\x87\x27");
    assert_eq!(
        encode("price_cents", "0").unwrap(),
        b"",
        "a default value of a field without presence is not written"
    );
    assert_eq!(encode("price_cents", "null").unwrap(), b"");
    assert_eq!(
        encode("created_at", r#""1970-01-01T00:00:01Z""#).unwrap(),
        b"\x52\x02\x08\x01"
    );
    assert_eq!(
        encode("dimensions", r#"{"widthCm":"x"}"#)
            .unwrap_err()
            .to_string(),
        "invalid value for field 'dimensions.widthCm': the string \"x\" is not a valid double"
    );
    assert_eq!(
        encode("tags", r#"["a"] x"#).unwrap_err().to_string(),
        "invalid JSON: trailing characters at line 1 column 7"
    );

    let mut out = Vec::new();
    json_to_field(
        &field("test.v1.Maps", "m_string"),
        br#"{"k":1,"z":0}"#,
        &JsonOptions::default(),
        &mut out,
    )
    .unwrap();
    let Value::Map(map) = decoded("test.v1.Maps", &out, "m_string") else {
        panic!("a map")
    };
    assert_eq!(
        map.get(&MapKey::String("k".to_owned())),
        Some(&Value::I32(1))
    );
    assert_eq!(
        map.get(&MapKey::String("z".to_owned())),
        Some(&Value::I32(0))
    );
}

fn item_wire() -> Vec<u8> {
    let mut wire = Vec::new();
    json_to_proto(
        &message("bench.v1.Item"),
        ITEM_JSON.as_bytes(),
        &JsonOptions::default(),
        &mut wire,
    )
    .unwrap();
    wire
}

fn field_json(
    message_name: &str,
    field_name: &str,
    wire: &[u8],
    opts: &JsonOptions,
) -> Result<String, TranscodeError> {
    let mut out = Vec::new();
    field_to_json(&field(message_name, field_name), wire, opts, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn json_of_single_fields() {
    let wire = item_wire();
    let item =
        |name: &str| field_json("bench.v1.Item", name, &wire, &JsonOptions::default()).unwrap();
    assert_eq!(
        item("tags"),
        r#"["office","ergonomics","aluminium","portable","laptop-accessories"]"#
    );
    assert_eq!(
        item("dimensions"),
        r#"{"widthCm":26.5,"heightCm":4.2,"depthCm":23.75,"weightKg":0.84}"#
    );
    assert_eq!(item("price_cents"), r#""4999""#);
    assert_eq!(item("status"), r#""ITEM_STATUS_ACTIVE""#);
    assert_eq!(item("created_at"), r#""2024-01-02T03:04:05.123Z""#);

    let absent =
        |name: &str, opts: &JsonOptions| field_json("bench.v1.Item", name, &[], opts).unwrap();
    let defaults = JsonOptions::default();
    assert_eq!(absent("description", &defaults), r#""""#);
    assert_eq!(absent("stock_count", &defaults), "0");
    assert_eq!(absent("price_cents", &defaults), r#""0""#);
    assert_eq!(absent("rating", &defaults), "0.0");
    assert_eq!(absent("tags", &defaults), "[]");
    assert_eq!(absent("dimensions", &defaults), "{}");
    assert_eq!(absent("created_at", &defaults), r#""1970-01-01T00:00:00Z""#);
    assert_eq!(absent("status", &defaults), r#""ITEM_STATUS_UNSPECIFIED""#);
    assert_eq!(
        absent(
            "status",
            &JsonOptions {
                enums_as_ints: true,
                ..defaults
            }
        ),
        "0"
    );
    let all = JsonOptions {
        emit_unpopulated: true,
        use_proto_names: true,
        ..defaults
    };
    assert_eq!(
        absent("dimensions", &all),
        r#"{"width_cm":0.0,"height_cm":0.0,"depth_cm":0.0,"weight_kg":0.0}"#
    );

    // A later member of the same oneof clears the field.
    let oneofs = [&b"\x0a\x01s"[..], b"\x10\x02"].concat();
    assert_eq!(
        field_json("test.v1.Oneofs", "o_string", &oneofs, &defaults).unwrap(),
        r#""""#
    );
    assert_eq!(
        field_json("test.v1.Oneofs", "o_int32", &oneofs, &defaults).unwrap(),
        "2"
    );
    assert_eq!(
        field_json("test.v1.WellKnown", "any", &[], &defaults).unwrap(),
        "{}"
    );
    assert_eq!(
        field_json("test.v1.WellKnown", "value", &[], &defaults).unwrap(),
        "null"
    );
    assert_eq!(
        field_json(
            "test.v1.Maps",
            "m_int32",
            b"\x12\x05\x08\x01\x12\x01x",
            &defaults
        )
        .unwrap(),
        r#"{"1":"x"}"#
    );
    assert_eq!(
        field_json("bench.v1.Item", "name", b"\x12\x01\xff", &defaults)
            .unwrap_err()
            .to_string(),
        "invalid protobuf data for field 'name': string is not valid UTF-8"
    );
    assert_eq!(
        field_json("bench.v1.Item", "name", b"\x12\x05", &defaults)
            .unwrap_err()
            .to_string(),
        "invalid protobuf data for field 'name': length 5 exceeds the 0 remaining bytes"
    );
}

#[test]
fn the_bench_item_round_trips_exactly() {
    let desc = message("bench.v1.Item");
    let wire = item_wire();
    let reference = DynamicMessage::deserialize(
        desc.clone(),
        &mut serde_json::Deserializer::from_str(ITEM_JSON),
    )
    .unwrap();
    assert_eq!(
        DynamicMessage::decode(desc.clone(), wire.as_slice()).unwrap(),
        reference
    );
    assert_eq!(wire.len(), reference.encode_to_vec().len());
    let mut json = Vec::new();
    proto_to_json(&desc, &wire, &JsonOptions::default(), &mut json).unwrap();
    assert_eq!(String::from_utf8(json).unwrap(), ITEM_JSON);
    let mut snake = Vec::new();
    let opts = JsonOptions {
        use_proto_names: true,
        enums_as_ints: true,
        ..JsonOptions::default()
    };
    proto_to_json(&desc, &wire, &opts, &mut snake).unwrap();
    let snake = String::from_utf8(snake).unwrap();
    assert!(
        snake.contains(r#""price_cents":"4999""#) && snake.contains(r#""status":1"#),
        "{snake}"
    );
}

#[test]
fn json_errors_name_the_field_and_the_problem() {
    let lenient = JsonOptions::default();
    assert_eq!(
        item_json_error(r#"{"priceCents":"12x"}"#, &lenient),
        "invalid value for field 'priceCents': the string \"12x\" is not a valid int64"
    );
    assert_eq!(
        item_json_error(r#"{"priceCents":true}"#, &lenient),
        "invalid value for field 'priceCents': expected a 64-bit integer or a decimal string, found true"
    );
    assert_eq!(
        item_json_error(r#"{"stockCount":1.5}"#, &lenient),
        "invalid value for field 'stockCount': 1.5 is not an integer"
    );
    assert_eq!(
        item_json_error(r#"{"stockCount":3e9}"#, &lenient),
        "invalid value for field 'stockCount': 3000000000 is out of range for int32"
    );
    assert_eq!(
        item_json_error(r#"{"dimensions":{"widthCm":"wide"}}"#, &lenient),
        "invalid value for field 'dimensions.widthCm': the string \"wide\" is not a valid double"
    );
    assert_eq!(
        item_json_error(r#"{"tags":["a",5]}"#, &lenient),
        "invalid value for field 'tags[1]': expected a string, found 5"
    );
    assert_eq!(
        item_json_error(r#"{"tags":"a"}"#, &lenient),
        "invalid value for field 'tags': expected an array, found the string \"a\""
    );
    assert_eq!(
        item_json_error(r#"{"dimensions":[]}"#, &lenient),
        "invalid value for field 'dimensions': expected an object, found an array"
    );
    assert_eq!(
        item_json_error(r#"{"status":"ITEM_STATUS_NOPE"}"#, &STRICT),
        "invalid value for field 'status': \"ITEM_STATUS_NOPE\" is not a value of enum bench.v1.ItemStatus"
    );
    assert_eq!(
        item_json_error(r#"{"createdAt":"yesterday"}"#, &lenient),
        "invalid value for field 'createdAt': invalid timestamp \"yesterday\": expected RFC 3339 like \"2024-01-02T03:04:05.123Z\""
    );
    assert_eq!(
        item_json_error(r#"{"nope":1}"#, &STRICT),
        "unknown field 'nope'"
    );
    assert_eq!(
        item_json_error(r#"{"dimensions":{"nope":1}}"#, &STRICT),
        "unknown field 'dimensions.nope'"
    );
    assert_eq!(
        item_json_error("[1]", &lenient),
        "invalid value: expected an object, found an array"
    );
    assert_eq!(
        item_json_error(r#"{"id":"1""#, &lenient),
        "invalid JSON: EOF while parsing an object at line 1 column 9"
    );
    assert_eq!(
        item_json_error("{} x", &lenient),
        "invalid JSON: trailing characters at line 1 column 4"
    );
    let mut out = Vec::new();
    let err = json_to_proto(
        &message("bench.v1.Item"),
        b"{\"id\":\"\xff\"}",
        &lenient,
        &mut out,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid JSON: invalid UTF-8 at byte 7");

    let oneofs = |json: &str| {
        let mut out = Vec::new();
        json_to_proto(
            &message("test.v1.Oneofs"),
            json.as_bytes(),
            &lenient,
            &mut out,
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        oneofs(r#"{"oString":"s","oInt32":1}"#),
        "invalid value for field 'oInt32': oneof 'kind' already has field 'oString' set"
    );
    assert_eq!(
        oneofs(r#"{"oString":"s","oString":"t"}"#),
        "invalid value for field 'oString': field is given twice and belongs to oneof 'kind'"
    );
    let maps = |json: &str| {
        let mut out = Vec::new();
        json_to_proto(
            &message("test.v1.Maps"),
            json.as_bytes(),
            &lenient,
            &mut out,
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        maps(r#"{"mInt32":{"x":"y"}}"#),
        "invalid value for field 'mInt32': invalid map key \"x\": the keys of this map are int32"
    );
    assert_eq!(
        maps(r#"{"mString":{"k":"v"}}"#),
        "invalid value for field 'mString[\"k\"]': the string \"v\" is not a valid int32"
    );
    assert_eq!(maps(r#"{"mInt64":{"-3":true}}"#), "invalid value for field 'mInt64[\"-3\"]': expected an enum value name or number, found true");
    let wkt = |json: &str| {
        let mut out = Vec::new();
        json_to_proto(
            &message("test.v1.WellKnown"),
            json.as_bytes(),
            &lenient,
            &mut out,
        )
        .unwrap_err()
        .to_string()
    };
    assert!(wkt(r#"{"any":{"@type":"type.googleapis.com/x.Nope"}}"#)
        .starts_with("invalid value for field 'any': message 'x.Nope' not found"));
    assert_eq!(
        wkt(r#"{"rTimestamp":["2024-01-02T03:04:05Z",1]}"#),
        "invalid value for field 'rTimestamp[1]': expected an RFC 3339 timestamp string, found 1"
    );
}

#[test]
fn protobuf_errors_name_the_field_and_the_problem() {
    let item = |wire: &[u8]| {
        let mut out = b"kept".to_vec();
        let err = proto_to_json(
            &message("bench.v1.Item"),
            wire,
            &JsonOptions::default(),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(out, b"kept");
        err.to_string()
    };
    assert_eq!(
        item(b"\x12\x01\xff"),
        "invalid protobuf data for field 'name': string is not valid UTF-8"
    );
    assert_eq!(
        item(b"\x0a\x05a"),
        "invalid protobuf message: length 5 exceeds the 1 remaining bytes"
    );
    assert_eq!(
        item(b"\x42\x02\x09\x00"),
        "invalid protobuf data for field 'dimensions': truncated 8-byte value"
    );
    assert_eq!(
        item(b"\x3a\x01a\x3a\x01\xff"),
        "invalid protobuf data for field 'tags[1]': string is not valid UTF-8"
    );
    assert_eq!(item(b"\x20\x01\x22\x00"), "invalid protobuf data for field 'priceCents': wire type 2 does not match the field type (expected wire type 0)");
    assert_eq!(
        item(b"\x52\x07\x08\x80\x83\xd1\xff\xaf\x07"),
        "field 'createdAt' cannot be written as JSON: timestamp of 253402300800 seconds is out of range"
    );
}
