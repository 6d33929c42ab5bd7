//! Benchmarks of polygate's streaming JSON ⇄ protobuf transcoder on the ~500-byte `Item`
//! message, with prost-reflect's `DynamicMessage` path measured as the baseline.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use polygate::codec::protojson::{json_to_proto, proto_to_json, JsonOptions};
use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

const ITEM_PROTO: &str = r#"
syntax = "proto3";
package bench.v1;
import "google/protobuf/timestamp.proto";
enum ItemStatus { ITEM_STATUS_UNSPECIFIED = 0; ITEM_STATUS_ACTIVE = 1; ITEM_STATUS_DISCONTINUED = 2; }
message Dimensions { double width_cm = 1; double height_cm = 2; double depth_cm = 3; double weight_kg = 4; }
message Item { string id = 1; string name = 2; string description = 3; int64 price_cents = 4; double rating = 5; bool in_stock = 6;
  repeated string tags = 7; Dimensions dimensions = 8; ItemStatus status = 9; google.protobuf.Timestamp created_at = 10; int32 stock_count = 11; string sku = 12; }
"#;

const ITEM_JSON: &[u8] = br#"{"id":"42","name":"Ergonomic aluminium laptop stand","description":"Adjustable stand with six height positions, ventilated surface and non-slip silicone pads; folds flat for travel.","priceCents":"4999","rating":4.65,"inStock":true,"tags":["office","ergonomics","aluminium","portable","laptop-accessories"],"dimensions":{"widthCm":26.5,"heightCm":4.2,"depthCm":23.75,"weightKg":0.84},"status":"ITEM_STATUS_ACTIVE","createdAt":"2024-01-02T03:04:05.123Z","stockCount":137,"sku":"LS-ALU-0042-SLV"}"#;

/// Serves the inline `item.proto`.
struct InlineItemProto;

impl FileResolver for InlineItemProto {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == "item.proto" {
            File::from_source(name, ITEM_PROTO)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

fn item_descriptor() -> MessageDescriptor {
    let mut resolver = ChainFileResolver::new();
    resolver.add(InlineItemProto);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    compiler
        .open_file("item.proto")
        .expect("item.proto compiles");
    compiler
        .descriptor_pool()
        .get_message_by_name("bench.v1.Item")
        .expect("bench.v1.Item is defined")
}

fn dynamic_json_to_proto(desc: &MessageDescriptor, json: &[u8], out: &mut Vec<u8>) {
    let mut de = serde_json::Deserializer::from_slice(json);
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let message = DynamicMessage::deserialize_with_options(desc.clone(), &mut de, &options)
        .expect("valid JSON");
    de.end().expect("no trailing characters");
    message.encode(out).expect("the buffer grows");
}

fn dynamic_proto_to_json(desc: &MessageDescriptor, wire: &[u8], out: &mut Vec<u8>) {
    let message = DynamicMessage::decode(desc.clone(), wire).expect("valid protobuf");
    let mut serializer = serde_json::Serializer::new(out);
    message
        .serialize_with_options(&mut serializer, &SerializeOptions::new())
        .expect("representable");
}

fn item(c: &mut Criterion) {
    let desc = item_descriptor();
    let opts = JsonOptions::default();
    let mut wire = Vec::new();
    json_to_proto(&desc, ITEM_JSON, &opts, &mut wire).expect("the bench JSON is valid");
    let mut group = c.benchmark_group("item");

    group.bench_function("json_to_proto", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            json_to_proto(&desc, black_box(ITEM_JSON), &opts, &mut out).expect("valid");
            black_box(&out);
        })
    });
    group.bench_function("proto_to_json", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            proto_to_json(&desc, black_box(&wire), &opts, &mut out).expect("valid");
            black_box(&out);
        })
    });
    group.bench_function("round_trip", |b| {
        let (mut proto, mut json) = (Vec::with_capacity(1024), Vec::with_capacity(1024));
        b.iter(|| {
            proto.clear();
            json.clear();
            json_to_proto(&desc, black_box(ITEM_JSON), &opts, &mut proto).expect("valid");
            proto_to_json(&desc, &proto, &opts, &mut json).expect("valid");
            black_box(&json);
        })
    });

    group.bench_function("dynamic_message/json_to_proto", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            dynamic_json_to_proto(&desc, black_box(ITEM_JSON), &mut out);
            black_box(&out);
        })
    });
    group.bench_function("dynamic_message/proto_to_json", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            dynamic_proto_to_json(&desc, black_box(&wire), &mut out);
            black_box(&out);
        })
    });
    group.bench_function("dynamic_message/round_trip", |b| {
        let (mut proto, mut json) = (Vec::with_capacity(1024), Vec::with_capacity(1024));
        b.iter(|| {
            proto.clear();
            json.clear();
            dynamic_json_to_proto(&desc, black_box(ITEM_JSON), &mut proto);
            dynamic_proto_to_json(&desc, &proto, &mut json);
            black_box(&json);
        })
    });
    group.finish();
}

criterion_group!(benches, item);
criterion_main!(benches);
