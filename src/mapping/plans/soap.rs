//! The SOAP plan: a route bound to one operation of a SOAP backend. The request object becomes
//! the content of the operation's element (or fills a template) under the envelope's `Body`;
//! the first element of the answer's `Body` becomes JSON.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;

use super::document::{empty_as_object, json_body, HeaderEdits, ValuesPlan, XmlBody};
use super::selection::Selection;
use crate::codec::soap::{EnvelopeError, SoapBody};
use crate::codec::xml::{element_to_json, XmlMapping};
use crate::mapping::route::{BindRequest, Route, RoutePattern};
use crate::mapping::source::{RouteSpec, SoapTargetConfig};
use crate::model::{BackendCall, Code, Payload, Status};

/// A SOAP operation.
#[derive(Debug, Clone)]
pub struct SoapPlan {
    values: ValuesPlan,
    body: XmlBody,
    /// The SOAP action the call carries (may be empty).
    action: Arc<str>,
    mapping: XmlMapping,
    edits: HeaderEdits,
    selection: Selection,
}

impl SoapPlan {
    /// The plan of a `soap:` target, and the operation `polygate check` shows for it.
    pub(crate) fn compile(
        spec: &RouteSpec,
        soap: &SoapTargetConfig,
        pattern: &RoutePattern,
        edits: HeaderEdits,
        selection: Selection,
    ) -> Result<(Self, String), String> {
        let body = XmlBody::compile(
            soap.operation.as_deref(),
            soap.template.as_deref(),
            &spec.xml_mapping,
            "operation",
        )?
        .ok_or("soap: needs operation (the request element) or template")?;
        let action = soap.action.clone().unwrap_or_default();
        let operation = match (&body, action.is_empty()) {
            (_, false) => action.clone(),
            (XmlBody::Element(name), true) => name.clone(),
            (XmlBody::Template(_), true) => "(template)".to_owned(),
        };
        let plan = Self {
            values: ValuesPlan::new(spec, pattern, false),
            body,
            action: Arc::from(action),
            mapping: spec.xml_mapping.clone(),
            edits,
            selection,
        };
        Ok((plan, operation))
    }

    /// The shape of the route's JSON, for the API description.
    pub(crate) fn shape(&self) -> super::TargetShape<'_> {
        super::TargetShape {
            body: &self.values.body,
            request_element: match &self.body {
                XmlBody::Element(name) => Some(name),
                XmlBody::Template(_) => None,
            },
            mapping: Some(&self.mapping),
            selection: Some(&self.selection),
        }
    }

    /// The call: the body element's XML, sent with the operation's action.
    pub(crate) fn bind(
        &self,
        route: &Route,
        request: BindRequest<'_>,
    ) -> Result<BackendCall, Status> {
        let metadata = self.edits.applied(request.metadata);
        let json = json_body(route, request.body)?;
        let xml = self.values.document(
            route,
            &self.body,
            &self.mapping,
            request.captures,
            request.query,
            json.as_deref(),
        )?;
        Ok(BackendCall::unary(
            self.action.clone(),
            Method::POST,
            Payload::Xml(Bytes::from(xml)),
            metadata,
            request.timeout,
        ))
    }

    /// The first element of the answer's `Body` as JSON, with the route's selection.
    pub(crate) fn encode(&self, route: &Route, message: Payload) -> Result<Payload, Status> {
        let backend = &*route.backend_name;
        let Payload::Xml(document) = message else {
            return Err(Status::internal(format!(
                "backend '{backend}' answered in a form its SOAP route cannot encode"
            )));
        };
        let json = answer_to_json(&document, &self.mapping, backend)?;
        self.selection.answer(json, backend)
    }
}

/// The first element of the envelope's `Body` as JSON (`{}` for an empty Body or an empty
/// response element).
fn answer_to_json(document: &[u8], mapping: &XmlMapping, backend: &str) -> Result<Bytes, Status> {
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
