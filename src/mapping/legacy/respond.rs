//! The way back for SOAP, plain-XML and REST routes: the first element of a SOAP `Body`, or a
//! whole XML document, becomes JSON under the route's mapping; REST JSON passes through; then
//! the route's selection picks what is returned.

use bytes::Bytes;

use super::plan::Common;
use crate::codec::soap::{EnvelopeError, SoapBody};
use crate::codec::xml::{element_to_json, xml_to_json, XmlMapping};
use crate::mapping::route::{Route, RoutePlan};
use crate::model::{Code, Payload, Status};

impl Route {
    /// Turns a SOAP, plain-XML or REST answer into the client's form.
    pub(crate) fn encode_legacy_message(&self, message: Payload) -> Result<Payload, Status> {
        let backend = &*self.backend_name;
        let (json, common) = match (&self.plan, message) {
            (RoutePlan::Soap(plan), Payload::Xml(document)) => {
                (soap_answer_to_json(&document, &plan.mapping, backend)?, &plan.common)
            }
            (RoutePlan::PlainXml(plan), Payload::Xml(document)) => {
                (xml_answer_to_json(&document, &plan.mapping, backend)?, &plan.common)
            }
            (RoutePlan::Rest(plan), Payload::Json(json)) => (json, &plan.common),
            (RoutePlan::Publish(_), answer) => return Ok(answer),
            (RoutePlan::Rest(plan), raw @ Payload::Raw { .. }) if plan.common.selection.is_whole() => {
                return Ok(raw)
            }
            (RoutePlan::Rest(_), Payload::Raw { content_type, .. }) => {
                return Err(Status::upstream_fault(
                    Code::Internal,
                    format!("backend '{backend}' answered {content_type}, not JSON, so the route's response selection cannot apply"),
                )
                .with_reason("UPSTREAM_NOT_JSON"))
            }
            _ => {
                return Err(Status::internal(format!(
                    "backend '{backend}' answered in a form its route cannot encode"
                )))
            }
        };
        select(common, json, backend)
    }
}

fn select(common: &Common, json: Bytes, backend: &str) -> Result<Payload, Status> {
    match common.selection.apply(&json) {
        Ok(None) => Ok(Payload::Json(json)),
        Ok(Some(selected)) => Ok(Payload::Json(Bytes::from(selected))),
        Err(e) => Err(
            Status::upstream_fault(Code::Internal, format!("backend '{backend}': {e}"))
                .with_reason("UPSTREAM_NOT_JSON"),
        ),
    }
}

/// The first element of the envelope's `Body` as JSON (`{}` for an empty Body or an empty
/// response element).
fn soap_answer_to_json(
    document: &[u8],
    mapping: &XmlMapping,
    backend: &str,
) -> Result<Bytes, Status> {
    let text = std::str::from_utf8(document).map_err(|e| {
        Status::internal(format!(
            "backend '{backend}' handed over XML that is not UTF-8: {e}"
        ))
    })?;
    if text.trim().is_empty() {
        return Ok(Bytes::from_static(b"{}"));
    }
    let fail = |e: EnvelopeError| match e {
        EnvelopeError::Xml(e) => e.answer_status(backend),
        other => Status::upstream_fault(Code::Internal, format!("backend '{backend}': {other}"))
            .with_reason("SOAP_NOT_AN_ENVELOPE"),
    };
    let mut body = SoapBody::open(text, mapping.limits().max_depth).map_err(fail)?;
    let mut json = Vec::with_capacity(document.len());
    let (reader, first) = body.take_first();
    if let Some(element) = first {
        element_to_json(reader, &element, mapping, &mut json)
            .map_err(|e| e.answer_status(backend))?;
    }
    body.finish().map_err(|e| e.answer_status(backend))?;
    Ok(empty_as_object(json))
}

/// A whole plain-XML document as JSON (`{}` for an empty answer or an empty root).
fn xml_answer_to_json(
    document: &[u8],
    mapping: &XmlMapping,
    backend: &str,
) -> Result<Bytes, Status> {
    if document.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::from_static(b"{}"));
    }
    let mut json = Vec::with_capacity(document.len());
    xml_to_json(document, mapping, &mut json).map_err(|e| e.answer_status(backend))?;
    Ok(empty_as_object(json))
}

/// An answer element with no content is an empty object, not `""`.
fn empty_as_object(json: Vec<u8>) -> Bytes {
    if json.is_empty() || json == b"\"\"" {
        Bytes::from_static(b"{}")
    } else {
        Bytes::from(json)
    }
}
