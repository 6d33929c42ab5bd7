//! JSON Schemas of the JSON a SOAP or plain-XML route reads and writes, read off its
//! `xml_mapping` (what `polygate import wsdl` derives from the WSDL's XSD): `order` gives an
//! element's children, `arrays` the repeated ones and `types` the typed values. Elements the
//! mapping does not describe are free-form.

use serde_json::{json, Map, Value};

use crate::codec::xml::{ValueType, XmlMappingConfig};

/// How deep element schemas are written before the rest is left free-form.
const MAX_DEPTH: usize = 16;

/// The schema of the element at `path` (`PlaceOrder/order`), or `None` when the mapping says
/// nothing about it.
pub(crate) fn element(config: &XmlMappingConfig, path: &str) -> Option<Value> {
    let known = config.order.contains_key(path)
        || config.types.contains_key(path)
        || config
            .types
            .keys()
            .any(|k| k.starts_with(&format!("{path}/@")));
    known.then(|| element_schema(config, path, 0))
}

/// The JSON key of a child written `name` (`t:sku` becomes `sku` when prefixes are dropped).
fn key(config: &XmlMappingConfig, name: &str) -> String {
    match name.split_once(':') {
        Some((_, local)) if config.drop_prefixes => local.to_owned(),
        _ => name.to_owned(),
    }
}

fn element_schema(config: &XmlMappingConfig, path: &str, depth: usize) -> Value {
    if let Some(value_type) = config.types.get(path) {
        return leaf(config, *value_type);
    }
    let children = config.order.get(path);
    let attributes: Vec<(&String, &ValueType)> = config
        .types
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(path)
                .and_then(|rest| rest.strip_prefix("/@"))
                .is_some_and(|name| !name.contains('/'))
        })
        .collect();
    if (children.is_none() && attributes.is_empty()) || depth >= MAX_DEPTH {
        return json!({"type": "string"});
    }
    let mut properties = Map::new();
    for (attribute, value_type) in attributes {
        let name = &attribute[path.len() + 1..];
        properties.insert(name.to_owned(), leaf(config, *value_type));
    }
    for child in children.into_iter().flatten() {
        let child_path = format!("{path}/{child}");
        let schema = element_schema(config, &child_path, depth + 1);
        let schema = if config.arrays.contains(&child_path) {
            json!({"type": "array", "items": schema})
        } else {
            schema
        };
        properties.insert(key(config, child), schema);
    }
    json!({"type": "object", "properties": properties})
}

fn leaf(config: &XmlMappingConfig, value_type: ValueType) -> Value {
    match value_type {
        ValueType::String => json!({"type": "string"}),
        ValueType::Int => json!({"type": "integer"}),
        ValueType::Int64 if config.int64_as_number => json!({"type": "integer", "format": "int64"}),
        ValueType::Int64 => json!({"type": "string", "format": "int64"}),
        ValueType::Decimal if config.decimal_as_number => json!({"type": "number"}),
        ValueType::Decimal => json!({"type": "string", "format": "decimal"}),
        ValueType::Double => json!({"type": "number", "format": "double"}),
        ValueType::Boolean => json!({"type": "boolean"}),
    }
}

/// The schema at `segments` below `schema` (a `response_body` selection), if it is known.
pub(crate) fn select(schema: &Value, segments: &[String]) -> Option<Value> {
    let mut current = schema;
    for segment in segments {
        current = match current.get("type").and_then(Value::as_str) {
            Some("array") => &current["items"],
            _ => current.get("properties")?.get(segment)?,
        };
    }
    Some(current.clone())
}
