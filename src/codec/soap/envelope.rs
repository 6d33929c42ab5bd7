//! SOAP envelopes: the two versions' namespaces and media types, and a reader that walks a
//! decoded envelope to the first element of its `Body` (skipping the `Header`) with every
//! hostile-input guard, for the SOAP backend (faults) and the SOAP route plan (answers).

use quick_xml::events::Event;
use quick_xml::reader::NsReader;
use serde::Deserialize;

use crate::codec::xml::walk::Walker;
use crate::codec::xml::{XmlError, XmlLimits};

/// The SOAP 1.1 envelope namespace.
pub const SOAP11_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace.
pub const SOAP12_ENVELOPE_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// A SOAP version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum SoapVersion {
    /// SOAP 1.1: `text/xml` and a `SOAPAction` header (the default).
    #[default]
    #[serde(rename = "1.1")]
    V11,
    /// SOAP 1.2: `application/soap+xml` with an `action` parameter.
    #[serde(rename = "1.2")]
    V12,
}

impl SoapVersion {
    /// The envelope namespace of this version.
    pub fn envelope_ns(self) -> &'static str {
        match self {
            SoapVersion::V11 => SOAP11_ENVELOPE_NS,
            SoapVersion::V12 => SOAP12_ENVELOPE_NS,
        }
    }

    /// `"1.1"` or `"1.2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SoapVersion::V11 => "1.1",
            SoapVersion::V12 => "1.2",
        }
    }

    fn from_ns(uri: Option<&str>) -> Option<Self> {
        match uri {
            Some(SOAP11_ENVELOPE_NS) => Some(SoapVersion::V11),
            Some(SOAP12_ENVELOPE_NS) => Some(SoapVersion::V12),
            _ => None,
        }
    }
}

/// Why a document is not a usable SOAP envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The XML itself is refused (malformed, hostile, too deep, …).
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The root element is not a SOAP 1.1 or 1.2 `Envelope`.
    #[error("the answer is not a SOAP envelope: its root element is {0}")]
    NotAnEnvelope(String),
    /// The envelope has no `Body`.
    #[error("the SOAP envelope has no Body")]
    NoBody,
}

/// A decoded envelope, read up to the first element inside `Body`.
pub struct SoapBody<'i> {
    walker: Walker<'i>,
    version: SoapVersion,
    first: Option<FirstElement<'i>>,
}

/// The first element of `Body`.
pub struct FirstElement<'i> {
    /// The element's `Start` or `Empty` event.
    pub event: Event<'i>,
    /// Its namespace URI.
    pub namespace: Option<String>,
    /// Its local name.
    pub local: String,
}

impl<'i> SoapBody<'i> {
    /// Reads `document` (UTF-8) up to the first element inside `Body`; `max_depth` bounds the
    /// nesting of the whole envelope, and every element, `Envelope` and `Header` included, may
    /// carry at most the default 256 attributes.
    pub fn open(document: &'i str, max_depth: usize) -> Result<Self, EnvelopeError> {
        let limits = XmlLimits {
            max_depth,
            max_bytes: usize::MAX,
            ..XmlLimits::default()
        };
        Self::open_limited(document, &limits)
    }

    /// [`open`](Self::open) under a mapping's limits: its size, its depth (plus the envelope's
    /// two levels) and its attribute count apply to the whole envelope.
    pub fn open_limited(document: &'i str, limits: &XmlLimits) -> Result<Self, EnvelopeError> {
        if document.len() > limits.max_bytes {
            return Err(XmlError::TooLarge {
                limit: limits.max_bytes,
                size: document.len(),
            }
            .into());
        }
        let mut walker = Walker::new(document, limits.max_depth.saturating_add(2))
            .with_max_attributes(limits.max_attributes);
        let version = loop {
            let offset = walker.position();
            match walker.next()? {
                event @ (Event::Start(_) | Event::Empty(_)) => {
                    let (uri, local) = walker.name_of(&event, offset)?;
                    match SoapVersion::from_ns(uri.as_deref()) {
                        Some(version)
                            if local == "Envelope" && matches!(event, Event::Start(_)) =>
                        {
                            break version
                        }
                        Some(_) if local == "Envelope" => return Err(EnvelopeError::NoBody),
                        _ => {
                            return Err(EnvelopeError::NotAnEnvelope(describe(
                                uri.as_deref(),
                                &local,
                            )))
                        }
                    }
                }
                Event::Eof => {
                    return Err(XmlError::malformed(offset, "the document is empty").into())
                }
                _ => {}
            }
        };
        let ns = version.envelope_ns();
        // Inside Envelope: an optional Header, then Body.
        loop {
            let offset = walker.position();
            match walker.next()? {
                event @ (Event::Start(_) | Event::Empty(_)) => {
                    let (uri, local) = walker.name_of(&event, offset)?;
                    let is_envelope_child = uri.as_deref() == Some(ns);
                    match (is_envelope_child, local.as_str(), &event) {
                        (true, "Body", Event::Start(_)) => break,
                        (true, "Body", _) => {
                            return Ok(Self {
                                walker,
                                version,
                                first: None,
                            })
                        }
                        (_, _, Event::Start(_)) => walker.skip_element()?,
                        _ => {}
                    }
                }
                Event::End(_) | Event::Eof => return Err(EnvelopeError::NoBody),
                _ => {}
            }
        }
        // Inside Body: the first element, if any.
        loop {
            let offset = walker.position();
            match walker.next()? {
                event @ (Event::Start(_) | Event::Empty(_)) => {
                    let (namespace, local) = walker.name_of(&event, offset)?;
                    if matches!(event, Event::Start(_)) {
                        // The caller reads this element to its end tag.
                        walker.element_consumed();
                    }
                    return Ok(Self {
                        walker,
                        version,
                        first: Some(FirstElement {
                            event,
                            namespace,
                            local,
                        }),
                    });
                }
                Event::End(_) => {
                    return Ok(Self {
                        walker,
                        version,
                        first: None,
                    })
                }
                _ => {}
            }
        }
    }

