//! `Route`: what a route listens on (an HTTP path template or a topic template) and how it
//! reaches its backend, compiled and checked once at load.

use std::sync::Arc;

use http::Method;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

use super::legacy::{RestPlan, SoapPlan, XmlPlan};
use super::options::RouteOptions;
use super::source::RuleOrigin;
use super::template::{FieldPath, PathTemplate};
use super::topic::TopicTemplate;
use crate::model::{Backend, CallShape};

/// A chain of fields from a message down to the field a value is bound to (`book.shelf.id`).
pub type FieldChain = Vec<FieldDescriptor>;

/// Where the request body goes.
#[derive(Debug, Clone)]
pub(crate) enum BodyPlan {
    /// The route takes no body (`body` unset).
    None,
    /// The body is the whole request message (`body: "*"`).
    Whole,
    /// The body is one field of the request message (`body: "book"`).
    Field(FieldChain),
}

/// How the request message is assembled.
#[derive(Debug, Clone)]
pub(crate) struct RequestPlan {
    pub(crate) input: MessageDescriptor,
    pub(crate) body: BodyPlan,
    /// The body target is a `google.api.HttpBody`: raw bytes with their content type.
    pub(crate) raw_body: bool,
    /// One chain per path-template variable, in template order.
    pub(crate) path_fields: Vec<FieldChain>,
}

/// How the answer is turned into the client's form.
#[derive(Debug, Clone)]
pub(crate) struct ResponsePlan {
    pub(crate) output: MessageDescriptor,
    /// `response_body`: only this field is returned.
    pub(crate) field: Option<FieldDescriptor>,
    /// The returned message is a `google.api.HttpBody`: raw bytes with their content type.
    pub(crate) raw_body: bool,
}

/// How a route reaches its backend: one plan per kind of backend schema.
#[derive(Debug, Clone)]
pub enum RoutePlan {
    /// A gRPC method described by protobuf descriptors.
    Grpc(GrpcPlan),
    /// A SOAP operation (`routes:` entry with `soap:`).
    Soap(SoapPlan),
    /// A request to a plain-XML backend (`routes:` entry with `xml:`).
    PlainXml(XmlPlan),
    /// A request to a REST/JSON backend (`routes:` entry with `rest:`).
    Rest(RestPlan),
    /// A publish to an MQTT backend (`routes:` entry with `publish:`).
    Publish(super::publish::PublishPlan),
}

/// A gRPC method and how its messages are assembled and returned.
#[derive(Debug, Clone)]
pub struct GrpcPlan {
    /// The method.
    pub method: MethodDescriptor,
    pub(crate) request: RequestPlan,
    pub(crate) response: ResponsePlan,
}

/// What a route listens on.
#[derive(Debug, Clone)]
pub enum RoutePattern {
    /// Requests with this HTTP method to paths matching this `google.api.http` template.
    Http {
        /// The HTTP method.
        method: Method,
        /// The path template.
        template: PathTemplate,
    },
    /// Messages published to topics matching this template.
    Topic(TopicTemplate),
}

/// A variable of a route's pattern.
#[derive(Debug, Clone, Copy)]
pub struct PatternVariable<'a> {
    /// The request field it binds.
    pub field_path: &'a FieldPath,
    /// Whether it captures exactly one path segment or topic level.
    pub single: bool,
}

impl RoutePattern {
    /// What the client does: the HTTP method, or `PUBLISH` for a topic.
    pub fn verb(&self) -> &str {
        match self {
            RoutePattern::Http { method, .. } => method.as_str(),
            RoutePattern::Topic(_) => "PUBLISH",
        }
    }

    /// Where the client addresses it: the path template or the topic template.
    pub fn address(&self) -> &str {
        match self {
            RoutePattern::Http { template, .. } => template.as_str(),
            RoutePattern::Topic(template) => template.as_str(),
        }
    }

    /// The variables, in the order they appear.
    pub fn variables(&self) -> Vec<PatternVariable<'_>> {
        match self {
            RoutePattern::Http { template, .. } => template
                .variables()
                .iter()
                .map(|v| PatternVariable {
                    field_path: &v.field_path,
                    single: v.is_single_segment(),
                })
                .collect(),
            RoutePattern::Topic(template) => template
                .variables()
                .iter()
                .map(|field_path| PatternVariable {
                    field_path,
                    single: true,
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb(), self.address())
    }
}

/// One route: a pattern bound to a backend operation.
pub struct Route {
    /// What the route listens on.
    pub pattern: RoutePattern,
    /// The backend's name.
    pub backend_name: Arc<str>,
    /// The backend.
    pub backend: Arc<dyn Backend>,
    /// The backend's operation: for gRPC the path `/pkg.Service/Method`; for SOAP the action
    /// (or the request element); for plain XML and REST the upstream method and path template.
    pub operation: Arc<str>,
    /// The method's call shape.
    pub shape: CallShape,
    /// The options the route runs with.
    pub options: RouteOptions,
    /// Where the rule was written.
    pub origin: RuleOrigin,
    /// How the route reaches its backend.
    pub plan: RoutePlan,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {}{}",
            self.pattern, self.backend_name, self.operation
        )
    }
}

/// The full name of `google.api.HttpBody`.
pub(crate) const HTTP_BODY: &str = "google.api.HttpBody";

/// Resolves a dotted field path (`book.shelf.id`) in `message`, each segment by proto name or
/// JSON name. Every field but the last must be a singular message.
pub(crate) fn resolve_chain(
    message: &MessageDescriptor,
    path: &[impl AsRef<str>],
) -> Result<FieldChain, String> {
    let mut chain = Vec::with_capacity(path.len());
    let mut current = message.clone();
    for (i, segment) in path.iter().enumerate() {
        let segment = segment.as_ref();
        let field = current
            .get_field_by_name(segment)
            .or_else(|| current.get_field_by_json_name(segment))
            .ok_or_else(|| format!("message {} has no field '{segment}'", current.full_name()))?;
        if i + 1 < path.len() {
            match field.kind() {
                Kind::Message(next) if !field.is_list() && !field.is_map() => current = next,
                _ => {
                    return Err(format!(
                        "field '{}' of {} is not a singular message, so '{}' cannot go inside it",
                        field.name(),
                        current.full_name(),
                        path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(".")
                    ))
                }
            }
        }
        chain.push(field);
    }
    Ok(chain)
}

/// Whether `field` holds a `google.api.HttpBody`.
pub(crate) fn is_http_body_field(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(m) if m.full_name() == HTTP_BODY) && !field.is_list()
}
