//! Route plans: how a route reaches its backend, one plan per kind of target. Each plan owns
//! its compilation (checked against its backend at load), its binding (a matched request → a
//! `BackendCall`) and its encoding (the backend's answer → the client's form); `Route`
//! dispatches to them with one `match` per direction.

pub mod compose;
mod document;
pub mod grpc;
mod pass_through;
mod plain_xml;
mod publish;
mod query;
mod rest;
mod rest_rewrite;
mod selection;
mod soap;
mod upstream_path;
mod values;
mod xml_template;

use std::sync::Arc;

use http::Method;

pub use compose::ComposePlan;
pub use grpc::GrpcPlan;
pub use plain_xml::XmlPlan;
pub use publish::PublishPlan;
pub use rest::RestPlan;
pub use soap::SoapPlan;

use document::HeaderEdits;
pub(crate) use selection::Selection;
pub(crate) use values::BodyTarget;

use super::messages::PayloadFormat;
use super::options::RouteOptionsConfig;
use super::route::{Route, RoutePattern, RoutePlan};
use super::source::{RouteSpec, RouteTarget};
use crate::model::{Backend, BackendKind, CallShape};

/// What a `routes:` target's request and answer look like, for the API description
/// (`crate::describe`).
pub(crate) struct TargetShape<'a> {
    /// Where the client's body goes.
    pub(crate) body: &'a BodyTarget,
    /// The element the request object fills (SOAP operation, plain-XML root); `None` for a
    /// template, a REST or a publish target.
    pub(crate) request_element: Option<&'a str>,
    /// The JSON ⇄ XML mapping (SOAP and plain XML).
    pub(crate) mapping: Option<&'a crate::codec::xml::XmlMapping>,
    /// What of the answer is returned.
    pub(crate) selection: Option<&'a Selection>,
}

/// A backend that `routes:` entries can name (SOAP, plain XML, REST, MQTT).
pub struct TargetBackend {
    /// The backend's name.
    pub name: Arc<str>,
    /// The backend.
    pub backend: Arc<dyn Backend>,
    /// Its kind.
    pub kind: BackendKind,
}

/// Compiles one `routes:` entry into a route with a SOAP, XML or REST plan, checking it against
/// its backend; `grpc_backends` names the other backends, for a precise error.
pub(crate) fn compile_target(
    spec: &RouteSpec,
    backends: &[TargetBackend],
    grpc_backends: &[&str],
    defaults: &RouteOptionsConfig,
) -> Result<Route, String> {
    if let RouteTarget::Compose(_) = &spec.target {
        return Err("a composed route is compiled by the compose plan".into());
    }
    let backend = match backends.iter().find(|b| *b.name == *spec.backend) {
        Some(backend) => backend,
        None if grpc_backends.contains(&spec.backend.as_str()) => {
            return Err(format!(
                "backend '{}' is a gRPC backend; bind gRPC methods with http: rules:, not routes:",
                spec.backend
            ))
        }
        None => return Err(format!("no backend is named '{}'", spec.backend)),
    };
    let pattern = spec.pattern.compile()?;
    let wanted = match &spec.target {
        RouteTarget::Soap(_) => BackendKind::Soap,
        RouteTarget::Xml(_) => BackendKind::Xml,
        RouteTarget::Rest(_) => BackendKind::Rest,
        RouteTarget::Publish(_) => BackendKind::Mqtt,
        RouteTarget::Compose(_) => unreachable!("refused above"),
    };
    if wanted != backend.kind {
        return Err(format!(
            "the route has a {}: target, but backend '{}' is a {} backend",
            wanted.key(),
            spec.backend,
            backend.kind.key()
        ));
    }
    let edits = HeaderEdits::compile(&spec.headers)?;
    let selection = Selection::new(&spec.response_body, &spec.response_fields)?;
    let (plan, operation) = match &spec.target {
        RouteTarget::Soap(soap) => SoapPlan::compile(spec, soap, &pattern, edits, selection)
            .map(|(plan, op)| (RoutePlan::Soap(plan), op))?,
        RouteTarget::Xml(xml) => XmlPlan::compile(spec, xml, &pattern, edits, selection)
            .map(|(plan, op)| (RoutePlan::PlainXml(plan), op))?,
        RouteTarget::Rest(rest) => RestPlan::compile(spec, rest, &pattern, edits, selection)
            .map(|(plan, op)| (RoutePlan::Rest(plan), op))?,
        RouteTarget::Publish(publish) => PublishPlan::compile(spec, publish, &pattern)
            .map(|(plan, op)| (RoutePlan::Publish(plan), op))?,
        RouteTarget::Compose(_) => unreachable!("refused above"),
    };
    let mut options = spec.options.or(defaults).resolve(&pattern)?;
    let upstream = match &plan {
        RoutePlan::Rest(plan) => Some(plan.method()),
        RoutePlan::PlainXml(plan) => Some(plan.method()),
        RoutePlan::Soap(_) => Some(&Method::POST),
        RoutePlan::Publish(_) | RoutePlan::Grpc(_) | RoutePlan::Compose(_) => None,
    };
    let safe_target = match upstream {
        Some(method) if *method == Method::GET || *method == Method::HEAD || options.safe => Ok(()),
        Some(method) => Err(format!(
            "cache: the backend call is a {method}; mark the route safe: true if it has no side effects"
        )),
        None => Err("cache: publish: routes are never cached".to_owned()),
    };
    options.check_cache(&pattern, true, safe_target)?;
    if let Some(messages) = &options.messages {
        if messages.stream_to.is_some() {
            return Err("stream_to needs a server-streaming gRPC method".into());
        }
        let takes_raw = matches!(plan, RoutePlan::Rest(_) | RoutePlan::Publish(_));
        match messages.payload {
            PayloadFormat::Json => {}
            PayloadFormat::Raw if takes_raw => {}
            PayloadFormat::Raw | PayloadFormat::Protobuf => {
                return Err("payload: protobuf is for gRPC routes, and raw for gRPC, rest: and publish: routes; this route takes JSON".into())
            }
        }
    }
    Ok(Route {
        pattern,
        backend_name: backend.name.clone(),
        backend: backend.backend.clone(),
        operation: Arc::from(operation),
        shape: CallShape::Unary,
        options,
        origin: spec.origin.clone(),
        plan,
    })
}

/// The method of an upstream HTTP request: the target's, else the route's HTTP method; a
/// message published to a topic (or sent on a WebSocket) becomes a POST.
fn upstream_method(written: Option<&str>, pattern: &RoutePattern) -> Result<Method, String> {
    match (written, pattern) {
        (Some(text), _) => Method::from_bytes(text.as_bytes())
            .map_err(|_| format!("'{text}' is not a valid HTTP method")),
        (None, RoutePattern::Http { method, .. }) => Ok(method.clone()),
        (None, RoutePattern::Topic(_) | RoutePattern::WebSocket(_)) => Ok(Method::POST),
    }
}
