//! Test descriptors (compiled with protox from inline sources) and the prost-reflect reference
//! the transcoder is compared against.

use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, MessageDescriptor,
    ReflectMessage,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::codec::protojson::JsonOptions;

pub(super) const TEST_PROTO: &str = r#"
syntax = "proto3";
package test.v1;

import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; COLOR_GREEN = 2; }

message Scalars {
  double f_double = 1; float f_float = 2; int32 f_int32 = 3; int64 f_int64 = 4;
  uint32 f_uint32 = 5; uint64 f_uint64 = 6; sint32 f_sint32 = 7; sint64 f_sint64 = 8;
  fixed32 f_fixed32 = 9; fixed64 f_fixed64 = 10; sfixed32 f_sfixed32 = 11; sfixed64 f_sfixed64 = 12;
  bool f_bool = 13; string f_string = 14; bytes f_bytes = 15; Color f_enum = 16;
  string custom = 17 [json_name = "renamed"];
}

message Repeated {
  repeated double r_double = 1; repeated float r_float = 2; repeated int32 r_int32 = 3;
  repeated int64 r_int64 = 4; repeated uint32 r_uint32 = 5; repeated uint64 r_uint64 = 6;
  repeated sint32 r_sint32 = 7; repeated sint64 r_sint64 = 8; repeated fixed32 r_fixed32 = 9;
  repeated fixed64 r_fixed64 = 10; repeated sfixed32 r_sfixed32 = 11; repeated sfixed64 r_sfixed64 = 12;
  repeated bool r_bool = 13; repeated string r_string = 14; repeated bytes r_bytes = 15;
  repeated Color r_enum = 16;
  repeated int32 r_unpacked = 17 [packed = false];
  repeated Color r_enum_unpacked = 18 [packed = false];
  repeated Scalars r_message = 19;
}

message Maps {
  map<string, int32> m_string = 1; map<int32, string> m_int32 = 2; map<int64, Color> m_int64 = 3;
  map<uint32, double> m_uint32 = 4; map<uint64, bytes> m_uint64 = 5; map<sint32, Scalars> m_sint32 = 6;
  map<sint64, bool> m_sint64 = 7; map<fixed32, float> m_fixed32 = 8; map<fixed64, int64> m_fixed64 = 9;
  map<sfixed32, string> m_sfixed32 = 10; map<sfixed64, uint64> m_sfixed64 = 11; map<bool, string> m_bool = 12;
  map<string, google.protobuf.Value> m_value = 13; map<string, google.protobuf.Timestamp> m_timestamp = 14;
}

message Oneofs {
  oneof kind {
    string o_string = 1; int32 o_int32 = 2; Scalars o_message = 3; Color o_enum = 4;
    google.protobuf.NullValue o_null = 5;
  }
  optional int32 opt_int32 = 6; optional string opt_string = 7; optional Color opt_enum = 8;
  oneof other { bool x_bool = 9; bytes x_bytes = 10; }
}

message WellKnown {
  google.protobuf.Any any = 1; google.protobuf.Timestamp timestamp = 2;
  google.protobuf.Duration duration = 3; google.protobuf.FieldMask field_mask = 4;
  google.protobuf.Struct struct = 5; google.protobuf.Value value = 6;
  google.protobuf.ListValue list_value = 7; google.protobuf.Empty empty = 8;
  google.protobuf.DoubleValue w_double = 9; google.protobuf.FloatValue w_float = 10;
  google.protobuf.Int64Value w_int64 = 11; google.protobuf.UInt64Value w_uint64 = 12;
  google.protobuf.Int32Value w_int32 = 13; google.protobuf.UInt32Value w_uint32 = 14;
  google.protobuf.BoolValue w_bool = 15; google.protobuf.StringValue w_string = 16;
  google.protobuf.BytesValue w_bytes = 17; google.protobuf.NullValue null_value = 18;
  repeated google.protobuf.Timestamp r_timestamp = 19; repeated google.protobuf.Value r_value = 20;
  repeated google.protobuf.Int32Value r_int32_value = 21; repeated google.protobuf.Any r_any = 22;
  repeated google.protobuf.NullValue r_null = 23; repeated google.protobuf.Duration r_duration = 24;
}

message Recursive {
  int32 depth = 1; Recursive child = 2; repeated Recursive children = 3;
  map<string, Recursive> by_name = 4;
}

message Everything {
  Scalars scalars = 1; Repeated repeated = 2; Maps maps = 3; Oneofs oneofs = 4;
  WellKnown wkt = 5; Recursive recursive = 6; int32 big_number = 1000;
}
"#;

pub(super) const ITEM_PROTO: &str = r#"
syntax = "proto3";
package bench.v1;
import "google/protobuf/timestamp.proto";
enum ItemStatus { ITEM_STATUS_UNSPECIFIED = 0; ITEM_STATUS_ACTIVE = 1; ITEM_STATUS_DISCONTINUED = 2; }
message Dimensions { double width_cm = 1; double height_cm = 2; double depth_cm = 3; double weight_kg = 4; }
message Item { string id = 1; string name = 2; string description = 3; int64 price_cents = 4; double rating = 5; bool in_stock = 6;
  repeated string tags = 7; Dimensions dimensions = 8; ItemStatus status = 9; google.protobuf.Timestamp created_at = 10; int32 stock_count = 11; string sku = 12; }
"#;

