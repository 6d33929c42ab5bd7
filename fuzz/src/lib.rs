//! What the fuzz targets share: the test descriptors, a route table built from them, a few XML
//! mappings, and small helpers to split one fuzz input into several values.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use polygate::codec::xml::{EmptyAs, ValueType, XmlMapping, XmlMappingConfig};
use polygate::mapping::{BackendSchema, RouteSources, RouteTable};
use polygate::model::{Backend, BackendCall, BackendFuture, Status};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage, Value};
use serde::Deserialize;

/// The descriptors of `tests/protos/polygate/test/v1/testing.proto` (and what it imports),
/// compiled once per process.
pub fn test_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let protos = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/protos"));
        let encoded = polygate::descriptors::compile_protos(
            &[protos.join("polygate/test/v1/testing.proto")],
            &[protos],
        )
        .expect("the test protos compile");
        DescriptorPool::decode(encoded.as_slice()).expect("the test descriptors decode")
    })
}

/// Every message of the test pool (the test messages and the well-known types they use),
/// sorted by full name so that a selector byte always picks the same one.
pub fn messages() -> &'static [MessageDescriptor] {
    static MESSAGES: OnceLock<Vec<MessageDescriptor>> = OnceLock::new();
    MESSAGES.get_or_init(|| {
        let mut all: Vec<MessageDescriptor> = test_pool().all_messages().collect();
        // `Everything` first, so that the seeds' selector byte 0 picks it; then the other test
        // messages, then the rest (well-known types, google.api), each group by name.
        all.sort_by_key(|m| {
            let name = m.full_name().to_owned();
            let group = match name.as_str() {
                "polygate.test.v1.Everything" => 0,
                _ if name.starts_with("polygate.test.") => 1,
                _ => 2,
            };
            (group, name)
        });
        all
    })
}

/// The message that `selector` picks.
pub fn message(selector: u8) -> &'static MessageDescriptor {
    let all = messages();
    &all[usize::from(selector) % all.len()]
}

/// A backend that is never called: the targets stop at binding.
struct NoBackend;

impl Backend for NoBackend {
    fn name(&self) -> &str {
        "fuzz"
    }

    fn call(&self, _call: BackendCall) -> BackendFuture {
        Box::pin(async { Err(Status::internal("the fuzz backend is never called")) })
    }
}

/// A backend that fails every call, for route tables that are only matched and bound.
pub fn no_backend() -> Arc<dyn Backend> {
    Arc::new(NoBackend)
}

/// The route table of the test service's `google.api.http` annotations, built once.
pub fn route_table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let backends = [BackendSchema {
            name: Arc::from("fuzz"),
            backend: no_backend(),
            pool: test_pool().clone(),
        }];
        RouteTable::build(RouteSources {
            backends: &backends,
            mapping_rules: Vec::new(),
            defaults: Default::default(),
            expose_unannotated: true,
            target_backends: &[],
            target_routes: Vec::new(),
        })
        .expect("the test routes build")
    })
}

/// XML mappings that exercise the converter's options: the default one, one with namespaces,
/// arrays, type hints and order, and a lenient one with small limits.
pub fn xml_mappings() -> &'static [XmlMapping] {
    static MAPPINGS: OnceLock<Vec<XmlMapping>> = OnceLock::new();
    MAPPINGS.get_or_init(|| {
        let plain = XmlMappingConfig::default();
        let mut orders = XmlMappingConfig::default();
        orders.namespaces.insert("m".into(), "urn:orders".into());
        orders.namespaces.insert("t".into(), "urn:types".into());
        orders.arrays.push("m:orders/m:order".into());
        orders.arrays.push("*/item".into());
        orders
            .types
            .insert("m:orders/m:order/m:qty".into(), ValueType::Int);
        orders
            .types
            .insert("m:orders/m:order/m:id".into(), ValueType::Int64);
        orders
            .types
            .insert("m:orders/m:order/m:price".into(), ValueType::Decimal);
        orders
            .types
            .insert("m:orders/m:order/m:ratio".into(), ValueType::Double);
        orders
            .types
            .insert("m:orders/m:order/m:ok".into(), ValueType::Boolean);
        orders
            .types
            .insert("m:orders/m:order/@n".into(), ValueType::Int);
        orders.order.insert(
            "m:orders/m:order".into(),
            vec!["m:id".into(), "m:qty".into(), "m:price".into()],
        );
        orders.int64_as_number = true;
        orders.decimal_as_number = true;
        let mut lenient = XmlMappingConfig {
            drop_prefixes: true,
            empty_as: EmptyAs::Null,
            recognise_scalars: true,
            default_namespace: Some("urn:default".into()),
            ..Default::default()
        };
        lenient.limits.max_depth = 8;
        lenient.limits.max_attributes = 4;
        lenient.limits.max_bytes = 4096;
        [plain, orders, lenient]
            .iter()
            .map(|config| XmlMapping::new(config).expect("the fuzz XML mappings are valid"))
            .collect()
    })
}

