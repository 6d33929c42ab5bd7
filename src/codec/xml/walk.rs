//! The one guarded event walker every XML reader of polygate goes through (the JSON ⇄ XML
//! engine's documents, SOAP envelopes, request templates, WSDL files): the hostile-input
//! checks plus document structure (one root, nothing but whitespace, comments and PIs around
//! it, bounded depth, closed at the end).

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

use super::{guard_event, XmlError};

/// Reads one document event by event, refusing what the XML engine refuses.
pub(crate) struct Walker<'i> {
    pub(crate) reader: NsReader<&'i [u8]>,
    depth: usize,
    max_depth: usize,
    max_attributes: usize,
    seen_root: bool,
    first: bool,
}

/// A resolved element name: namespace URI (`None` for none) and local name.
pub(crate) type ElementName = (Option<String>, String);

impl<'i> Walker<'i> {
    /// A walker over a UTF-8 document.
    pub(crate) fn new(document: &'i str, max_depth: usize) -> Self {
        Self {
            reader: NsReader::from_str(document),
            depth: 0,
            max_depth,
            max_attributes: super::XmlLimits::default().max_attributes,
            seen_root: false,
            first: true,
        }
    }

    /// The same walker refusing elements with more than `limit` attributes (namespace
    /// declarations aside, which quick-xml bounds); default 256.
    pub(crate) fn with_max_attributes(mut self, limit: usize) -> Self {
        self.max_attributes = limit;
        self
    }

    /// The reader's position in bytes.
    pub(crate) fn position(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    /// Notes that the caller consumed the element it was handed up to its end tag.
    pub(crate) fn element_consumed(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// The next event, checked.
    pub(crate) fn next(&mut self) -> Result<Event<'i>, XmlError> {
        let offset = self.position();
        let event = self.reader.read_event().map_err(|err| {
            let at = usize::try_from(self.reader.error_position()).unwrap_or(offset);
            XmlError::from_reader(err, at)
        })?;
        guard_event(&event, offset)?;
        let first = std::mem::replace(&mut self.first, false);
        match &event {
            Event::Decl(_) if first => {}
            Event::Decl(_) => {
                return Err(XmlError::malformed(
                    offset,
                    "the XML declaration must be at the very start of the document",
                ))
            }
            Event::Start(_) | Event::Empty(_) => {
                if self.depth == 0 {
                    if self.seen_root {
                        return Err(XmlError::malformed(offset, "a second root element"));
                    }
                    self.seen_root = true;
                }
                // An empty element is one level deeper too, as the engine counts it.
                if self.depth + 1 > self.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: self.max_depth,
                        at: format!("byte {offset}"),
                    });
                }
                if matches!(event, Event::Start(_)) {
                    self.depth += 1;
                }
                self.check_attributes(&event, offset)?;
                self.name_of(&event, offset)?;
            }
            Event::End(_) => {
                if self.depth == 0 {
                    return Err(XmlError::malformed(offset, "end tag without start tag"));
                }
                self.depth -= 1;
            }
            Event::Text(text) if self.depth == 0 && !is_whitespace(text.as_bytes()) => {
                return Err(self.text_outside_root(offset))
            }
            Event::CData(_) | Event::GeneralRef(_) if self.depth == 0 => {
                return Err(self.text_outside_root(offset))
            }
            Event::Eof if self.depth > 0 => {
                return Err(XmlError::malformed(
                    offset,
                    "the document ends inside an element",
                ))
            }
            Event::Eof if !self.seen_root => {
                return Err(XmlError::malformed(
                    offset,
                    "the document has no root element",
                ))
            }
            _ => {}
        }
        Ok(event)
    }

    /// Counts an element's attributes up to one past the limit, without the duplicate check
    /// (quadratic in the count; the readers that use the attributes check them).
    fn check_attributes(&self, event: &Event<'i>, offset: usize) -> Result<(), XmlError> {
        let (Event::Start(start) | Event::Empty(start)) = event else {
            return Ok(());
        };
        let count = start
            .attributes()
            .with_checks(false)
            .filter(|a| {
                a.as_ref()
                    .map_or(true, |a| a.key.as_namespace_binding().is_none())
            })
            .take(self.max_attributes.saturating_add(1))
            .count();
        if count > self.max_attributes {
            let name = start.name();
            return Err(XmlError::TooManyAttributes {
                limit: self.max_attributes,
                element: name.into_inner().chars().take(64).collect(),
                offset,
            });
        }
        Ok(())
    }

    fn text_outside_root(&self, offset: usize) -> XmlError {
        let place = if self.seen_root { "after" } else { "before" };
        XmlError::malformed(offset, format!("text {place} the root element"))
    }

    /// The namespace URI and local name of a `Start` or `Empty` event the walker just returned.
    pub(crate) fn name_of(
        &self,
        event: &Event<'i>,
        offset: usize,
    ) -> Result<ElementName, XmlError> {
        let (Event::Start(start) | Event::Empty(start)) = event else {
            return Err(XmlError::malformed(offset, "expected an element"));
        };
        let name = start.name();
        let (resolved, _) = self.reader.resolver().resolve_element(name);
        let uri = match resolved {
            ResolveResult::Bound(Namespace(uri)) if !uri.is_empty() => Some(uri.to_owned()),
            ResolveResult::Bound(_) | ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => {
                return Err(XmlError::UndeclaredPrefix { prefix, offset })
            }
        };
        let qname = name.into_inner();
        let local = qname.split_once(':').map_or(qname, |(_, local)| local);
        Ok((uri, local.to_owned()))
    }

    /// Skips the content of an element whose `Start` event was just returned, up to its end tag.
    pub(crate) fn skip_element(&mut self) -> Result<(), XmlError> {
        let target = self.depth.saturating_sub(1);
        while self.depth > target {
            if let Event::Eof = self.next()? {
                break;
            }
        }
        Ok(())
    }

    /// Reads the rest of the document, checking every event, up to its end.
    pub(crate) fn finish(&mut self) -> Result<(), XmlError> {
        loop {
            if let Event::Eof = self.next()? {
                return Ok(());
            }
        }
    }
}