    /// The envelope's SOAP version.
    pub fn version(&self) -> SoapVersion {
        self.version
    }

    /// The first element of `Body` (`None` for an empty `Body`).
    pub fn first(&self) -> Option<&FirstElement<'i>> {
        self.first.as_ref()
    }

    /// Whether the first element of `Body` is a `Fault` of the envelope's version.
    pub fn is_fault(&self) -> bool {
        self.first.as_ref().is_some_and(|first| {
            first.local == "Fault" && first.namespace.as_deref() == Some(self.version.envelope_ns())
        })
    }

    /// Hands out the reader and the first element's event, to convert it; the reader must be
    /// left after that element's end tag before [`SoapBody::finish`].
    pub fn take_first(&mut self) -> (&mut NsReader<&'i [u8]>, Option<Event<'i>>) {
        (
            &mut self.walker.reader,
            self.first.take().map(|first| first.event),
        )
    }

    /// Checks the rest of the envelope (further Body entries are skipped, but checked) up to the
    /// end of the document.
    pub fn finish(mut self) -> Result<(), XmlError> {
        self.walker.finish()
    }
}

fn describe(uri: Option<&str>, local: &str) -> String {
    match uri {
        Some(uri) => format!("{{{uri}}}{local}"),
        None => local.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_body_element_is_found_past_the_header() {
        let document = r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><h:x xmlns:h="urn:h"><h:y/></h:x></s:Header><s:Body><m:R xmlns:m="urn:m"><m:v>1</m:v></m:R></s:Body></s:Envelope>"#;
        let mut body = SoapBody::open(document, 8).unwrap();
        assert_eq!(body.version(), SoapVersion::V12);
        let first = body.first().unwrap();
        assert_eq!(
            (first.namespace.as_deref(), first.local.as_str()),
            (Some("urn:m"), "R")
        );
        assert!(!body.is_fault());
        let (reader, event) = body.take_first();
        let config = crate::codec::xml::XmlMappingConfig {
            drop_prefixes: true,
            ..Default::default()
        };
        let mapping = crate::codec::xml::XmlMapping::new(&config).unwrap();
        let mut json = Vec::new();
        crate::codec::xml::element_to_json(reader, &event.unwrap(), &mapping, &mut json).unwrap();
        assert_eq!(json, br#"{"v":"1"}"#);
        assert_eq!(body.finish(), Ok(()));
    }

    #[test]
    fn faults_empty_bodies_and_other_documents_are_told_apart() {
        let fault = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault><faultcode>e:Client</faultcode></e:Fault></e:Body></e:Envelope>"#;
        assert!(SoapBody::open(fault, 8).unwrap().is_fault());
        let empty = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>"#;
        let body = SoapBody::open(empty, 8).unwrap();
        assert!(body.first().is_none());
        assert_eq!(body.finish(), Ok(()));
        assert_eq!(
            SoapBody::open("<html><body>error</body></html>", 8).err(),
            Some(EnvelopeError::NotAnEnvelope("html".into()))
        );
        assert_eq!(
            SoapBody::open(r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header/></e:Envelope>"#, 8).err(),
            Some(EnvelopeError::NoBody)
        );
        assert_eq!(
            SoapBody::open(
                "<!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><e/>",
                8
            )
            .err(),
            Some(EnvelopeError::Xml(XmlError::DoctypeForbidden { offset: 0 }))
        );
    }
}
