//! The exact error messages API clients see, for JSON input and protobuf output.

use super::fixtures::message;
use crate::codec::protojson::{json_to_proto, proto_to_json, JsonOptions};

const STRICT: JsonOptions = JsonOptions {
    emit_unpopulated: false,
    use_proto_names: false,
    enums_as_ints: false,
    ignore_unknown_fields: false,
    ignore_unknown_enum_values: false,
};

fn item_json_error(json: &str, opts: &JsonOptions) -> String {
    let mut out = Vec::new();
    json_to_proto(&message("bench.v1.Item"), json.as_bytes(), opts, &mut out)
        .unwrap_err()
        .to_string()
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

#[test]
fn field_mask_paths_that_would_read_back_as_other_paths_are_not_printed() {
    let wkt = |wire: &[u8]| {
        let mut out = Vec::new();
        proto_to_json(
            &message("test.v1.WellKnown"),
            wire,
            &JsonOptions::default(),
            &mut out,
        )
        .map(|()| String::from_utf8(out).unwrap())
        .map_err(|e| e.to_string())
    };
    // Seen while fuzzing the round trip: "foo_" printed as "foo", "a,b" as two paths.
    assert_eq!(
        wkt(b"\x22\x06\x0a\x04foo_"),
        Err("field 'fieldMask' cannot be written as JSON: field mask path \"foo_\" cannot be written in lowerCamelCase".into())
    );
    assert_eq!(
        wkt(b"\x22\x05\x0a\x03a,b"),
        Err("field 'fieldMask' cannot be written as JSON: field mask path \"a,b\" cannot be written in lowerCamelCase".into())
    );
    // An empty path still prints as an empty element, as prost-reflect prints it.
    assert_eq!(
        wkt(b"\x22\x08\x0a\x00\x0a\x04a_bc"),
        Ok(r#"{"fieldMask":",aBc"}"#.into())
    );
}

/// `wire`, a `name` message, prints as `json`, and `json` encodes to `wire` again.
fn assert_prints_and_reads_back(name: &str, wire: &[u8], json: &str) {
    let desc = message(name);
    let mut printed = Vec::new();
    proto_to_json(&desc, wire, &JsonOptions::default(), &mut printed).unwrap();
    assert_eq!(String::from_utf8(printed).unwrap(), json, "{name}");
    let mut encoded = Vec::new();
    json_to_proto(
        &desc,
        json.as_bytes(),
        &JsonOptions::default(),
        &mut encoded,
    )
    .unwrap();
    assert_eq!(encoded, wire, "{name}");
}

#[test]
fn a_non_finite_wrapper_prints_as_the_field_it_wraps_and_reads_back() {
    // Found by fuzzing: a `DoubleValue` answer holding NaN printed as `null`, which is no
    // `DoubleValue` at all (and, as a field, reads back as an absent wrapper).
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "google.protobuf.DoubleValue",
            b"\x09\x00\x00\x00\x00\x00\x00\xf8\x7f",
            "\"NaN\"",
        ),
        (
            "google.protobuf.DoubleValue",
            b"\x09\x00\x00\x00\x00\x00\x00\xf0\xff",
            "\"-Infinity\"",
        ),
        (
            "google.protobuf.FloatValue",
            b"\x0d\x00\x00\x80\x7f",
            "\"Infinity\"",
        ),
    ];
    for (name, wire, json) in cases {
        assert_prints_and_reads_back(name, wire, json);
    }
}

#[test]
fn the_largest_floats_print_and_read_back() {
    // Found by fuzzing: `f32::MAX` prints as `3.4028235e+38`, a little above `f32::MAX` once read
    // as an `f64`, and reading it back was refused as out of range (as prost-reflect refuses it).
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "google.protobuf.FloatValue",
            b"\x0d\xff\xff\x7f\x7f",
            "3.4028235e+38",
        ),
        (
            "google.protobuf.FloatValue",
            b"\x0d\xff\xff\x7f\xff",
            "-3.4028235e+38",
        ),
        (
            "google.protobuf.DoubleValue",
            b"\x09\xff\xff\xff\xff\xff\xff\xef\x7f",
            "1.7976931348623157e+308",
        ),
    ];
    for (name, wire, json) in cases {
        assert_prints_and_reads_back(name, wire, json);
    }
    let mut encoded = Vec::new();
    let error = json_to_proto(
        &message("google.protobuf.FloatValue"),
        b"\"1e39\"",
        &JsonOptions::default(),
        &mut encoded,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid value: the string \"1e39\" is out of range for float"
    );
    assert!(encoded.is_empty());
}
