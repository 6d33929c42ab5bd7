//! Property test for schema-described mappings with `drop_prefixes`: JSON whose keys are local
//! names only converts to XML with every element in its schema namespace and in sequence order,
//! and back to the same JSON.

use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;
use serde_json::{json, Map, Value};

use super::*;

const SERVICE: &str = "urn:svc";
const TYPES: &str = "urn:types";

fn schema() -> XmlMapping {
    let mut config = XmlMappingConfig {
        default_namespace: Some(SERVICE.into()),
        drop_prefixes: true,
        // Items without tags round-trip without `"tag": []` here; `[]` has its own tests.
        omit_empty_arrays: true,
        ..XmlMappingConfig::default()
    };
    config.namespaces.insert("t".into(), TYPES.into());
    config.arrays = vec!["Put/item".into(), "Put/item/t:tag".into()];
    config.types.insert("Put/item/t:qty".into(), ValueType::Int);
    config
        .types
        .insert("Put/item/t:ok".into(), ValueType::Boolean);
    config
        .order
        .insert("Put".into(), vec!["item".into(), "note".into()]);
    config.order.insert(
        "Put/item".into(),
        vec![
            "t:sku".into(),
            "t:qty".into(),
            "t:tag".into(),
            "t:ok".into(),
        ],
    );
    XmlMapping::new(&config).expect("valid mapping")
}

prop_compose! {
    fn item()(
        sku in "[A-Z]{3}-[0-9]{1,4}",
        qty in proptest::option::of(0i64..100_000),
        tags in proptest::collection::vec("[a-z <&>\"é]{0,6}", 0..3),
        ok in proptest::option::of(any::<bool>()),
        shuffle in any::<u8>(),
    ) -> (Value, u8) {
        let mut item = Map::new();
        item.insert("sku".into(), json!(sku));
        if let Some(qty) = qty { item.insert("qty".into(), json!(qty)); }
        if !tags.is_empty() { item.insert("tag".into(), json!(tags)); }
        if let Some(ok) = ok { item.insert("ok".into(), json!(ok)); }
        (Value::Object(item), shuffle)
    }
}

/// The JSON text with each object's members in an order picked by `shuffle`.
fn shuffled(value: &Value, shuffle: u8) -> String {
    match value {
        Value::Object(members) => {
            let mut members: Vec<(&String, &Value)> = members.iter().collect();
            let count = members.len().max(1);
            members.rotate_left(usize::from(shuffle) % count);
            if shuffle % 2 == 1 {
                members.reverse();
            }
            let inner: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}:{}", json!(k), shuffled(v, shuffle / 2)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|v| shuffled(v, shuffle))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// (namespace, local name) of every element, in document order.
fn element_names(xml: &[u8]) -> Vec<(String, String)> {
    let mut reader = NsReader::from_reader(xml);
    let mut names = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader
            .read_resolved_event_into(&mut buf)
            .expect("well-formed")
        {
            (ResolveResult::Bound(Namespace(ns)), Event::Start(e) | Event::Empty(e)) => {
                names.push((ns.to_owned(), e.local_name().into_inner().to_owned()))
            }
            (_, Event::Start(_) | Event::Empty(_)) => panic!("an element without namespace"),
            (_, Event::Eof) => return names,
            _ => {}
        }
        buf.clear();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn local_name_json_round_trips_through_schema_ordered_xml(
        items in proptest::collection::vec(item(), 1..3),
        note in proptest::option::of("[a-z]{1,5}"),
    ) {
        let mapping = schema();
        let shuffle = items.first().map_or(0, |(_, s)| *s);
        let mut put = Map::new();
        if let Some(note) = &note { put.insert("note".into(), json!(note)); }
        put.insert("item".into(), Value::Array(items.iter().map(|(v, _)| v.clone()).collect()));
        let value = Value::Object(put);
        let mut xml = Vec::new();
        json_to_xml(shuffled(&value, shuffle).as_bytes(), "Put", &mapping, &mut xml).expect("writes");
        // Schema order and namespaces: item children in t:, in sku, qty, tag, ok order.
        let names = element_names(&xml);
        prop_assert_eq!(&names[0], &(SERVICE.to_owned(), "Put".to_owned()));
        let order = ["sku", "qty", "tag", "ok"];
        let mut last = 0;
        for (ns, local) in &names[1..] {
            match local.as_str() {
                "item" => { prop_assert_eq!(ns, SERVICE); last = 0; }
                "note" => prop_assert_eq!(ns, SERVICE),
                child => {
                    prop_assert_eq!(ns, TYPES);
                    let position = order.iter().position(|o| o == &child).expect("a schema child");
                    prop_assert!(position >= last, "{child} out of order in {names:?}");
                    last = position;
                }
            }
        }
        let mut back = Vec::new();
        xml_to_json(&xml, &mapping, &mut back).expect("reads");
        let back: Value = serde_json::from_slice(&back).expect("JSON");
        prop_assert_eq!(back, value);
    }
}
