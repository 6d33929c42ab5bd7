//! The proto3 JSON schema of every field kind, checked one row at a time.

use prost_reflect::DescriptorPool;
use serde_json::{json, Value};

use super::schema::{SchemaSet, Style};

const KINDS: &str = r#"
syntax = "proto3";
package kinds.v1;

import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

// Every kind of field.
message Kinds {
  double f_double = 1;
  float f_float = 2;
  int32 f_int32 = 3;
  int64 f_int64 = 4;
  uint32 f_uint32 = 5;
  uint64 f_uint64 = 6;
  sint32 f_sint32 = 7;
  sint64 f_sint64 = 8;
  fixed32 f_fixed32 = 9;
  fixed64 f_fixed64 = 10;
  sfixed32 f_sfixed32 = 11;
  sfixed64 f_sfixed64 = 12;
  bool f_bool = 13;
  // The title, as shown.
  string f_string = 14;
  bytes f_bytes = 15;
  Color f_enum = 16;
  Kinds f_self = 17;
  repeated string f_list = 18;
  map<string, int64> f_map = 19;
  map<int32, Kinds> f_int_map = 20;
  optional int32 f_optional = 21;
  oneof choice {
    string a = 22;
    int32 b = 23;
  }
  google.protobuf.Timestamp f_timestamp = 30;
  google.protobuf.Duration f_duration = 31;
  google.protobuf.Struct f_struct = 32;
  google.protobuf.Value f_value = 33;
  google.protobuf.ListValue f_list_value = 34;
  google.protobuf.Any f_any = 35;
  google.protobuf.FieldMask f_field_mask = 36;
  google.protobuf.Empty f_empty = 37;
  google.protobuf.Int64Value f_int64_value = 38;
  google.protobuf.Int32Value f_int32_value = 39;
  google.protobuf.StringValue f_string_value = 40;
  google.protobuf.BoolValue f_bool_value = 41;
  google.protobuf.BytesValue f_bytes_value = 42;
  google.protobuf.DoubleValue f_double_value = 43;
  google.protobuf.NullValue f_null = 44;
  map<bool, string> f_bool_map = 45;
}

// A color.
enum Color {
  COLOR_UNSPECIFIED = 0;
  // Like the sky.
  BLUE = 1;
}
"#;

fn pool() -> DescriptorPool {
    let dir = std::env::temp_dir().join(format!("polygate-describe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kinds.proto"), KINDS).unwrap();
    let bytes =
        crate::descriptors::compile_protos(&["kinds.proto".into()], std::slice::from_ref(&dir))
            .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    DescriptorPool::decode(bytes.as_slice()).unwrap()
}

const REF: &str = "#/components/schemas/";

