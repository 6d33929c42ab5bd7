//! `Route`: what a route listens on (an HTTP path template, a topic template or a WebSocket
//! path template) and how it
//! reaches its backend, compiled and checked once at load.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use http::{HeaderMap, Method};

use super::captures::Capture;
use super::options::RouteOptions;
use super::plans::{GrpcPlan, RestPlan, SoapPlan, XmlPlan};
use super::source::RuleOrigin;
use super::template::{FieldPath, PathTemplate};
use super::topic::TopicTemplate;
use crate::model::{
    Backend, BackendCall, CallShape, GatewayResponse, Payload, RequestBody, ResponseBody, Status,
};

/// How a route reaches its backend: one plan per kind of backend schema.
#[derive(Debug, Clone)]
pub enum RoutePlan {
    /// A gRPC method described by protobuf descriptors.
    Grpc(Arc<GrpcPlan>),
    /// A SOAP operation (`routes:` entry with `soap:`).
    Soap(SoapPlan),
    /// A request to a plain-XML backend (`routes:` entry with `xml:`).
    PlainXml(XmlPlan),
    /// A request to a REST/JSON backend (`routes:` entry with `rest:`).
    Rest(RestPlan),
    /// A publish to an MQTT backend (`routes:` entry with `publish:`).
    Publish(super::plans::PublishPlan),
    /// Several steps composed into one answer (`routes:` entry with `compose:`).
    Compose(Arc<super::plans::ComposePlan>),
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
    /// WebSockets opened on paths matching this template: one socket is one call.
    WebSocket(PathTemplate),
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
    /// What the client does: the HTTP method, `PUBLISH` for a topic, `WEBSOCKET` for a
    /// WebSocket path.
    pub fn verb(&self) -> &str {
        match self {
            RoutePattern::Http { method, .. } => method.as_str(),
            RoutePattern::Topic(_) => "PUBLISH",
            RoutePattern::WebSocket(_) => "WEBSOCKET",
        }
    }

    /// What its variables are called in error messages: `path variable` or `topic variable`.
    pub fn variable_noun(&self) -> &'static str {
        match self {
            RoutePattern::Http { .. } | RoutePattern::WebSocket(_) => "path variable",
            RoutePattern::Topic(_) => "topic variable",
        }
    }

    /// Where the client addresses it: the path template or the topic template.
    pub fn address(&self) -> &str {
        match self {
            RoutePattern::Http { template, .. } | RoutePattern::WebSocket(template) => {
                template.as_str()
            }
            RoutePattern::Topic(template) => template.as_str(),
        }
    }

    /// The variables, in the order they appear.
    pub fn variables(&self) -> Vec<PatternVariable<'_>> {
        match self {
            RoutePattern::Http { template, .. } | RoutePattern::WebSocket(template) => template
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

/// A matched request, ready for its route's plan to bind.
pub struct BindRequest<'a> {
    /// What the pattern's variables captured, in pattern order.
    pub captures: &'a [Capture<'a, 'a>],
    /// The query string of an HTTP request, still encoded.
    pub query: Option<&'a str>,
    /// The client's messages.
    pub body: RequestBody,
    /// Metadata to forward.
    pub metadata: HeaderMap,
    /// How long the backend may take: the route's timeout, or the client's when shorter.
    pub timeout: Duration,
}

impl Route {
    /// Takes the route's own metric handles from `metrics` when it is installed: a composed
    /// route's per-step durations (other routes have none).
    pub fn register_metrics(&self, metrics: &crate::telemetry::metrics::Metrics) {
        if let RoutePlan::Compose(plan) = &self.plan {
            plan.register_metrics(self.pattern.verb(), self.pattern.address(), metrics);
        }
    }

    /// Binds a matched request to a call of this route's backend operation.
    pub fn bind(
        self: &Arc<Self>,
        captures: &[Capture<'_, '_>],
        query: Option<&str>,
        body: RequestBody,
        metadata: HeaderMap,
        timeout: Option<Duration>,
    ) -> Result<BackendCall, Status> {
        let request = BindRequest {
            captures,
            query,
            body,
            metadata,
            timeout: timeout.map_or(self.options.timeout, |t| t.min(self.options.timeout)),
        };
        let mut call = match &self.plan {
            RoutePlan::Grpc(plan) => plan.bind(self, request),
            RoutePlan::Soap(plan) => plan.bind(self, request),
            RoutePlan::PlainXml(plan) => plan.bind(self, request),
            RoutePlan::Rest(plan) => plan.bind(self, request),
            RoutePlan::Publish(plan) => plan.bind(self, request),
            RoutePlan::Compose(plan) => plan.bind(self, request),
        }?;
        call.idempotent |= self.options.retryable;
        Ok(call)
    }

    /// Turns the backend's answer into the client's form, message by message for streams.
    pub fn encode_response(
        self: &Arc<Self>,
        response: GatewayResponse,
    ) -> Result<GatewayResponse, Status> {
        let body = match response.body {
            ResponseBody::Unary { message, trailers } => ResponseBody::Unary {
                message: self.encode_message(message)?,
                trailers,
            },
            ResponseBody::Stream(stream) => {
                let route = self.clone();
                ResponseBody::Stream(Box::pin(stream.map(move |item| match item {
                    Ok(message) => route.encode_message(message),
                    Err(mut status) => {
                        route.render_details(&mut status);
                        Err(status)
                    }
                })))
            }
        };
        let upstream = match &self.plan {
            RoutePlan::Rest(plan) => plan.pass_success(response.upstream),
            RoutePlan::PlainXml(plan) => plan.pass_success(response.upstream),
            RoutePlan::Compose(_) => response.upstream,
            RoutePlan::Grpc(_) | RoutePlan::Soap(_) | RoutePlan::Publish(_) => None,
        };
        Ok(GatewayResponse {
            metadata: response.metadata,
            body,
            upstream,
            cache: None,
        })
    }

    fn encode_message(&self, message: Payload) -> Result<Payload, Status> {
        match &self.plan {
            RoutePlan::Grpc(plan) => plan.encode(self, message),
            RoutePlan::Soap(plan) => plan.encode(self, message),
            RoutePlan::PlainXml(plan) => plan.encode(self, message),
            RoutePlan::Rest(plan) => plan.encode(self, message),
            RoutePlan::Publish(plan) => plan.encode(self, message),
            RoutePlan::Compose(_) => Ok(message),
        }
    }

    /// Finishes a backend's error for the client: renders a gRPC backend's
    /// `google.rpc.Status` details as JSON objects, each with its `@type`, when the backend's
    /// descriptors can say what they are; keeps a REST or plain-XML backend's own answer when
    /// the route passes it on (an XML body converted to JSON), and drops it otherwise.
    pub fn render_details(&self, status: &mut Status) {
        match &self.plan {
            RoutePlan::Grpc(plan) => plan.render_details(self, status),
            RoutePlan::Rest(plan) => plan.pass_error(status),
            RoutePlan::PlainXml(plan) => plan.pass_error(status),
            RoutePlan::Soap(_) | RoutePlan::Publish(_) | RoutePlan::Compose(_) => {
                drop(status.take_upstream())
            }
        }
    }
}