fn is_whitespace(text: &[u8]) -> bool {
    text.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(document: &str) -> Result<usize, String> {
        let mut walker = Walker::new(document, 3);
        let mut events = 0;
        loop {
            match walker.next().map_err(|e| e.to_string())? {
                Event::Eof => return Ok(events),
                _ => events += 1,
            }
        }
    }

    #[test]
    fn well_formed_documents_walk_to_the_end() {
        assert_eq!(
            walk("<?xml version=\"1.0\"?>\n<a><b/>x<!--c--></a>\n"),
            Ok(8)
        );
    }

    #[test]
    fn structure_and_hostile_markup_are_refused() {
        for (document, expected) in [
            ("<a><b>", "malformed XML at byte 6: the document ends inside an element"),
            ("<a/><b/>", "malformed XML at byte 4: a second root element"),
            ("junk<a/>", "malformed XML at byte 0: text before the root element"),
            ("<a/>junk", "malformed XML at byte 4: text after the root element"),
            ("", "malformed XML at byte 0: the document has no root element"),
            ("<p:a/>", "namespace prefix 'p' is not declared (at byte 0)"),
            ("<a><b><c><d/></c></b></a>", "nesting deeper than the limit of 3 levels at byte 9"),
            ("<!DOCTYPE a><a/>", "XML document type declarations (DOCTYPE) are not allowed (at byte 0)"),
            ("<a>&nbsp;</a>", "undefined entity &nbsp; at byte 3 (only &lt; &gt; &amp; &apos; &quot; and character references are allowed)"),
        ] {
            assert_eq!(walk(document), Err(expected.to_owned()), "{document}");
        }
    }
}