#[test]
fn every_field_kind_has_its_proto3_json_schema() {
    let pool = pool();
    let kinds = pool.get_message_by_name("kinds.v1.Kinds").unwrap();
    let mut set = SchemaSet::new(REF);
    let reference = set.message(&kinds, Style::default());
    assert_eq!(
        reference,
        json!({"$ref": "#/components/schemas/kinds.v1.Kinds"})
    );
    let components = set.into_components();
    let schema = &components["kinds.v1.Kinds"];
    let special = json!({"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]});
    let rows: Vec<(&str, Value)> = vec![
        (
            "fDouble",
            json!({"oneOf": [{"type": "number", "format": "double"}, special]}),
        ),
        (
            "fFloat",
            json!({"oneOf": [{"type": "number", "format": "float"}, special]}),
        ),
        ("fInt32", json!({"type": "integer", "format": "int32"})),
        (
            "fInt64",
            json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}),
        ),
        (
            "fUint32",
            json!({"type": "integer", "format": "uint32", "minimum": 0, "maximum": 4294967295u64}),
        ),
        (
            "fUint64",
            json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}),
        ),
        ("fSint32", json!({"type": "integer", "format": "int32"})),
        (
            "fSint64",
            json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}),
        ),
        (
            "fFixed32",
            json!({"type": "integer", "format": "uint32", "minimum": 0, "maximum": 4294967295u64}),
        ),
        (
            "fFixed64",
            json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}),
        ),
        ("fSfixed32", json!({"type": "integer", "format": "int32"})),
        (
            "fSfixed64",
            json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}),
        ),
        ("fBool", json!({"type": "boolean"})),
        (
            "fString",
            json!({"type": "string", "description": "The title, as shown."}),
        ),
        (
            "fBytes",
            json!({"type": "string", "format": "byte", "contentEncoding": "base64"}),
        ),
        (
            "fEnum",
            json!({"$ref": "#/components/schemas/kinds.v1.Color"}),
        ),
        (
            "fSelf",
            json!({"$ref": "#/components/schemas/kinds.v1.Kinds"}),
        ),
        (
            "fList",
            json!({"type": "array", "items": {"type": "string"}}),
        ),
        (
            "fMap",
            json!({"type": "object", "additionalProperties": {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}}),
        ),
        (
            "fIntMap",
            json!({"type": "object", "additionalProperties": {"$ref": "#/components/schemas/kinds.v1.Kinds"}, "propertyNames": {"pattern": "^-?[0-9]+$"}}),
        ),
        ("fOptional", json!({"type": "integer", "format": "int32"})),
        ("a", json!({"type": "string"})),
        ("b", json!({"type": "integer", "format": "int32"})),
        (
            "fTimestamp",
            json!({"type": "string", "format": "date-time", "description": "RFC 3339, e.g. 2024-01-01T00:00:00Z"}),
        ),
        (
            "fDuration",
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "description": "seconds with an `s` suffix, e.g. 1.5s"}),
        ),
        (
            "fStruct",
            json!({"type": "object", "additionalProperties": true}),
        ),
        ("fValue", json!({"description": "any JSON value"})),
        ("fListValue", json!({"type": "array", "items": {}})),
        (
            "fAny",
            json!({"type": "object", "properties": {"@type": {"type": "string", "description": "type URL, e.g. type.googleapis.com/pkg.Message"}}, "required": ["@type"], "additionalProperties": true}),
        ),
        (
            "fFieldMask",
            json!({"type": "string", "description": "comma-separated lowerCamelCase field paths"}),
        ),
        ("fEmpty", json!({"type": "object", "maxProperties": 0})),
        (
            "fInt64Value",
            json!({"type": ["string", "null"], "format": "int64", "pattern": "^-?[0-9]+$"}),
        ),
        (
            "fInt32Value",
            json!({"type": ["integer", "null"], "format": "int32"}),
        ),
        ("fStringValue", json!({"type": ["string", "null"]})),
        ("fBoolValue", json!({"type": ["boolean", "null"]})),
        (
            "fBytesValue",
            json!({"type": ["string", "null"], "format": "byte", "contentEncoding": "base64"}),
        ),
        (
            "fDoubleValue",
            json!({"oneOf": [{"type": "number", "format": "double"}, special, {"type": "null"}]}),
        ),
        ("fNull", json!({"type": "null"})),
        (
            "fBoolMap",
            json!({"type": "object", "additionalProperties": {"type": "string"}, "propertyNames": {"enum": ["true", "false"]}}),
        ),
    ];
    let properties = schema["properties"].as_object().unwrap();
    for (name, expected) in &rows {
        assert_eq!(&properties[*name], expected, "field {name}");
    }
    assert_eq!(properties.len(), rows.len(), "one row per field");
    assert_eq!(schema["description"], "Every kind of field.");
    // The oneof: at most one of its members.
    assert_eq!(
        schema["oneOf"],
        json!([{"required": ["a"]}, {"required": ["b"]}, {"not": {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}}])
    );
    assert_eq!(
        components["kinds.v1.Color"],
        json!({"type": "string", "enum": ["COLOR_UNSPECIFIED", "BLUE"], "description": "A color.\n- `COLOR_UNSPECIFIED` (0)\n- `BLUE` (1): Like the sky."})
    );
}

#[test]
fn route_json_options_give_their_own_components() {
    let pool = pool();
    let kinds = pool.get_message_by_name("kinds.v1.Kinds").unwrap();
    let mut set = SchemaSet::new(REF);
    let style = Style {
        proto_names: true,
        enum_ints: true,
        emit_unpopulated: true,
    };
    let reference = set.message(&kinds, style);
    assert_eq!(
        reference,
        json!({"$ref": "#/components/schemas/kinds.v1.Kinds-proto_names-enum_ints-emit_unpopulated"})
    );
    let components = set.into_components();
    let schema = &components["kinds.v1.Kinds-proto_names-enum_ints-emit_unpopulated"];
    assert_eq!(
        schema["properties"]["f_enum"],
        json!({"$ref": "#/components/schemas/kinds.v1.Color-enum_ints"})
    );
    assert_eq!(
        components["kinds.v1.Color-enum_ints"]["enum"],
        json!([0, 1])
    );
    let required = schema["required"].as_array().unwrap();
    // Fields without presence are always written; optional, oneof and message fields are not.
    assert!(required.contains(&json!("f_int64")));
    assert!(required.contains(&json!("f_list")));
    assert!(!required.contains(&json!("f_optional")));
    assert!(!required.contains(&json!("a")));
    assert!(!required.contains(&json!("f_self")));
}

#[test]
fn api_docs_paths_sit_under_the_prefix_and_a_bad_prefix_is_refused() {
    use super::ApiDocsConfig;
    let off = ApiDocsConfig::default();
    assert!(off.validate().unwrap().is_none());
    let docs = ApiDocsConfig {
        enabled: true,
        path_prefix: Some("/api/".into()),
    }
    .validate()
    .unwrap()
    .unwrap();
    assert_eq!(docs.prefix, "/api");
    assert!(docs.claims("/api/openapi.json"));
    assert!(docs.claims("/api/docs"));
    assert!(!docs.claims("/openapi.json"));
    assert!(!docs.claims("/api/v1/shelves"));
    let bad = ApiDocsConfig {
        enabled: true,
        path_prefix: Some("api?x".into()),
    };
    assert_eq!(
        bad.validate().unwrap_err(),
        "api_docs.path_prefix 'api?x' must be a path starting with '/' of letters, digits and - . _ ~"
    );
}
