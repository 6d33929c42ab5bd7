//! The plain-XML plan: a route bound to an HTTP request to a plain-XML backend. The request
//! object becomes a document (or the client's query is forwarded when none is sent); the answer
//! document becomes JSON.

use bytes::Bytes;
use http::Method;

use super::document::{empty_as_object, json_body, no_body, HeaderEdits, ValuesPlan, XmlBody};
use super::pass_through::{xml_body_to_json, PassThrough};
use super::selection::Selection;
use super::upstream_path::TargetPath;
use super::values::BodyTarget;
use crate::codec::xml::{xml_to_json, XmlMapping};
use crate::mapping::route::{BindRequest, Route, RoutePattern};
use crate::mapping::source::{RouteSpec, XmlTargetConfig};
use crate::model::UpstreamReply;
use crate::model::{BackendCall, Payload, Status};

/// A request to a plain-XML backend.
#[derive(Debug, Clone)]
pub struct XmlPlan {
    values: ValuesPlan,
    /// `None` when the route sends no document.
    body: Option<XmlBody>,
    method: Method,
    target: TargetPath,
    forward_query: bool,
    mapping: XmlMapping,
    edits: HeaderEdits,
    selection: Selection,
    pass: PassThrough,
}

impl XmlPlan {
    /// The upstream request's method.
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// The plan of an `xml:` target, and the operation `polygate check` shows for it.
    pub(crate) fn compile(
        spec: &RouteSpec,
        xml: &XmlTargetConfig,
        pattern: &RoutePattern,
        edits: HeaderEdits,
        selection: Selection,
    ) -> Result<(Self, String), String> {
        let method = super::upstream_method(xml.method.as_deref(), pattern)?;
        let target = TargetPath::compile(&xml.path, pattern)?;
        let body = XmlBody::compile(
            xml.root.as_deref(),
            xml.template.as_deref(),
            &spec.xml_mapping,
            "root",
        )?;
        let values = ValuesPlan::new(spec, pattern, true);
        if body.is_none() && values.body != BodyTarget::None {
            return Err(
                "the route takes a body but sends no XML document; give xml: root or template"
                    .into(),
            );
        }
        if body.is_some() && xml.forward_query.is_some() {
            return Err("forward_query applies only to xml: routes without a request document (their query parameters become members of the document)".into());
        }
        let operation = format!("{method} {}", target.as_str());
        let pass = PassThrough::compile(xml.pass_through, &target, pattern);
        let plan = Self {
            pass,
            values,
            body,
            method,
            target,
            forward_query: xml.forward_query.unwrap_or(true),
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
                Some(XmlBody::Element(name)) => Some(name),
                _ => None,
            },
            mapping: Some(&self.mapping),
            selection: Some(&self.selection),
        }
    }

    /// The call: the upstream method and path, with the request document or the client's
    /// query.
    pub(crate) fn bind(
        &self,
        route: &Route,
        request: BindRequest<'_>,
    ) -> Result<BackendCall, Status> {
        let metadata = self.edits.applied(request.metadata);
        let json = json_body(route, request.body)?;
        let (forwarded_query, message) = match &self.body {
            Some(xml) => {
                let document = self.values.document(
                    route,
                    xml,
                    &self.mapping,
                    request.captures,
                    request.query,
                    json.as_deref(),
                )?;
                (None, Bytes::from(document))
            }
            None if json.is_some() => return Err(no_body(route)),
            None => (request.query.filter(|_| self.forward_query), Bytes::new()),
        };
        Ok(BackendCall::unary(
            self.target.render(request.captures, forwarded_query).into(),
            self.method.clone(),
            Payload::Xml(message),
            metadata,
            request.timeout,
        ))
    }

    /// The backend's own status and headers when the route passes them on.
    pub(crate) fn pass_success(
        &self,
        reply: Option<Box<UpstreamReply>>,
    ) -> Option<Box<UpstreamReply>> {
        self.pass.success(reply)
    }

    /// The backend's own error answer when the route passes it on, an XML body as JSON.
    pub(crate) fn pass_error(&self, status: &mut Status) {
        self.pass
            .error(status, |xml| xml_body_to_json(xml, &self.mapping));
    }

    /// The answer document as JSON, with the route's selection.
    pub(crate) fn encode(&self, route: &Route, message: Payload) -> Result<Payload, Status> {
        let backend = &*route.backend_name;
        let Payload::Xml(document) = message else {
            return Err(Status::internal(format!(
                "backend '{backend}' answered in a form its XML route cannot encode"
            )));
        };
        let json = if document.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            let mut json = Vec::with_capacity(document.len());
            xml_to_json(&document, &self.mapping, &mut json)
                .map_err(|e| e.answer_status(backend))?;
            empty_as_object(json)
        };
        self.selection.answer(json, backend)
    }
}
