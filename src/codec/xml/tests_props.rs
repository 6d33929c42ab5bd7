//! Property tests: JSON → XML → JSON is the identity for documents following the convention,
//! and XML → JSON → XML keeps elements (by namespace URI), their order, attributes and text.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::XmlVersion;
use serde_json::{Map, Value};

use super::*;

// ---------- JSON → XML → JSON ----------

#[derive(Debug, Clone)]
enum JsonNode {
    Str(String),
    Null,
    Object(JsonObject),
}

#[derive(Debug, Clone)]
struct JsonObject {
    attributes: BTreeMap<String, String>,
    children: BTreeMap<String, JsonChild>,
    text: Option<String>,
}

#[derive(Debug, Clone)]
enum JsonChild {
    One(JsonNode),
    Many(Vec<JsonNode>),
}

fn text_strategy() -> impl Strategy<Value = String> + Clone {
    "[a-z0-9 <>&\"'\t\n\r€é😀\u{FFFD}\u{10000}-]{0,8}"
}

fn json_node() -> impl Strategy<Value = JsonNode> {
    let leaf = prop_oneof![
        4 => text_strategy().prop_map(JsonNode::Str),
        1 => Just(JsonNode::Null),
    ];
    leaf.prop_recursive(4, 40, 4, |inner| {
        let child = prop_oneof![
            3 => inner.clone().prop_map(JsonChild::One),
            1 => prop::collection::vec(inner, 1..3).prop_map(JsonChild::Many),
        ];
        (
            prop::collection::btree_map(
                prop::sample::select(vec!["@id", "@m:code", "@lang"]).prop_map(String::from),
                text_strategy(),
                0..3,
            ),
            prop::collection::btree_map(
                prop::sample::select(vec!["a", "b", "m:c", "m:d", "e1", "x_y"])
                    .prop_map(String::from),
                child,
                0..4,
            ),
            prop::option::of(text_strategy().prop_map(|t| format!("T{t}"))),
        )
            .prop_map(|(attributes, children, text)| {
                let mut object = JsonObject {
                    attributes,
                    children,
                    text,
                };
                // An object needs an attribute or a child, else it reads back as a scalar.
                if object.attributes.is_empty() && object.children.is_empty() {
                    object.attributes.insert("@id".into(), "1".into());
                }
                JsonNode::Object(object)
            })
    })
}

/// Collects the paths holding arrays, so the mapping can force them.
fn array_paths(node: &JsonNode, path: &str, out: &mut BTreeSet<String>) {
    if let JsonNode::Object(object) = node {
        for (key, child) in &object.children {
            let child_path = format!("{path}/{key}");
            match child {
                JsonChild::One(node) => array_paths(node, &child_path, out),
                JsonChild::Many(nodes) => {
                    out.insert(child_path.clone());
                    for node in nodes {
                        array_paths(node, &child_path, out);
                    }
                }
            }
        }
    }
}

