//! A small element tree for WSDL and XSD files (they are small and read once): namespace URIs,
//! attributes, the prefixes in scope (to resolve QName-valued attributes such as
//! `type="t:Item"`), read with the same hostile-input guards as any XML polygate reads.

use std::collections::BTreeMap;
use std::rc::Rc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::XmlVersion;

use crate::codec::xml::walk::Walker;

/// The XML Schema namespace.
pub(crate) const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// Deepest nesting read in a WSDL or XSD file.
const MAX_DEPTH: usize = 128;

/// Prefix → namespace URI in scope at an element (`""` is the default namespace).
pub(crate) type Scope = Rc<BTreeMap<String, String>>;

/// One element of a WSDL or XSD document.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) namespace: Option<String>,
    pub(crate) local: String,
    attributes: Vec<(String, String)>,
    pub(crate) scope: Scope,
    pub(crate) children: Vec<Node>,
}

/// A resolved QName: namespace URI and local name.
pub(crate) type QName = (Option<String>, String);

impl Node {
    /// The value of an un-prefixed attribute.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A QName-valued attribute resolved against the prefixes in scope (an un-prefixed value
    /// takes the default namespace); `Err` names an undeclared prefix.
    pub(crate) fn qname_attr(&self, name: &str) -> Result<Option<QName>, String> {
        let Some(value) = self.attr(name) else {
            return Ok(None);
        };
        let value = value.trim();
        let (prefix, local) = value.split_once(':').unwrap_or(("", value));
        let namespace = match self.scope.get(prefix) {
            Some(uri) if !uri.is_empty() => Some(uri.clone()),
            Some(_) | None if prefix.is_empty() => None,
            _ => {
                return Err(format!(
                    "<{}> {name}=\"{value}\": prefix '{prefix}' is not declared",
                    self.local
                ))
            }
        };
        Ok(Some((namespace, local.to_owned())))
    }

    /// Whether this element is `local` in namespace `namespace`.
    pub(crate) fn is(&self, namespace: &str, local: &str) -> bool {
        self.local == local && self.namespace.as_deref() == Some(namespace)
    }

    /// The children named `local` in `namespace`.
    pub(crate) fn children_named<'a>(
        &'a self,
        namespace: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.is(namespace, local))
    }

    /// The first child named `local` in `namespace`.
    pub(crate) fn child(&self, namespace: &str, local: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.is(namespace, local))
    }
}

/// Parses a document into its root element.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let mut walker = Walker::new(text, MAX_DEPTH);
    let mut scopes: Vec<Scope> = vec![Rc::new(BTreeMap::new())];
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    loop {
        let offset = walker.position();
        let event = walker.next().map_err(|e| e.to_string())?;
        match &event {
            Event::Start(start) | Event::Empty(start) => {
                let parent_scope = scopes.last().cloned().unwrap_or_default();
                let (scope, attributes) = read_attributes(start, &parent_scope, offset)?;
                let (namespace, local) =
                    walker.name_of(&event, offset).map_err(|e| e.to_string())?;
                let node = Node {
                    namespace,
                    local,
                    attributes,
                    scope: scope.clone(),
                    children: Vec::new(),
                };
                if matches!(event, Event::Start(_)) {
                    scopes.push(scope);
                    stack.push(node);
                } else {
                    attach(node, &mut stack, &mut root);
                }
            }
            Event::End(_) => {
                scopes.pop();
                if let Some(node) = stack.pop() {
                    attach(node, &mut stack, &mut root);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.ok_or_else(|| "the document has no root element".to_owned())
}

fn attach(node: Node, stack: &mut [Node], root: &mut Option<Node>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

/// The element's scope (with its own `xmlns` declarations) and its other attributes.
fn read_attributes(
    start: &BytesStart<'_>,
    parent: &Scope,
    offset: usize,
) -> Result<(Scope, Vec<(String, String)>), String> {
    let mut declarations = Vec::new();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute =
            attribute.map_err(|e| format!("malformed attribute at byte {offset}: {e}"))?;
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| format!("attribute value at byte {offset}: {e}"))?
            .into_owned();
        let key = attribute.key.as_ref().to_owned();
        if key == "xmlns" {
            declarations.push((String::new(), value));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            declarations.push((prefix.to_owned(), value));
        } else {
            attributes.push((key, value));
        }
    }
    let scope = if declarations.is_empty() {
        parent.clone()
    } else {
        let mut scope = parent.as_ref().clone();
        scope.extend(declarations);
        Rc::new(scope)
    };
    Ok((scope, attributes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qname_attributes_resolve_against_the_scope() {
        let root = parse(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t"><xs:element name="a" type="t:Item"/><xs:element name="b" type="q:X"/></xs:schema>"#,
        )
        .unwrap();
        assert!(root.is(XSD_NS, "schema"));
        let elements: Vec<&Node> = root.children_named(XSD_NS, "element").collect();
        assert_eq!(elements[0].attr("name"), Some("a"));
        assert_eq!(
            elements[0].qname_attr("type"),
            Ok(Some((Some("urn:t".to_owned()), "Item".to_owned())))
        );
        assert_eq!(
            elements[1].qname_attr("type"),
            Err("<element> type=\"q:X\": prefix 'q' is not declared".to_owned())
        );
        assert!(parse("<!DOCTYPE x><x/>").is_err());
    }
}
