//! JSON → XML for objects: a JSON object's members become attributes, text and child elements
//! (in schema order), arrays become repeated elements.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::DeserializeSeed;
use serde_json::value::RawValue;

use super::error::{shorten, XmlError};
use super::mapping::{Inner, NsRef};
use super::names::split_qname;
use super::options::{UnknownChildren, ValueType};
use super::paths::ElementName;
use super::write::{Element, Emitter};
use super::write_json::{
    classify, escape_attribute, escape_text, is_empty_array, parse_into, ItemsSeed, KeyKind,
    MembersSeed, RawKind,
};

/// Objects with more keys than this are checked for duplicates through a hash set.
const LINEAR_DUPLICATE_LIMIT: usize = 32;

impl<'m, 'de> Emitter<'m, '_, 'de> {
    /// Writes an element whose value is the JSON object `text`.
    pub(super) fn write_object(
        &mut self,
        element: Element<'_>,
        text: &'de str,
    ) -> Result<(), XmlError> {
        let start = self.members.len();
        let mut deserializer = serde_json::Deserializer::from_str(text);
        MembersSeed(&mut self.members)
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .map_err(|err| self.json_error(&err))?;
        let result = self.write_members(element, start);
        self.members.truncate(start);
        result
    }

    fn write_members(&mut self, element: Element<'_>, start: usize) -> Result<(), XmlError> {
        let order = self.order_of(element);
        self.classify_members(start, order)?;
        self.start_tag(element.name);
        let mut text = None;
        let mut nil = false;
        let mut has_children = false;
        for index in start..self.members.len() {
            let Some(member) = self.members.get(index) else {
                break;
            };
            let (kind, raw) = classify(member.value);
            match member.kind {
                KeyKind::Attribute => self.write_attribute(element, index)?,
                KeyKind::Text => match kind {
                    RawKind::Null => nil = true,
                    RawKind::String | RawKind::Literal => {
                        let content = self.scalar_text(kind, raw)?;
                        self.check_text(&content, element, "#text")?;
                        text = Some(content).filter(|t| !t.is_empty());
                    }
                    RawKind::Object | RawKind::Array => {
                        return Err(XmlError::Unrepresentable {
                            at: self.path(),
                            reason: "#text must be a string, number, boolean or null",
                        })
                    }
                },
                KeyKind::Element => {
                    has_children |= !(kind == RawKind::Array && is_empty_array(raw))
                }
            }
        }
        if nil {
            if text.is_some() || has_children {
                return Err(XmlError::Unrepresentable {
                    at: self.path(),
                    reason: "#text is null (xsi:nil) but the element has content",
                });
            }
            self.write_nil();
        }
        if text.is_none() && !has_children {
            self.out.extend_from_slice(b"/>");
            return Ok(());
        }
        self.out.push(b'>');
        if let Some(text) = text {
            escape_text(self.out, &text);
        }
        self.write_children(element, start)?;
        self.end_tag(element.name);
        Ok(())
    }

    /// The `order` entry (schema child list) of an element, if the mapping has one.
    fn order_of(&self, element: Element<'_>) -> Option<&'m [ElementName]> {
        let mapping: &'m Inner = self.mapping;
        self.states_of(element).iter().find_map(|&id| {
            mapping
                .paths
                .node(id)
                .and_then(|node| node.order.as_deref())
        })
    }

    /// Resolves and checks the keys of the object's members. An un-prefixed child key that the
    /// element's `order` entry lists only in another namespace takes that namespace, so JSON
    /// written with `drop_prefixes` converts back.
    fn classify_members(
        &mut self,
        start: usize,
        order: Option<&'m [ElementName]>,
    ) -> Result<(), XmlError> {
        for index in start..self.members.len() {
            let Some(member) = self.members.get(index) else {
                break;
            };
            let (kind, name) = if member.key == "#text" {
                (KeyKind::Text, None)
            } else if let Some(name) = member.key.strip_prefix('@') {
                (KeyKind::Attribute, Some(name))
            } else {
                (KeyKind::Element, Some(&*member.key))
            };
            let mut resolved = (NsRef::Unprefixed, 0);
            let mut rename = None;
            if let Some(name) = name {
                let invalid = |reason| XmlError::InvalidName {
                    key: shorten(&member.key),
                    at: self.path(),
                    reason,
                };
                if name.starts_with('#') {
                    return Err(invalid("only #text may start with '#'"));
                }
                let (prefix, local) = split_qname(name).map_err(invalid)?;
                if kind == KeyKind::Attribute && prefix == "xsi" && local == "nil" {
                    return Err(invalid("write null (or \"#text\": null) for xsi:nil"));
                }
                let ns =
                    self.mapping
                        .ns_for_prefix(prefix)
                        .ok_or_else(|| XmlError::UnknownPrefix {
                            key: shorten(&member.key),
                            prefix: prefix.to_owned(),
                            at: self.path(),
                        })?;
                let skip = usize::from(kind == KeyKind::Attribute);
                let local_at = skip
                    + if prefix.is_empty() {
                        0
                    } else {
                        prefix.len() + 1
                    };
                resolved = (ns, local_at);
                if kind == KeyKind::Element && ns == NsRef::Unprefixed {
                    if let Some((index, prefix)) = self.schema_namespace(order, local) {
                        rename = Some(format!("{prefix}:{local}"));
                        resolved = (NsRef::Mapped(index), prefix.len() + 1);
                    }
                }
            }
            if let Some(member) = self.members.get_mut(index) {
                member.kind = kind;
                member.ns = resolved.0;
                member.local_at = resolved.1;
                if let Some(qualified) = rename {
                    member.key = Cow::Owned(qualified);
                }
            }
        }
        self.check_duplicates(start)
    }

    /// The one namespace other than the un-prefixed one in which `order` lists `local`.
    fn schema_namespace(
        &self,
        order: Option<&'m [ElementName]>,
        local: &str,
    ) -> Option<(u8, &'m str)> {
        let order = order?;
        if order
            .iter()
            .any(|n| n.ns == NsRef::Unprefixed && *n.local == *local)
        {
            return None;
        }
        let mut listed = order.iter().filter(|n| *n.local == *local);
        match (listed.next(), listed.next()) {
            (
                Some(ElementName {
                    ns: NsRef::Mapped(index),
                    ..
                }),
                None,
            ) => {
                let mapping: &'m Inner = self.mapping;
                Some((*index, mapping.prefix(*index)))
            }
            _ => None,
        }
    }

    fn check_duplicates(&self, start: usize) -> Result<(), XmlError> {
        let members = self.members.get(start..).unwrap_or_default();
        let duplicate = if members.len() <= LINEAR_DUPLICATE_LIMIT {
            members
                .iter()
                .enumerate()
                .find(|(i, m)| members.iter().take(*i).any(|other| other.key == m.key))
                .map(|(_, m)| m)
        } else {
            let mut seen = HashSet::with_capacity(members.len());
            members.iter().find(|m| !seen.insert(&*m.key))
        };
        match duplicate {
            Some(member) => Err(XmlError::DuplicateKey {
                key: shorten(&member.key),
                at: self.path(),
            }),
            None => Ok(()),
        }
    }

    fn write_attribute(&mut self, element: Element<'_>, index: usize) -> Result<(), XmlError> {
        let Some(member) = self.members.get(index) else {
            return Ok(());
        };
        let (kind, raw) = classify(member.value);
        let (ns, key) = (member.ns, member.key.clone());
        let hint = self.attribute_hint(element, ns, member.local());
        let content = match kind {
            RawKind::Null => return Ok(()),
            RawKind::Object | RawKind::Array => {
                return Err(XmlError::Unrepresentable {
                    at: format!("{}/{key}", self.path()),
                    reason: "an attribute value must be a string, number or boolean",
                })
            }
            _ => self.scalar_text(kind, raw)?,
        };
        self.check_typed(&content, hint).map_err(|err| match err {
            XmlError::InvalidValue {
                expected, found, ..
            } => XmlError::InvalidValue {
                at: format!("{}/{key}", self.path()),
                expected,
                found,
            },
            other => other,
        })?;
        self.check_chars(&content, &key)?;
        self.note_namespace_of_attribute(ns);
        self.out.push(b' ');
        self.out
            .extend_from_slice(key.get(1..).unwrap_or_default().as_bytes());
        self.out.extend_from_slice(b"=\"");
        escape_attribute(self.out, &content);
        self.out.push(b'"');
        Ok(())
    }

    /// Un-prefixed attributes are in no namespace, so only prefixed ones need a declaration.
    fn note_namespace_of_attribute(&mut self, ns: NsRef) {
        if let NsRef::Mapped(_) = ns {
            self.note_namespace(ns);
        }
    }

    fn attribute_hint(&self, element: Element<'_>, ns: NsRef, local: &str) -> Option<ValueType> {
        self.states_of(element).iter().find_map(|&id| {
            self.mapping.paths.node(id).and_then(|node| {
                node.attributes
                    .iter()
                    .find(|hint| hint.ns == ns && *hint.local == *local)
                    .map(|hint| hint.value_type)
            })
        })
    }

    /// Writes the child elements: first those the `order` entry lists, in its order, then the
    /// rest in JSON order (or refuses them).
    fn write_children(&mut self, element: Element<'_>, start: usize) -> Result<(), XmlError> {
        let order = self.order_of(element);
        if let Some(order) = order {
            for name in order {
                let found = (start..self.members.len()).find(|&i| {
                    self.members.get(i).is_some_and(|m| {
                        m.kind == KeyKind::Element && m.ns == name.ns && m.local() == &*name.local
                    })
                });
                if let Some(index) = found {
                    self.write_child(element, index)?;
                }
            }
        }
        for index in start..self.members.len() {
            let Some(member) = self.members.get(index) else {
                break;
            };
            if member.kind != KeyKind::Element || member.placed {
                continue;
            }
            if order.is_some() && self.mapping.unknown_children == UnknownChildren::Reject {
                return Err(XmlError::UnknownChild {
                    key: shorten(&member.key),
                    at: self.path(),
                });
            }
            self.write_child(element, index)?;
        }
        Ok(())
    }

    /// Writes one member as child element(s): an array becomes repeated elements.
    fn write_child(&mut self, parent: Element<'_>, index: usize) -> Result<(), XmlError> {
        let Some(member) = self.members.get_mut(index) else {
            return Ok(());
        };
        member.placed = true;
        let (key, ns, value) = (member.key.clone(), member.ns, member.value);
        let local_at = member.local_at;
        let depth = parent.depth + 1;
        let limit = self.mapping.limits.max_depth;
        self.path.push((key.clone(), None));
        if depth > limit {
            return Err(XmlError::TooDeep {
                limit,
                at: self.path(),
            });
        }
        let local = key.get(local_at..).unwrap_or_default();
        let states = self.child_states(parent.states, ns, local);
        let element = Element {
            name: &key,
            ns,
            states,
            depth,
        };
        let result = if classify(value).0 == RawKind::Array {
            self.write_items(element, value)
        } else {
            self.write_value(element, value)
        };
        self.states.truncate(states.0);
        self.path.pop();
        result
    }

    fn write_items(&mut self, element: Element<'_>, value: &'de RawValue) -> Result<(), XmlError> {
        let start = self.items.len();
        parse_into(value, ItemsSeed(&mut self.items)).map_err(|err| self.json_error(&err))?;
        let mut result = Ok(());
        for index in start..self.items.len() {
            let Some(&item) = self.items.get(index) else {
                break;
            };
            if let Some(last) = self.path.last_mut() {
                last.1 = Some(index - start);
            }
            result = self.write_value(element, item);
            if result.is_err() {
                break;
            }
        }
        self.items.truncate(start);
        result
    }
}