/// The JSON value of a node, with single children on array paths made arrays.
fn json_value(node: &JsonNode, path: &str, arrays: &BTreeSet<String>) -> Value {
    match node {
        JsonNode::Str(text) => Value::String(text.clone()),
        JsonNode::Null => Value::Null,
        JsonNode::Object(object) => {
            let mut map = Map::new();
            for (key, value) in &object.attributes {
                map.insert(key.clone(), Value::String(value.clone()));
            }
            for (key, child) in &object.children {
                let child_path = format!("{path}/{key}");
                let value = match child {
                    JsonChild::One(node) if arrays.contains(&child_path) => {
                        Value::Array(vec![json_value(node, &child_path, arrays)])
                    }
                    JsonChild::One(node) => json_value(node, &child_path, arrays),
                    JsonChild::Many(nodes) => Value::Array(
                        nodes
                            .iter()
                            .map(|node| json_value(node, &child_path, arrays))
                            .collect(),
                    ),
                };
                map.insert(key.clone(), value);
            }
            if let Some(text) = &object.text {
                map.insert("#text".into(), Value::String(text.clone()));
            }
            Value::Object(map)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_to_xml_to_json_round_trips(node in json_node()) {
        let mut arrays = BTreeSet::new();
        array_paths(&node, "m:root", &mut arrays);
        let mut config = XmlMappingConfig::default();
        config.namespaces.insert("m".into(), "urn:m".into());
        config.arrays = arrays.iter().cloned().collect();
        // Arrays are declared by path, so some instances lack them: kept out of the round trip
        // (`[]` for missing arrays has its own tests).
        config.omit_empty_arrays = true;
        let mapping = XmlMapping::new(&config).expect("valid mapping");
        let json = json_value(&node, "m:root", &arrays).to_string();

        let mut xml = Vec::new();
        json_to_xml(json.as_bytes(), "m:root", &mapping, &mut xml).expect("writes");
        let mut back = Vec::new();
        xml_to_json(&xml, &mapping, &mut back).expect("reads");
        let original: Value = serde_json::from_str(&json).expect("JSON");
        let round_tripped: Value = serde_json::from_slice(&back).expect("output is JSON");
        prop_assert_eq!(original, round_tripped, "via {}", String::from_utf8_lossy(&xml));
    }
}

// ---------- XML → JSON → XML ----------

const URIS: [&str; 3] = ["", "urn:m", "urn:n"];
const NAMES: [&str; 3] = ["a", "b", "c"];
const ATTRIBUTES: [&str; 3] = ["x", "y", "z"];

#[derive(Debug, Clone)]
struct XmlBody {
    /// (in urn:m?, name index, value)
    attributes: BTreeMap<(bool, usize), String>,
    content: XmlContent,
    /// How the element writes its namespace: 0 default namespace, 1 prefix p, 2 prefix q.
    style: u8,
}

#[derive(Debug, Clone)]
enum XmlContent {
    Text(String),
    /// Groups of same-named children: (namespace index, name index) → occurrences.
    Children(BTreeMap<(usize, usize), Vec<XmlBody>>),
}

fn xml_body() -> impl Strategy<Value = XmlBody> {
    let attributes = prop::collection::btree_map((any::<bool>(), 0..3usize), text_strategy(), 0..3);
    let leaf =
        (attributes.clone(), text_strategy(), 0..3u8).prop_map(|(attributes, text, style)| {
            // Whitespace-only text beside attributes is dropped as indentation: avoid it.
            let text = if !attributes.is_empty() && !text.is_empty() && text.trim().is_empty() {
                format!("t{text}")
            } else {
                text
            };
            XmlBody {
                attributes,
                content: XmlContent::Text(text),
                style,
            }
        });
    leaf.prop_recursive(4, 40, 4, move |inner| {
        (
            attributes.clone(),
            prop::collection::btree_map(
                (0..3usize, 0..3usize),
                prop::collection::vec(inner, 1..3),
                0..4,
            ),
            0..3u8,
        )
            .prop_map(|(attributes, children, style)| XmlBody {
                attributes,
                content: XmlContent::Children(children),
                style,
            })
    })
}

fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// Serialises with document prefixes (`p`, `q`, default namespace) unlike the mapping's.
fn write_xml(out: &mut String, ns: usize, name: usize, body: &XmlBody, default_in_scope: usize) {
    let uri = URIS.get(ns).copied().unwrap_or_default();
    let local = NAMES.get(name).copied().unwrap_or_default();
    let (qname, declaration, default_now) = match (ns, body.style) {
        (0, _) if default_in_scope != 0 => (local.to_owned(), " xmlns=\"\"".to_owned(), 0),
        (0, _) => (local.to_owned(), String::new(), 0),
        (_, 0) => (local.to_owned(), format!(" xmlns=\"{uri}\""), ns),
        (_, style) => {
            let prefix = if style == 1 { "p" } else { "q" };
            (
                format!("{prefix}:{local}"),
                format!(" xmlns:{prefix}=\"{uri}\""),
                default_in_scope,
            )
        }
    };
    out.push_str(&format!("<{qname}{declaration}"));
    if body.attributes.keys().any(|(in_m, _)| *in_m) {
        out.push_str(" xmlns:at=\"urn:m\"");
    }
    for ((in_m, attribute), value) in &body.attributes {
        let prefix = if *in_m { "at:" } else { "" };
        let name = ATTRIBUTES.get(*attribute).copied().unwrap_or_default();
        out.push_str(&format!(" {prefix}{name}=\"{}\"", escape(value)));
    }
    out.push('>');
    match &body.content {
        XmlContent::Text(text) => out.push_str(&escape(text)),
        XmlContent::Children(groups) => {
            for ((child_ns, child_name), bodies) in groups {
                for child in bodies {
                    write_xml(out, *child_ns, *child_name, child, default_now);
                }
            }
        }
    }
    out.push_str(&format!("</{qname}>"));
}

/// The document as a list of events with namespace URIs instead of prefixes.
fn canonical(xml: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(xml).expect("UTF-8");
    let mut reader = NsReader::from_str(text);
    let mut events = Vec::new();
    let mut pending = String::new();
    let flush = |pending: &mut String, events: &mut Vec<String>| {
        if !pending.is_empty() {
            events.push(format!("text {pending:?}"));
            pending.clear();
        }
    };
    loop {
        let (resolved, event) = reader.read_resolved_event().expect("well-formed");
        let uri = match resolved {
            ResolveResult::Bound(ns) => ns.0.to_owned(),
            _ => String::new(),
        };
        let is_empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                flush(&mut pending, &mut events);
                let mut attributes = Vec::new();
                for attribute in start.attributes() {
                    let attribute = attribute.expect("attribute");
                    if attribute.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ns, local) = reader.resolver().resolve_attribute(attribute.key);
                    let ns = match ns {
                        ResolveResult::Bound(ns) => ns.0.to_owned(),
                        _ => String::new(),
                    };
                    let value = attribute
                        .normalized_value(XmlVersion::Implicit1_0)
                        .expect("value");
                    attributes.push(format!("{{{ns}}}{}={value:?}", local.as_ref()));
                }
                events.push(format!(
                    "start {{{uri}}}{} {attributes:?}",
                    start.local_name().as_ref()
                ));
                if is_empty {
                    events.push("end".into());
                }
            }
            Event::End(_) => {
                flush(&mut pending, &mut events);
                events.push("end".into());
            }
            Event::Text(text) => pending.push_str(&text.xml10_content()),
            Event::CData(data) => pending.push_str(&data.xml10_content()),
            Event::GeneralRef(reference) => {
                let c = match reference.resolve_char_ref().expect("char ref") {
                    Some(c) => c,
                    None => match &*reference {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        _ => '\'',
                    },
                };
                pending.push(c);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn xml_to_json_to_xml_keeps_order_attributes_and_namespaces(
        ns in 0..3usize,
        name in 0..3usize,
        body in xml_body(),
    ) {
        let mut xml = String::new();
        write_xml(&mut xml, ns, name, &body, 0);
        let mut config = XmlMappingConfig::default();
        config.namespaces.insert("m".into(), "urn:m".into());
        config.namespaces.insert("n".into(), "urn:n".into());
        let mapping = XmlMapping::new(&config).expect("valid mapping");

        let mut json = Vec::new();
        xml_to_json(xml.as_bytes(), &mapping, &mut json).expect("reads");
        let root = match ns {
            0 => NAMES[name].to_owned(),
            1 => format!("m:{}", NAMES[name]),
            _ => format!("n:{}", NAMES[name]),
        };
        let mut back = Vec::new();
        json_to_xml(&json, &root, &mapping, &mut back).expect("writes");
        prop_assert_eq!(
            canonical(xml.as_bytes()),
            canonical(&back),
            "JSON {}",
            String::from_utf8_lossy(&json)
        );
    }
}
