//! The field-level entry points `json_to_field` and `field_to_json`, and exact output for the
//! bench message.

use prost::Message as _;
use prost_reflect::{DynamicMessage, MapKey, Value};

use super::fixtures::{field, message, ITEM_JSON};
use crate::codec::protojson::{
    field_to_json, json_to_field, json_to_proto, proto_to_json, JsonOptions, TranscodeError,
};

/// The value of `field_name` after decoding `wire` as a `message_name`.
fn decoded(message_name: &str, wire: &[u8], field_name: &str) -> Value {
    let message = DynamicMessage::decode(message(message_name), wire).expect("valid wire bytes");
    message
        .get_field_by_name(field_name)
        .expect("field exists")
        .into_owned()
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
