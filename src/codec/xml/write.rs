//! JSON → XML: writes one element from JSON, children in schema order, names and characters
//! checked, namespace declarations gathered on the element written first.

use std::borrow::Cow;

use quick_xml::Writer;
use serde_json::value::RawValue;

use super::error::{shorten, XmlError};
use super::mapping::{first_value_type, Inner, NsRef, XmlMapping, XSI_INDEX};
use super::names::{first_illegal_char, split_qname};
use super::options::ValueType;
use super::paths::PathTrie;
use super::scalars::fits_type;
use super::write_json::{classify, escape_attribute, escape_text, string_content, Member, RawKind};

const DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

/// Converts a JSON value into an XML document whose root element is `root` (`prefix:name`
/// with a mapping prefix, or `name`), appending to `out` after an XML declaration.
///
/// The JSON is the root element's content (as [`xml_to_json`](super::xml_to_json) produces
/// it); paths in the mapping start with `root`. On error nothing is appended.
pub fn json_to_xml(
    json: &[u8],
    root: &str,
    mapping: &XmlMapping,
    out: &mut Vec<u8>,
) -> Result<(), XmlError> {
    let mark = out.len();
    out.extend_from_slice(DECLARATION);
    let mut writer = Writer::new(&mut *out);
    let result = write_element(&mut writer, json, root, mapping);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Writes the element `root` with the JSON as its content into an existing writer (for the
/// SOAP layer, inside `Envelope`/`Body`).
///
/// Namespace declarations for the prefixes used anywhere inside are put on this element; the
/// writer's indentation setting is not applied. On error nothing is written.
pub fn write_element<W: AsMut<Vec<u8>>>(
    writer: &mut Writer<W>,
    json: &[u8],
    root: &str,
    mapping: &XmlMapping,
) -> Result<(), XmlError> {
    let out = writer.get_mut().as_mut();
    let mark = out.len();
    let result = Emitter::new(mapping.inner(), out).run(json, root);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// State of one JSON → XML conversion.
pub(super) struct Emitter<'m, 'o, 'de> {
    pub(super) mapping: &'m Inner,
    pub(super) out: &'o mut Vec<u8>,
    pub(super) members: Vec<Member<'de>>,
    pub(super) items: Vec<&'de RawValue>,
    /// Path-trie states; the bottom entry is the trie root.
    pub(super) states: Vec<u32>,
    /// JSON key path for error messages.
    pub(super) path: Vec<(Cow<'de, str>, Option<usize>)>,
    /// Mapped namespaces used (bit = index), and whether the default namespace is.
    pub(super) used: u64,
    pub(super) default_used: bool,
}

/// The element being written: its name, namespace and path states.
#[derive(Clone, Copy)]
pub(super) struct Element<'k> {
    pub(super) name: &'k str,
    pub(super) ns: NsRef,
    pub(super) states: (usize, usize),
    pub(super) depth: usize,
}

impl<'m, 'o, 'de> Emitter<'m, 'o, 'de> {
    fn new(mapping: &'m Inner, out: &'o mut Vec<u8>) -> Self {
        Self {
            mapping,
            out,
            members: Vec::with_capacity(32),
            items: Vec::new(),
            states: vec![PathTrie::ROOT],
            path: Vec::with_capacity(16),
            used: 0,
            default_used: false,
        }
    }

    fn run(mut self, json: &'de [u8], root: &'de str) -> Result<(), XmlError> {
        let limit = self.mapping.limits.max_bytes;
        if json.len() > limit {
            return Err(XmlError::TooLarge {
                limit,
                size: json.len(),
            });
        }
        let text = std::str::from_utf8(json)
            .map_err(|err| XmlError::Json(format!("not UTF-8 at byte {}", err.valid_up_to())))?;
        let invalid_root = |reason| XmlError::InvalidRoot {
            name: shorten(root),
            reason,
        };
        let (prefix, local) = split_qname(root).map_err(invalid_root)?;
        let ns = self
            .mapping
            .ns_for_prefix(prefix)
            .ok_or_else(|| invalid_root("its prefix is not declared in the mapping"))?;
        let declarations_at = self.out.len() + 1 + root.len();
        self.path.push((Cow::Borrowed(root), None));
        let states = self.child_states((0, 1), ns, local);
        let element = Element {
            name: root,
            ns,
            states,
            depth: 1,
        };
        if text.trim_start().starts_with('{') {
            // Objects are read straight from the input: one pass fewer than via a raw value.
            self.note_namespace(ns);
            self.write_object(element, text)?;
        } else {
            let value: &'de RawValue =
                serde_json::from_str(text).map_err(|err| XmlError::Json(err.to_string()))?;
            if classify(value).0 == RawKind::Array {
                return Err(XmlError::Unrepresentable {
                    at: shorten(root),
                    reason: "the root element's value cannot be an array",
                });
            }
            self.write_value(element, value)?;
        }
        self.insert_declarations(declarations_at);
        Ok(())
    }

    /// Appends the trie states of child `(ns, local)` of the states `parent`; returns their range.
    pub(super) fn child_states(
        &mut self,
        parent: (usize, usize),
        ns: NsRef,
        local: &str,
    ) -> (usize, usize) {
        let start = self.states.len();
        if !self.mapping.paths.is_empty() {
            self.mapping
                .paths
                .step(&mut self.states, parent.0..parent.1, ns, local);
        }
        (start, self.states.len())
    }

    pub(super) fn states_of(&self, element: Element<'_>) -> &[u32] {
        self.states
            .get(element.states.0..element.states.1)
            .unwrap_or_default()
    }

    pub(super) fn path(&self) -> String {
        let mut path = String::new();
        for (key, index) in &self.path {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(key);
            if let Some(index) = index {
                path.push_str(&format!("[{index}]"));
            }
        }
        path
    }

    pub(super) fn note_namespace(&mut self, ns: NsRef) {
        match ns {
            NsRef::Mapped(index) => self.used |= 1u64 << (index % 64),
            NsRef::Unprefixed => self.default_used = true,
            NsRef::Unmapped => {}
        }
    }

    /// Writes one element whose value is any JSON value but an array.
    pub(super) fn write_value(
        &mut self,
        element: Element<'_>,
        value: &'de RawValue,
    ) -> Result<(), XmlError> {
        self.note_namespace(element.ns);
        let (kind, text) = classify(value);
        match kind {
            RawKind::Object => self.write_object(element, text),
            RawKind::Array => Err(XmlError::Unrepresentable {
                at: self.path(),
                reason: "an array inside an array has no XML form",
            }),
            RawKind::Null => {
                self.start_tag(element.name);
                self.write_nil();
                self.out.extend_from_slice(b"/>");
                Ok(())
            }
            RawKind::String | RawKind::Literal => {
                let content = self.scalar_text(kind, text)?;
                // The element's own key names the value for the client.
                self.check_text(&content, element, element.name)?;
                self.start_tag(element.name);
                if content.is_empty() {
                    self.out.extend_from_slice(b"/>");
                } else {
                    self.out.push(b'>');
                    escape_text(self.out, &content);
                    self.end_tag(element.name);
                }
                Ok(())
            }
        }
    }

    pub(super) fn start_tag(&mut self, name: &str) {
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
    }

    pub(super) fn end_tag(&mut self, name: &str) {
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'>');
    }

    pub(super) fn write_nil(&mut self) {
        self.used |= 1u64 << XSI_INDEX;
        self.out.extend_from_slice(b" xsi:nil=\"true\"");
    }

    /// The XML text of a JSON string, number or boolean.
    pub(super) fn scalar_text(
        &self,
        kind: RawKind,
        text: &'de str,
    ) -> Result<Cow<'de, str>, XmlError> {
        match kind {
            RawKind::String => string_content(text)
                .map_err(|err| XmlError::Json(format!("{err} at {}", self.path()))),
            _ => Ok(Cow::Borrowed(text)),
        }
    }

    /// A JSON syntax error found below the current path.
    pub(super) fn json_error(&self, err: &serde_json::Error) -> XmlError {
        XmlError::Json(format!("{err} at {}", self.path()))
    }

    /// Checks a value's characters and, with a type hint, its lexical form.
    pub(super) fn check_text(
        &self,
        text: &str,
        element: Element<'_>,
        key: &str,
    ) -> Result<(), XmlError> {
        self.check_typed(
            text,
            first_value_type(&self.mapping.paths, self.states_of(element)),
        )?;
        self.check_chars(text, key)
    }

    pub(super) fn check_typed(
        &self,
        text: &str,
        value_type: Option<ValueType>,
    ) -> Result<(), XmlError> {
        match value_type {
            Some(value_type) if !text.is_empty() && !fits_type(value_type, text) => {
                Err(XmlError::InvalidValue {
                    at: self.path(),
                    expected: value_type.name(),
                    found: shorten(text),
                })
            }
            _ => Ok(()),
        }
    }

    pub(super) fn check_chars(&self, text: &str, key: &str) -> Result<(), XmlError> {
        match first_illegal_char(text) {
            Some((_, code)) => Err(XmlError::InvalidChar {
                key: shorten(key),
                at: self.path(),
                code,
            }),
            None => Ok(()),
        }
    }

    /// Inserts the namespace declarations of everything written into the first element's tag.
    fn insert_declarations(&mut self, at: usize) {
        let mut declarations = Vec::new();
        if self.default_used {
            if let Some(uri) = &self.mapping.default_namespace {
                declarations.extend_from_slice(b" xmlns=\"");
                escape_attribute(&mut declarations, uri);
                declarations.push(b'"');
            }
        }
        // The mapping's own namespaces in declaration order, then `xsi`.
        let indexes = (0..self.mapping.namespace_count())
            .filter_map(|index| u8::try_from(index).ok())
            .filter(|&index| index != XSI_INDEX)
            .chain([XSI_INDEX]);
        for index in indexes {
            if self.used & (1u64 << (index % 64)) == 0 || Inner::is_predeclared(index) {
                continue;
            }
            declarations.extend_from_slice(b" xmlns:");
            declarations.extend_from_slice(self.mapping.prefix(index).as_bytes());
            declarations.extend_from_slice(b"=\"");
            escape_attribute(&mut declarations, self.mapping.uri(index));
            declarations.push(b'"');
        }
        if !declarations.is_empty() && at <= self.out.len() {
            drop(self.out.splice(at..at, declarations));
        }
    }
}