pub(super) const LEGACY_PROTO: &str = r#"
syntax = "proto2";
package test.v2;
enum Mode { MODE_A = 1; MODE_B = 2; }
message Legacy {
  optional int32 a = 1 [default = 5];
  repeated int32 unpacked = 2;
  repeated int32 packed = 3 [packed = true];
  optional group Data = 4 { optional string text = 5; }
  repeated group Item = 6 { optional int32 id = 7; }
  map<string, int32> counts = 8;
  optional Legacy child = 9;
  optional Mode mode = 10;
  repeated Mode modes = 11;
  required string name = 12;
}
"#;

pub(super) const ITEM_JSON: &str = r#"{"id":"42","name":"Ergonomic aluminium laptop stand","description":"Adjustable stand with six height positions, ventilated surface and non-slip silicone pads; folds flat for travel.","priceCents":"4999","rating":4.65,"inStock":true,"tags":["office","ergonomics","aluminium","portable","laptop-accessories"],"dimensions":{"widthCm":26.5,"heightCm":4.2,"depthCm":23.75,"weightKg":0.84},"status":"ITEM_STATUS_ACTIVE","createdAt":"2024-01-02T03:04:05.123Z","stockCount":137,"sku":"LS-ALU-0042-SLV"}"#;

/// Serves the inline test sources.
struct InlineFiles;

impl FileResolver for InlineFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match name {
            "test.proto" => File::from_source(name, TEST_PROTO),
            "item.proto" => File::from_source(name, ITEM_PROTO),
            "legacy.proto" => File::from_source(name, LEGACY_PROTO),
            _ => Err(protox::Error::file_not_found(name)),
        }
    }
}

pub(super) fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut resolver = ChainFileResolver::new();
        resolver.add(InlineFiles);
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler
            .open_file("test.proto")
            .expect("test.proto compiles");
        compiler
            .open_file("item.proto")
            .expect("item.proto compiles");
        compiler
            .open_file("legacy.proto")
            .expect("legacy.proto compiles");
        compiler.descriptor_pool()
    })
}

pub(super) fn message(name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("no message {name}"))
}

pub(super) fn field(message_name: &str, field_name: &str) -> FieldDescriptor {
    message(message_name)
        .get_field_by_name(field_name)
        .unwrap_or_else(|| panic!("no field {message_name}.{field_name}"))
}

/// Every option combination.
pub(super) fn all_options() -> Vec<JsonOptions> {
    (0..16u8)
        .map(|bits| JsonOptions {
            emit_unpopulated: bits & 1 != 0,
            use_proto_names: bits & 2 != 0,
            enums_as_ints: bits & 4 != 0,
            ignore_unknown_fields: bits & 8 != 0,
            ignore_unknown_enum_values: bits & 8 != 0,
        })
        .collect()
}

/// prost-reflect's JSON → message, `None` when it rejects the input (or trips over it).
pub(super) fn reference_parse(
    desc: &MessageDescriptor,
    json: &[u8],
    ignore_unknown: bool,
) -> Option<DynamicMessage> {
    let desc = desc.clone();
    let json = json.to_vec();
    std::panic::catch_unwind(move || {
        let mut de = serde_json::Deserializer::from_slice(&json);
        let opts = DeserializeOptions::new().deny_unknown_fields(!ignore_unknown);
        let message = DynamicMessage::deserialize_with_options(desc, &mut de, &opts).ok()?;
        de.end().ok()?;
        Some(message)
    })
    .ok()
    .flatten()
}

/// prost-reflect's wire → JSON, as a parsed value; `None` when it fails.
pub(super) fn reference_print(
    desc: &MessageDescriptor,
    wire: &[u8],
    opts: &JsonOptions,
) -> Option<serde_json::Value> {
    let message = DynamicMessage::decode(desc.clone(), wire).ok()?;
    print_message(&message, opts)
}

pub(super) fn print_message(
    message: &DynamicMessage,
    opts: &JsonOptions,
) -> Option<serde_json::Value> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut out);
    message
        .serialize_with_options(&mut serializer, &opts.serialize_options())
        .ok()?;
    Some(serde_json::from_slice(&out).expect("prost-reflect writes valid JSON"))
}

/// Whether two messages hold the same values (NaN equal to NaN).
pub(super) fn same_message(a: &DynamicMessage, b: &DynamicMessage) -> bool {
    let desc = a.descriptor();
    let normal = |m: &DynamicMessage| {
        DynamicMessage::decode(desc.clone(), m.encode_to_vec().as_slice()).ok()
    };
    let (Some(a), Some(b)) = (normal(a), normal(b)) else {
        return false;
    };
    if a == b {
        return true;
    }
    // NaN makes `==` fail; fall back to the printed forms, with every field shown.
    let all = JsonOptions {
        emit_unpopulated: true,
        ..JsonOptions::default()
    };
    let printed_a = print_message(&a, &all).or_else(|| print_message(&a, &JsonOptions::default()));
    let printed_b = print_message(&b, &all).or_else(|| print_message(&b, &JsonOptions::default()));
    printed_a.is_some() && printed_a == printed_b
}

/// A message as JSON with every field shown, for failure reports (`Debug` of a message with a
/// recursive type does not terminate).
pub(super) fn describe(message: &DynamicMessage) -> String {
    let all = JsonOptions {
        emit_unpopulated: true,
        ..JsonOptions::default()
    };
    match print_message(message, &all) {
        Some(json) => json.to_string(),
        None => format!(
            "<unprintable {}: {:02x?}>",
            message.descriptor().full_name(),
            message.encode_to_vec()
        ),
    }
}
