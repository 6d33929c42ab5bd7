//! A namespace-aware XML tree for the demo's SOAP service and the tests: elements by namespace
//! URI and local name (prefixes and `xmlns` attributes forgotten), attributes sorted,
//! whitespace-only text dropped. Two documents that mean the same compare equal.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

/// An element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub namespace: Option<String>,
    pub name: String,
    /// `(namespace, local name)` → value.
    pub attributes: BTreeMap<(Option<String>, String), String>,
    pub children: Vec<Element>,
    /// The concatenated text, unless it is only whitespace.
    pub text: String,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at a path of local names below this one.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter()
            .try_fold(self, |element, name| element.child(name))
    }

    /// The text at a path of local names (`""` when absent).
    pub fn text_at(&self, path: &[&str]) -> String {
        self.at(path).map(|e| e.text.clone()).unwrap_or_default()
    }

    /// An un-prefixed attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(&(None, name.to_owned()))
            .map(String::as_str)
    }
}

/// Parses a document (UTF-8) into its root element.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let (resolved, local) = reader.resolver().resolve_element(start.name());
                let namespace = namespace(resolved)?;
                let mut attributes = BTreeMap::new();
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|e| e.to_string())?;
                    if attribute.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
                    let value = attribute
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| e.to_string())?;
                    attributes.insert(
                        (namespace_of(resolved)?, local.as_ref().to_owned()),
                        value.into_owned(),
                    );
                }
                let element = Element {
                    namespace,
                    name: local.as_ref().to_owned(),
                    attributes,
                    children: Vec::new(),
                    text: String::new(),
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(element);
                } else if let Some(parent) = stack.last_mut() {
                    parent.children.push(element);
                } else {
                    return Ok(element);
                }
            }
            Event::End(_) => {
                let mut element = stack.pop().ok_or("unbalanced end tag")?;
                if element.text.trim().is_empty() {
                    element.text.clear();
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::Text(text) => {
                if let Some(element) = stack.last_mut() {
                    element.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(element) = stack.last_mut() {
                    element.text.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let c = if reference.is_char_ref() {
                    reference
                        .resolve_char_ref()
                        .map_err(|e| e.to_string())?
                        .ok_or("bad reference")?
                } else {
                    match &*reference {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(format!("undefined entity {other}")),
                    }
                };
                if let Some(element) = stack.last_mut() {
                    element.text.push(c);
                }
            }
            Event::Eof => return Err("the document ends early".into()),
            _ => {}
        }
    }
}

fn namespace(resolved: ResolveResult<'_>) -> Result<Option<String>, String> {
    namespace_of(resolved)
}

fn namespace_of(resolved: ResolveResult<'_>) -> Result<Option<String>, String> {
    match resolved {
        ResolveResult::Bound(Namespace(uri)) if !uri.is_empty() => Ok(Some(uri.to_owned())),
        ResolveResult::Bound(_) | ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(format!("undeclared prefix {prefix}")),
    }
}

/// Escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