/// The XML mapping that `selector` picks.
pub fn xml_mapping(selector: u8) -> &'static XmlMapping {
    let all = xml_mappings();
    &all[usize::from(selector) % all.len()]
}

/// Splits `data` into its first byte (a selector, 0 when empty) and the rest.
pub fn selector(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, data),
    }
}

/// Asserts that `bytes` is one well-formed JSON value.
pub fn assert_json(bytes: &[u8], what: &str) {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    reader.disable_recursion_limit();
    let parsed = serde::de::IgnoredAny::deserialize(&mut reader).and_then(|_| reader.end());
    if let Err(error) = parsed {
        panic!(
            "{what} is not valid JSON ({error}): {}",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// Whether `wire` (a `desc` message) holds a message anywhere in its tree for which `found`
/// is true (false when `wire` does not decode).
pub fn any_message(
    desc: &MessageDescriptor,
    wire: &[u8],
    found: &dyn Fn(&DynamicMessage) -> bool,
) -> bool {
    fn in_message(message: &DynamicMessage, found: &dyn Fn(&DynamicMessage) -> bool) -> bool {
        found(message) || message.fields().any(|(_, value)| in_value(value, found))
    }
    fn in_value(value: &Value, found: &dyn Fn(&DynamicMessage) -> bool) -> bool {
        match value {
            Value::Message(message) => in_message(message, found),
            Value::List(items) => items.iter().any(|item| in_value(item, found)),
            Value::Map(entries) => entries.values().any(|entry| in_value(entry, found)),
            _ => false,
        }
    }
    DynamicMessage::decode(desc.clone(), wire).is_ok_and(|message| in_message(&message, found))
}

/// Whether `wire` holds a `google.protobuf.FieldMask` with an empty path anywhere: such a path
/// prints as an empty element of the JSON string, which reads back as no path at all (as in
/// prost-reflect and the reference implementations).
pub fn has_empty_field_mask_path(desc: &MessageDescriptor, wire: &[u8]) -> bool {
    any_message(desc, wire, &|message| {
        message.descriptor().full_name() == "google.protobuf.FieldMask"
            && matches!(
                message.get_field_by_name("paths").as_deref(),
                Some(Value::List(paths)) if paths.iter().any(|p| p.as_str() == Some(""))
            )
    })
}

/// Whether `wire` holds a `google.protobuf.Struct` with two fields or more anywhere. Such a
/// subtree is encoded by prost-reflect, whose map has no order: the same JSON may give its
/// entries in another order on each call (the same message, other bytes).
pub fn has_unordered_struct(desc: &MessageDescriptor, wire: &[u8]) -> bool {
    any_message(desc, wire, &|message| {
        message.descriptor().full_name() == "google.protobuf.Struct"
            && matches!(
                message.get_field_by_name("fields").as_deref(),
                Some(Value::Map(fields)) if fields.len() > 1
            )
    })
}

/// Whether two messages are the same field by field (NaN equal to NaN; a message with a NaN
/// counts as the same as any message that prints the same).
pub fn same_message(desc: &MessageDescriptor, a: &[u8], b: &[u8]) -> bool {
    match (
        DynamicMessage::decode(desc.clone(), a),
        DynamicMessage::decode(desc.clone(), b),
    ) {
        (Ok(a), Ok(b)) => a == b || format!("{a:?}").contains("NaN"),
        _ => false,
    }
}

/// Parses JSON into a value, without serde_json's recursion limit.
pub fn json_value(bytes: &[u8]) -> serde_json::Value {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    reader.disable_recursion_limit();
    serde_json::Value::deserialize(&mut reader).expect("valid JSON")
}
