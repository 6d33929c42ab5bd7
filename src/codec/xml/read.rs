//! XML → JSON: the streaming reader loop, with the hostile-input guards built in.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;
use quick_xml::XmlVersion;

use super::encoding::decode_document;
use super::error::{shorten, XmlError};
use super::mapping::{Inner, NsRef, XmlMapping, XSI_NS};
use super::names::{first_illegal_char, is_xml_char, qname_error};
use super::options::ValueType;
use super::read_members::Converter;
use super::scalars::write_scalar;
use super::walk::Walker;

/// Converts a whole XML document to JSON, appending to `out`.
///
/// The bytes are decoded first ([`decode_document`] without a charset; call it yourself with
/// the Content-Type charset and pass its result when you have one). The JSON is the **value of
/// the root element** (its content), not `{"root": …}`; paths in the mapping still start with
/// the root's key. On error nothing is appended.
pub fn xml_to_json(xml: &[u8], mapping: &XmlMapping, out: &mut Vec<u8>) -> Result<(), XmlError> {
    let limit = mapping.limits().max_bytes;
    if xml.len() > limit {
        return Err(XmlError::TooLarge {
            limit,
            size: xml.len(),
        });
    }
    let document = decode_document(xml, None)?;
    let text = std::str::from_utf8(&document).map_err(|err| XmlError::BadEncoding {
        encoding: "UTF-8",
        offset: err.valid_up_to(),
    })?;
    let mark = out.len();
    let result = convert_document(text, mapping, out);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Reads prolog, root element and epilog through the one guarded [`Walker`], which refuses
/// anything but comments, PIs and whitespace around the root.
fn convert_document(text: &str, mapping: &XmlMapping, out: &mut Vec<u8>) -> Result<(), XmlError> {
    let mut walker = Walker::new(text, mapping.limits().max_depth)
        .with_max_attributes(mapping.limits().max_attributes);
    loop {
        let event = walker.next()?;
        match event {
            Event::Start(_) | Event::Empty(_) => {
                element_to_json(&mut walker.reader, &event, mapping, out)?;
                if matches!(event, Event::Start(_)) {
                    walker.element_consumed();
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// Converts the element of a `Start` or `Empty` event the reader just returned, appending its
/// JSON value to `out` and leaving the reader after the element's end tag.
///
/// For the SOAP layer: walk `Envelope`/`Body` with your own `NsReader` over the decoded
/// document (check events with [`guard_event`]) and hand over the payload element. Paths in the
/// mapping start with this element's key. On error nothing is appended.
pub fn element_to_json<'i>(
    reader: &mut NsReader<&'i [u8]>,
    element: &Event<'i>,
    mapping: &XmlMapping,
    out: &mut Vec<u8>,
) -> Result<(), XmlError> {
    let (start, empty) = match element {
        Event::Start(start) => (start, false),
        Event::Empty(start) => (start, true),
        _ => {
            return Err(XmlError::malformed(
                position(reader),
                "conversion must start at an element",
            ))
        }
    };
    let mark = out.len();
    // The reader stands after the tag: `<` + content + `>` (or `/>`).
    let tag_length = start.len() + if empty { 3 } else { 2 };
    let origin = position(reader).saturating_sub(tag_length);
    let mut converter = Converter::new(mapping.inner(), out);
    let result = converter.run(reader, start, empty, origin);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Checks an event outside the converted element (for callers walking a document themselves):
/// refuses DOCTYPE, undefined entities and characters XML 1.0 does not allow.
pub fn guard_event(event: &Event<'_>, offset: usize) -> Result<(), XmlError> {
    match event {
        Event::DocType(_) => Err(XmlError::DoctypeForbidden { offset }),
        Event::GeneralRef(reference) => resolve_reference(reference, offset).map(|_| ()),
        Event::Text(text) => check_chars(text, offset),
        Event::CData(data) => check_chars(data, offset),
        _ => Ok(()),
    }
}

fn position(reader: &NsReader<&[u8]>) -> usize {
    usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
}

fn error_position(reader: &NsReader<&[u8]>) -> usize {
    usize::try_from(reader.error_position()).unwrap_or(usize::MAX)
}

/// Refuses an element or attribute name that is not an XML (qualified) name: the reader takes
/// any bytes up to a space, `=`, `/` or `>` as a name, and names become JSON keys.
fn check_name(name: &str, offset: usize) -> Result<(), XmlError> {
    match qname_error(name) {
        Some(reason) => Err(XmlError::malformed(
            offset,
            format!("invalid name {:?}: {reason}", shorten(name)),
        )),
        None => Ok(()),
    }
}

fn check_chars(text: &str, offset: usize) -> Result<(), XmlError> {
    match first_illegal_char(text) {
        Some((at, code)) => Err(XmlError::IllegalChar {
            code,
            offset: offset + at,
        }),
        None => Ok(()),
    }
}

/// The replacement of an entity or character reference; only the predefined entities and
/// legal character references exist (no DTD is ever read).
fn resolve_reference(
    reference: &quick_xml::events::BytesRef<'_>,
    offset: usize,
) -> Result<char, XmlError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => Ok(c),
            Ok(Some(c)) => Err(XmlError::IllegalChar {
                code: u32::from(c),
                offset,
            }),
            Ok(None) => Err(XmlError::malformed(offset, "invalid character reference")),
            Err(err) => Err(XmlError::from_reader(err, offset)),
        };
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        name => Err(XmlError::UnknownEntity {
            name: shorten(name),
            offset,
        }),
    }
}

impl Converter<'_, '_> {
    /// Converts one element and everything inside it.
    fn run(
        &mut self,
        reader: &mut NsReader<&[u8]>,
        start: &BytesStart<'_>,
        empty: bool,
        origin: usize,
    ) -> Result<(), XmlError> {
        self.open_element(reader, start, empty, origin)?;
        let max_bytes = self.mapping.limits.max_bytes;
        while !self.frames.is_empty() {
            let offset = position(reader);
            let event = reader
                .read_event()
                .map_err(|err| XmlError::from_reader(err, error_position(reader)))?;
            let consumed = offset.saturating_sub(origin);
            if consumed > max_bytes && matches!(event, Event::Start(_) | Event::Empty(_)) {
                return Err(XmlError::TooLarge {
                    limit: max_bytes,
                    size: consumed,
                });
            }
            match event {
                Event::Start(start) => self.open_element(reader, &start, false, offset)?,
                Event::Empty(start) => self.open_element(reader, &start, true, offset)?,
                Event::End(_) => self.finish_element()?,
                Event::Text(text) => {
                    let content = text.xml10_content();
                    check_chars(&content, offset)?;
                    self.text.extend_from_slice(content.as_bytes());
                }
                Event::CData(data) => {
                    let content = data.xml10_content();
                    check_chars(&content, offset)?;
                    self.text.extend_from_slice(content.as_bytes());
                }
                Event::GeneralRef(reference) => {
                    let c = resolve_reference(&reference, offset)?;
                    let mut utf8 = [0; 4];
                    self.text
                        .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Decl(_) => {
                    return Err(XmlError::malformed(
                        offset,
                        "XML declaration inside an element",
                    ))
                }
                Event::DocType(_) => return Err(XmlError::DoctypeForbidden { offset }),
                Event::Eof => {
                    return Err(XmlError::malformed(
                        offset,
                        format!("the document ends inside element {}", self.path()),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Opens an element: resolves its name, places it in its parent, converts its attributes.
    fn open_element(
        &mut self,
        reader: &NsReader<&[u8]>,
        start: &BytesStart<'_>,
        empty: bool,
        offset: usize,
    ) -> Result<(), XmlError> {
        let limit = self.mapping.limits.max_depth;
        if self.frames.len() >= limit {
            return Err(XmlError::TooDeep {
                limit,
                at: format!("byte {offset}"),
            });
        }
        check_name(start.name().as_ref(), offset)?;
        let (resolved, local) = reader.resolver().resolve_element(start.name());
        let uri = namespace_uri(resolved, offset)?;
        let ns = self.mapping.ns_for_element_uri(uri);
        let local = local.as_ref();
        let is_root = self.frames.is_empty();
        self.element_key(ns, local, uri, is_root)?;
        // The bottom of the state stack is the trie root, the parent of the converted element.
        let parents = self
            .frames
            .last()
            .map_or(0..1, |frame| frame.states.clone());
        let states_start = self.states.len();
        if !self.mapping.paths.is_empty() {
            self.mapping
                .paths
                .step(&mut self.states, parents, ns, local);
        }
        let forced = self
            .states
            .get(states_start..)
            .unwrap_or_default()
            .iter()
            .any(|&id| self.mapping.paths.node(id).is_some_and(|node| node.array));
        let (key, index, segment_of) = if is_root {
            let key_start = self.keys.len();
            self.keys.extend_from_slice(self.key_buf.as_bytes());
            (key_start..self.keys.len(), None, None)
        } else {
            self.place_child(forced)
        };
        self.push_frame(key, index, states_start, segment_of);
        self.convert_attributes(reader, start, offset)?;
        if empty {
            self.finish_element()?;
        }
        Ok(())
    }

    /// Sets `key_buf` to the JSON key of an element. The converted element's own key is never
    /// written, so it may be in a namespace the mapping does not know.
    fn element_key(
        &mut self,
        ns: NsRef,
        local: &str,
        uri: Option<&str>,
        is_root: bool,
    ) -> Result<(), XmlError> {
        self.key_buf.clear();
        match ns {
            NsRef::Mapped(index) if !self.mapping.drop_prefixes => {
                self.key_buf.push_str(self.mapping.prefix(index));
                self.key_buf.push(':');
            }
            NsRef::Unmapped if !self.mapping.drop_prefixes && !is_root => {
                return Err(XmlError::UnmappedNamespace {
                    name: local.to_owned(),
                    uri: uri.unwrap_or_default().to_owned(),
                    at: self.path(),
                });
            }
            _ => {}
        }
        self.key_buf.push_str(local);
        Ok(())
    }

    /// Writes the attributes of the element just opened (and notes `xsi:nil`).
    fn convert_attributes(
        &mut self,
        reader: &NsReader<&[u8]>,
        start: &BytesStart<'_>,
        offset: usize,
    ) -> Result<(), XmlError> {
        let limit = self.mapping.limits.max_attributes;
        let mut count = 0;
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|err| XmlError::from_reader(err.into(), offset))?;
            check_name(attribute.key.as_ref(), offset)?;
            if attribute.key.as_namespace_binding().is_some() {
                continue;
            }
            count += 1;
            if count > limit {
                return Err(XmlError::TooManyAttributes {
                    limit,
                    element: shorten(start.name().as_ref()),
                    offset,
                });
            }
            if attribute.value.contains('<') {
                return Err(XmlError::malformed(
                    offset,
                    format!("'<' in the value of attribute {}", attribute.key.as_ref()),
                ));
            }
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| XmlError::from_reader(err, offset))?;
            check_chars(&value, offset)?;
            let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
            let ns = match namespace_uri(resolved, offset)? {
                Some(XSI_NS) => {
                    // xsi:type and schema locations are dropped; xsi:nil becomes null.
                    if local.as_ref() == "nil" {
                        self.note_nil(&value)?;
                    }
                    continue;
                }
                Some(uri) => match self.mapping.ns_for_uri(uri) {
                    NsRef::Unmapped if !self.mapping.drop_prefixes => {
                        return Err(XmlError::UnmappedNamespace {
                            name: format!("@{}", local.as_ref()),
                            uri: uri.to_owned(),
                            at: self.path(),
                        });
                    }
                    ns => ns,
                },
                None => NsRef::Unprefixed,
            };
            self.write_attribute(ns, local.as_ref(), &value)?;
        }
        self.end_attributes();
        Ok(())
    }

    fn note_nil(&mut self, value: &str) -> Result<(), XmlError> {
        let nil = match value.trim_matches([' ', '\t', '\r', '\n']) {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(XmlError::InvalidValue {
                    at: format!("{}/@xsi:nil", self.path()),
                    expected: "boolean",
                    found: shorten(other),
                })
            }
        };
        if let Some(frame) = self.frames.last_mut() {
            frame.nil = nil;
        }
        Ok(())
    }

    fn write_attribute(&mut self, ns: NsRef, local: &str, value: &str) -> Result<(), XmlError> {
        self.key_buf.clear();
        self.key_buf.push('@');
        if let NsRef::Mapped(index) = ns {
            if !self.mapping.drop_prefixes {
                self.key_buf.push_str(self.mapping.prefix(index));
                self.key_buf.push(':');
            }
        }
        self.key_buf.push_str(local);
        let value_type = self.attribute_type(ns, local);
        let key = std::mem::take(&mut self.key_buf);
        self.begin_attribute(&key);
        self.key_buf = key;
        let result = if value.is_empty() && matches!(value_type, None | Some(ValueType::String)) {
            self.out.extend_from_slice(b"\"\"");
            Ok(())
        } else {
            write_scalar(self.out, value, value_type, self.mapping)
        };
        result.map_err(|expected| XmlError::InvalidValue {
            at: format!("{}/{}", self.path(), self.key_buf),
            expected,
            found: shorten(value),
        })
    }

    fn attribute_type(&self, ns: NsRef, local: &str) -> Option<ValueType> {
        let frame = self.frames.last()?;
        let states = self.states.get(frame.states.clone())?;
        hint_for_attribute(self.mapping, states, ns, local)
    }
}

fn hint_for_attribute(
    mapping: &Inner,
    states: &[u32],
    ns: NsRef,
    local: &str,
) -> Option<ValueType> {
    states.iter().find_map(|&id| {
        mapping.paths.node(id).and_then(|node| {
            node.attributes
                .iter()
                .find(|hint| hint.ns == ns && *hint.local == *local)
                .map(|hint| hint.value_type)
        })
    })
}

/// The namespace URI of a resolved name (`None` for no namespace).
fn namespace_uri<'r>(
    resolved: ResolveResult<'r>,
    offset: usize,
) -> Result<Option<&'r str>, XmlError> {
    match resolved {
        ResolveResult::Bound(Namespace(uri)) if !uri.is_empty() => Ok(Some(uri)),
        ResolveResult::Bound(_) | ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(XmlError::UndeclaredPrefix { prefix, offset }),
    }
}
