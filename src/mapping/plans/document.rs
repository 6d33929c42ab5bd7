//! What the SOAP and plain-XML plans share: the request object (body, path or topic variables,
//! query) made into the XML document they send, and the JSON their answers become; plus the
//! header edits and body checks every `routes:` target applies.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use quick_xml::Writer;

use super::values::{gather, request_object, BodyTarget};
use super::xml_template::XmlTemplate;
use crate::codec::xml::{check_request, json_to_xml, write_element, XmlMapping};
use crate::mapping::captures::Capture;
use crate::mapping::route::{Route, RoutePattern};
use crate::mapping::source::{HeaderEditsConfig, RouteSpec};
use crate::model::{Payload, RequestBody, Status};

/// How the XML sent upstream is made.
#[derive(Debug, Clone)]
pub(crate) enum XmlBody {
    /// The request object becomes the content of this element (`prefix:name` of the mapping).
    Element(String),
    /// A template filled from the request object.
    Template(XmlTemplate),
}

impl XmlBody {
    /// The XML a route sends: an element name (`key` names its setting) or a template; `None`
    /// when neither is given.
    pub(crate) fn compile(
        element: Option<&str>,
        template: Option<&str>,
        mapping: &XmlMapping,
        key: &str,
    ) -> Result<Option<Self>, String> {
        match (element, template) {
            (Some(_), Some(_)) => Err(format!("give {key} or template, not both")),
            (Some(name), None) => {
                mapping
                    .check_element_name(name)
                    .map_err(|e| format!("{key}: {e}"))?;
                Ok(Some(XmlBody::Element(name.to_owned())))
            }
            (None, Some(text)) => Ok(Some(XmlBody::Template(XmlTemplate::compile(text)?))),
            (None, None) => Ok(None),
        }
    }
}

/// Where the values of a SOAP or XML request object come from.
#[derive(Debug, Clone)]
pub(crate) struct ValuesPlan {
    /// Where the body goes.
    pub(crate) body: BodyTarget,
    /// Each pattern variable's member path (`customer.id` → `["customer", "id"]`).
    pub(crate) variables: Vec<Vec<String>>,
    /// Documents are whole, with an XML declaration (plain XML), rather than the content of a
    /// SOAP `Body`.
    whole_documents: bool,
}

impl ValuesPlan {
    /// The values plan of a route's spec and pattern; `whole_documents` for plain XML.
    pub(crate) fn new(spec: &RouteSpec, pattern: &RoutePattern, whole_documents: bool) -> Self {
        Self {
            whole_documents,
            body: BodyTarget::from_setting(&spec.body),
            variables: pattern
                .variables()
                .iter()
                .map(|v| v.field_path.segments().to_vec())
                .collect(),
        }
    }

    /// The XML to send: the request object under an element, or a filled template.
    pub(crate) fn document(
        &self,
        route: &Route,
        xml: &XmlBody,
        mapping: &XmlMapping,
        captures: &[Capture<'_, '_>],
        query: Option<&str>,
        json: Option<&[u8]>,
    ) -> Result<Vec<u8>, Status> {
        let extras = gather(
            &self.variables,
            captures,
            query,
            self.body != BodyTarget::Whole,
            route.options.unknown_query_parameters,
            &route.pattern,
        )?;
        let object = request_object(
            &self.body,
            json,
            &extras,
            route.options.body_field_collision,
        )?;
        if let XmlBody::Element(name) = xml {
            // What the schema forbids is refused here, before the backend is called.
            check_request(&object, name, mapping).map_err(|e| e.request_status())?;
        }
        let mut out = Vec::with_capacity(object.len() * 2 + 64);
        match xml {
            XmlBody::Element(name) if self.whole_documents => {
                json_to_xml(&object, name, mapping, &mut out).map_err(|e| e.request_status())?
            }
            XmlBody::Element(name) => {
                let mut writer = Writer::new(&mut out);
                write_element(&mut writer, &object, name, mapping)
                    .map_err(|e| e.request_status())?
            }
            XmlBody::Template(template) => {
                let value: serde_json::Value = serde_json::from_slice(&object)
                    .map_err(|e| Status::invalid_argument(format!("invalid JSON body: {e}")))?;
                template.render(&value, &mut out)?
            }
        }
        Ok(out)
    }
}

/// Request headers a route sets and removes before calling its backend.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderEdits {
    /// Request headers set (replacing forwarded ones).
    add: Vec<(HeaderName, HeaderValue)>,
    /// Request headers not forwarded.
    remove: Vec<HeaderName>,
}

impl HeaderEdits {
    /// Checks the names and values of `headers:`.
    pub(crate) fn compile(edits: &HeaderEditsConfig) -> Result<Self, String> {
        let add = edits
            .add
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("headers.add: '{name}' is not a valid header name"))?;
                let value = HeaderValue::from_str(value).map_err(|_| {
                    format!("headers.add.{name}: the value is not a valid header value")
                })?;
                Ok((name, value))
            })
            .collect::<Result<_, String>>()?;
        let remove = edits
            .remove
            .iter()
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("headers.remove: '{name}' is not a valid header name"))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { add, remove })
    }

    /// The forwarded metadata with the edits applied.
    pub(crate) fn applied(&self, mut metadata: HeaderMap) -> HeaderMap {
        for name in &self.remove {
            metadata.remove(name);
        }
        for (name, value) in &self.add {
            metadata.insert(name.clone(), value.clone());
        }
        metadata
    }
}

/// The client's JSON body, if it sent one.
pub(crate) fn json_body(route: &Route, body: RequestBody) -> Result<Option<Bytes>, Status> {
    match body {
        RequestBody::Empty => Ok(None),
        RequestBody::Unary(Payload::Json(data)) => Ok(Some(data)),
        RequestBody::Unary(_) | RequestBody::Stream(_) => Err(json_only(route)),
    }
}

/// A body sent to a route that takes none.
pub(crate) fn no_body(route: &Route) -> Status {
    Status::invalid_argument(format!("{} takes no request body", route.pattern))
}

/// A body that is not one JSON message.
pub(crate) fn json_only(route: &Route) -> Status {
    Status::unsupported_media_type(
        format!("{} takes one JSON body", route.pattern),
        "application/json",
    )
}

/// An answer element with no content is an empty object, not `""`.
pub(crate) fn empty_as_object(json: Vec<u8>) -> Bytes {
    if json.is_empty() || json == b"\"\"" {
        Bytes::from_static(b"{}")
    } else {
        Bytes::from(json)
    }
}
