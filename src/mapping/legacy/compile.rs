//! Compiles a `routes:` entry into a [`Route`] with a SOAP, XML or REST plan, checking it
//! against its backend; every mistake is reported with the route's file and line.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method};

use super::plan::{Common, RestPlan, SoapPlan, ValuesPlan, XmlBody, XmlPlan};
use super::select::Selection;
use super::target::TargetPath;
use super::template::XmlTemplate;
use super::values::BodyTarget;
use crate::codec::xml::XmlMapping;
use crate::mapping::messages::PayloadFormat;
use crate::mapping::options::RouteOptionsConfig;
use crate::mapping::publish::PublishPlan;
use crate::mapping::route::{Route, RoutePattern, RoutePlan};
use crate::mapping::source::{HeaderEditsConfig, RouteSpec, RouteTarget};
use crate::model::{Backend, BackendKind, CallShape};

/// A backend that serves `routes:` entries.
pub struct LegacyBackend {
    /// The backend's name.
    pub name: Arc<str>,
    /// The backend.
    pub backend: Arc<dyn Backend>,
    /// Its kind.
    pub kind: BackendKind,
}

/// Compiles one route; `grpc_backends` names the other backends, for a precise error.
pub(crate) fn compile(
    spec: &RouteSpec,
    backends: &[LegacyBackend],
    grpc_backends: &[&str],
    defaults: &RouteOptionsConfig,
) -> Result<Route, String> {
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
    // A message published to a topic becomes a POST unless the target names a method.
    let default_method = match &pattern {
        RoutePattern::Http { method, .. } => method.clone(),
        RoutePattern::Topic(_) => Method::POST,
    };
    let wanted = match &spec.target {
        RouteTarget::Soap(_) => BackendKind::Soap,
        RouteTarget::Xml(_) => BackendKind::Xml,
        RouteTarget::Rest(_) => BackendKind::Rest,
        RouteTarget::Publish(_) => BackendKind::Mqtt,
    };
    if wanted != backend.kind {
        return Err(format!(
            "the route has a {}: target, but backend '{}' is a {} backend",
            wanted.key(),
            spec.backend,
            backend.kind.key()
        ));
    }
    let common = Common {
        add_headers: header_adds(&spec.headers)?,
        remove_headers: header_removals(&spec.headers)?,
        selection: Selection::new(&spec.response_body, &spec.response_fields)?,
    };
    let variables: Vec<Vec<String>> = pattern
        .variables()
        .iter()
        .map(|v| v.field_path.segments().to_vec())
        .collect();
    let body_target = match spec.body.as_str() {
        "" => BodyTarget::None,
        "*" => BodyTarget::Whole,
        name => BodyTarget::Member(name.to_owned()),
    };
    let values = ValuesPlan {
        body: body_target.clone(),
        variables,
    };
    let (plan, operation) = match &spec.target {
        RouteTarget::Soap(soap) => {
            let body = xml_body(
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
            let plan = SoapPlan {
                values,
                body,
                action,
                mapping: spec.xml_mapping.clone(),
                common,
            };
            (RoutePlan::Soap(plan), operation)
        }
        RouteTarget::Xml(xml) => {
            let method = xml
                .method
                .as_deref()
                .map_or(Ok(default_method.clone()), parse_method)?;
            let target = TargetPath::compile(&xml.path, &pattern)?;
            let body = xml_body(
                xml.root.as_deref(),
                xml.template.as_deref(),
                &spec.xml_mapping,
                "root",
            )?;
            if body.is_none() && body_target != BodyTarget::None {
                return Err(
                    "the route takes a body but sends no XML document; give xml: root or template"
                        .into(),
                );
            }
            if body.is_some() && xml.forward_query.is_some() {
                return Err("forward_query applies only to xml: routes without a request document (their query parameters become members of the document)".into());
            }
            let operation = format!("{method} {}", target.as_str());
            let plan = XmlPlan {
                values,
                body,
                method,
                target,
                forward_query: xml.forward_query.unwrap_or(true),
                mapping: spec.xml_mapping.clone(),
                common,
            };
            (RoutePlan::PlainXml(plan), operation)
        }
        RouteTarget::Rest(rest) => {
            let method = rest
                .method
                .as_deref()
                .map_or(Ok(default_method.clone()), parse_method)?;
            let target = TargetPath::compile(&rest.path, &pattern)?;
            let takes_body = match body_target {
                BodyTarget::None => false,
                BodyTarget::Whole => true,
                BodyTarget::Member(name) => {
                    return Err(format!(
                        "rest: routes forward the body as it is; body must be \"*\" or empty, not '{name}'"
                    ))
                }
            };
            let operation = format!("{method} {}", target.as_str());
            let plan = RestPlan {
                takes_body,
                method,
                target,
                forward_query: rest.forward_query.unwrap_or(true),
                common,
            };
            (RoutePlan::Rest(plan), operation)
        }
        RouteTarget::Publish(publish) => {
            if let BodyTarget::Member(name) = &body_target {
                return Err(format!(
                    "publish: routes publish the whole body; body must be \"*\" or unset, not '{name}'"
                ));
            }
            if !spec.response_fields.is_empty() || !spec.response_body.is_empty() {
                return Err("publish: routes answer with the topic and QoS; response_body and response_fields do not apply".into());
            }
            let plan = PublishPlan::compile(&publish.topic, &pattern)?;
            let operation = format!("PUBLISH {}", plan.as_str());
            (RoutePlan::Publish(plan), operation)
        }
    };
    let options = spec.options.or(defaults).resolve(&pattern)?;
    if options.messages.as_ref().is_some_and(|m| m.stream_to.is_some()) {
        return Err("stream_to needs a server-streaming gRPC method".into());
    }
    match options.messages.as_ref().map(|m| m.payload) {
        None | Some(PayloadFormat::Json) => {}
        Some(PayloadFormat::Raw) if matches!(plan, RoutePlan::Rest(_)) => {}
        Some(format) => {
            return Err(format!(
                "payload: {} is for gRPC routes (REST routes also take raw); this route takes JSON",
                if format == PayloadFormat::Raw { "raw" } else { "protobuf" }
            ))
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

fn parse_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.as_bytes()).map_err(|_| format!("'{text}' is not a valid HTTP method"))
}

/// The XML a route sends: an element name (`key` names its setting) or a template.
fn xml_body(
    element: Option<&str>,
    template: Option<&str>,
    mapping: &XmlMapping,
    key: &str,
) -> Result<Option<XmlBody>, String> {
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

fn header_adds(edits: &HeaderEditsConfig) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    edits
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
        .collect()
}

fn header_removals(edits: &HeaderEditsConfig) -> Result<Vec<HeaderName>, String> {
    edits
        .remove
        .iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers.remove: '{name}' is not a valid header name"))
        })
        .collect()
}
