//! The REST plan: a route bound to a request to a REST/JSON backend, its path rewritten and its
//! JSON body forwarded as it is; the answer passes through, or the route's selection of it.

use bytes::Bytes;
use http::Method;

use super::document::{json_only, no_body, HeaderEdits};
use super::pass_through::{xml_body_to_json, PassThrough};
use super::rest_rewrite::RestRewrites;
use super::selection::Selection;
use super::upstream_path::TargetPath;
use super::values::BodyTarget;
use crate::codec::xml::XmlMapping;
use crate::mapping::route::{BindRequest, Route, RoutePattern};
use crate::mapping::source::{RestTargetConfig, RouteSpec};
use crate::model::UpstreamReply;
use crate::model::{BackendCall, Code, Payload, RequestBody, Status};

/// A request to a REST/JSON backend.
#[derive(Debug, Clone)]
pub struct RestPlan {
    takes_body: bool,
    method: Method,
    target: TargetPath,
    forward_query: bool,
    edits: HeaderEdits,
    selection: Selection,
    pass: PassThrough,
    mapping: XmlMapping,
    rewrites: RestRewrites,
}

impl RestPlan {
    /// The upstream request's method.
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// The plan of a `rest:` target, and the operation `polygate check` shows for it.
    pub(crate) fn compile(
        spec: &RouteSpec,
        rest: &RestTargetConfig,
        pattern: &RoutePattern,
        edits: HeaderEdits,
        selection: Selection,
    ) -> Result<(Self, String), String> {
        let method = super::upstream_method(rest.method.as_deref(), pattern)?;
        let target = TargetPath::compile(&rest.path, pattern)?;
        let takes_body = match BodyTarget::from_setting(&spec.body) {
            BodyTarget::None => false,
            BodyTarget::Whole => true,
            BodyTarget::Member(name) => {
                return Err(format!(
                "rest: routes forward the body as it is; body must be \"*\" or empty, not '{name}'"
            ))
            }
        };
        let operation = format!("{method} {}", target.as_str());
        let pass = PassThrough::compile(rest.pass_through, &target, pattern);
        let rewrites = RestRewrites::compile(rest.query.as_ref(), &rest.set_body, pattern)?;
        let plan = Self {
            rewrites,
            pass,
            mapping: spec.xml_mapping.clone(),
            takes_body,
            method,
            target,
            forward_query: rest.forward_query.unwrap_or(true),
            edits,
            selection,
        };
        Ok((plan, operation))
    }

    /// The shape of the route's JSON, for the API description.
    pub(crate) fn shape(&self) -> super::TargetShape<'_> {
        super::TargetShape {
            body: if self.takes_body {
                &BodyTarget::Whole
            } else {
                &BodyTarget::None
            },
            request_element: None,
            mapping: None,
            selection: Some(&self.selection),
        }
    }

    /// The call: the rewritten method and path, the client's body as it is.
    pub(crate) fn bind(
        &self,
        route: &Route,
        request: BindRequest<'_>,
    ) -> Result<BackendCall, Status> {
        let metadata = self.edits.applied(request.metadata);
        let message = match request.body {
            RequestBody::Empty => Payload::Json(Bytes::new()),
            RequestBody::Unary(_) if !self.takes_body => return Err(no_body(route)),
            RequestBody::Unary(payload @ (Payload::Json(_) | Payload::Raw { .. })) => payload,
            RequestBody::Unary(_) | RequestBody::Stream(_) => return Err(json_only(route)),
        };
        let message = match message {
            Payload::Json(json) if self.rewrites.sets_body() => {
                Payload::Json(self.rewrites.body(route, &json, request.captures)?)
            }
            Payload::Raw { .. } if self.rewrites.sets_body() => return Err(json_only(route)),
            other => other,
        };
        let forwarded_query = self.rewrites.query(
            request.query.filter(|_| self.forward_query),
            request.captures,
        )?;
        Ok(BackendCall::unary(
            self.target
                .render(request.captures, forwarded_query.as_deref())
                .into(),
            self.method.clone(),
            message,
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

    /// The answer as the backend sent it, or the route's selection of its JSON.
    pub(crate) fn encode(&self, route: &Route, message: Payload) -> Result<Payload, Status> {
        let backend = &*route.backend_name;
        match message {
            Payload::Json(json) => self.selection.answer(json, backend),
            raw @ Payload::Raw { .. } if self.selection.is_whole() => Ok(raw),
            Payload::Raw { content_type, .. } => Err(Status::upstream_fault(
                Code::Internal,
                format!("backend '{backend}' answered {content_type}, not JSON, so the route's response selection cannot apply"),
            )
            .with_reason("UPSTREAM_NOT_JSON")),
            Payload::Protobuf(_) | Payload::Xml(_) => Err(Status::internal(format!(
                "backend '{backend}' answered in a form its REST route cannot encode"
            ))),
        }
    }
}
