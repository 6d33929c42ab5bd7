//! `RouteTable`: every route compiled from the rules, HTTP routes in a path trie and topic
//! routes in a topic trie; immutable once built. One `find` serves every frontend.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use http::Method;
use prost_reflect::{DescriptorPool, Kind, MethodDescriptor};

use super::captures::Captures;
use super::legacy::LegacyBackend;
use super::matcher::{MatchError, RouteMatch, Router};
use super::messages::PayloadFormat;
use super::options::RouteOptionsConfig;
use super::route::RoutePattern;
use super::route::{
    is_http_body_field, resolve_chain, BodyPlan, GrpcPlan, RequestPlan, ResponsePlan, Route,
    RoutePlan, HTTP_BODY,
};
use super::source::{rules_from_annotations, PatternSpec, RouteSpec, RuleOrigin, RuleSpec};
use super::template::PathTemplate;
use super::topic::TopicRouter;
use crate::codec::protojson::settable_from_text;
use crate::model::{Backend, CallShape, RequestKey, Status};

/// A backend and the descriptors of the services it offers.
pub struct BackendSchema {
    /// The backend's name.
    pub name: Arc<str>,
    /// The backend.
    pub backend: Arc<dyn Backend>,
    /// Its services.
    pub pool: DescriptorPool,
}

/// A rule that cannot become a route.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{origin}: {message}")]
pub struct RouteError {
    /// Where the rule was written.
    pub origin: RuleOrigin,
    /// What is wrong.
    pub message: String,
}

/// What the route table is built from.
pub struct RouteSources<'a> {
    /// Backends with their descriptors.
    pub backends: &'a [BackendSchema],
    /// Rules from mapping files; a method named here loses its annotations.
    pub mapping_rules: Vec<RuleSpec>,
    /// Route options under `routes:` in the config.
    pub defaults: RouteOptionsConfig,
    /// Expose methods without any rule as `POST /pkg.Service/Method` with `body: "*"`.
    pub expose_unannotated: bool,
    /// The SOAP, plain-XML and REST backends.
    pub legacy_backends: &'a [LegacyBackend],
    /// `routes:` entries from mapping files.
    pub legacy_routes: Vec<RouteSpec>,
}

/// Every route, matched per request.
pub struct RouteTable {
    http: Router<Arc<Route>>,
    topics: TopicRouter<Arc<Route>>,
    /// Every route in the order the rules were read.
    order: Vec<Arc<Route>>,
}

/// The route a request key found, what its pattern's variables captured, and the query.
#[derive(Debug)]
pub struct Matched<'t, 'k> {
    /// The route.
    pub route: &'t Arc<Route>,
    /// One capture per pattern variable, in pattern order.
    pub captures: Captures<'t, 'k>,
    /// The query string of an HTTP request, still encoded.
    pub query: Option<&'k str>,
}

impl RouteTable {
    /// Compiles every rule; collects every error instead of stopping at the first.
    pub fn build(sources: RouteSources<'_>) -> Result<Self, Vec<RouteError>> {
        let mut errors = Vec::new();
        let mut http = Router::new();
        let mut topics = TopicRouter::new();
        let mut order = Vec::new();
        let remapped: BTreeSet<&str> = sources
            .mapping_rules
            .iter()
            .map(|r| r.selector.as_str())
            .collect();
        let mut placed: Vec<(RuleSpec, usize)> = Vec::new();
        for (index, schema) in sources.backends.iter().enumerate() {
            for rule in rules_from_annotations(&schema.pool) {
                if !remapped.contains(rule.selector.as_str()) {
                    placed.push((rule, index));
                }
            }
        }
        for rule in &sources.mapping_rules {
            match find_backend(sources.backends, rule) {
                Ok(index) => placed.push((rule.clone(), index)),
                Err(message) => errors.push(RouteError {
                    origin: rule.origin.clone(),
                    message,
                }),
            }
        }
        if sources.expose_unannotated {
            let bound: BTreeSet<String> = placed.iter().map(|(r, _)| r.selector.clone()).collect();
            for (index, schema) in sources.backends.iter().enumerate() {
                for method in schema
                    .pool
                    .services()
                    .flat_map(|s| s.methods().collect::<Vec<_>>())
                {
                    let name = method.full_name();
                    if bound.contains(name)
                        || name.starts_with("grpc.reflection.")
                        || name.starts_with("grpc.health.")
                    {
                        continue;
                    }
                    placed.push((unannotated_rule(&method), index));
                }
            }
        }
        let mut origins: BTreeMap<(String, String), RuleOrigin> = BTreeMap::new();
        let mut place =
            |compiled: Result<Route, String>, origin: &RuleOrigin, spec: &PatternSpec| {
                let route = match compiled {
                    Ok(route) => Arc::new(route),
                    Err(message) => {
                        errors.push(RouteError {
                            origin: origin.clone(),
                            message,
                        });
                        return;
                    }
                };
                let inserted = match &route.pattern {
                    RoutePattern::Http { method, template } => http
                        .insert(method.clone(), template.clone(), route.clone())
                        .is_ok(),
                    RoutePattern::Topic(template) => {
                        topics.insert(template.clone(), route.clone()).is_ok()
                    }
                };
                let key = pattern_key(&route.pattern);
                if inserted {
                    origins.insert(key, origin.clone());
                    order.push(route);
                } else {
                    let first = origins
                        .iter()
                        .find(|((v, a), _)| *v == key.0 && equivalent(a, &key.1))
                        .map(|(_, o)| o.to_string())
                        .unwrap_or_else(|| "another rule".into());
                    errors.push(RouteError {
                        origin: origin.clone(),
                        message: format!("{spec} is already bound by {first}"),
                    });
                }
            };
        for (rule, index) in placed {
            let schema = &sources.backends[index];
            place(
                compile(&rule, schema, &sources.defaults),
                &rule.origin,
                &rule.pattern,
            );
        }
        let grpc_names: Vec<&str> = sources.backends.iter().map(|b| &*b.name).collect();
        for spec in &sources.legacy_routes {
            let compiled = super::legacy::compile(
                spec,
                sources.legacy_backends,
                &grpc_names,
                &sources.defaults,
            );
            place(compiled, &spec.origin, &spec.pattern);
        }
        if errors.is_empty() {
            Ok(Self {
                http,
                topics,
                order,
            })
        } else {
            Err(errors)
        }
    }

    /// The route for `key`, or the canonical 404/405/400: a key with a verb is matched against
    /// the path templates, one without against the topic templates.
    pub fn find<'t, 'k>(&'t self, key: &'k RequestKey) -> Result<Matched<'t, 'k>, Status> {
        let target = key.target();
        match key.verb() {
            Some(method) => {
                let found = self.find_path(method, target)?;
                Ok(Matched {
                    route: found.value,
                    captures: found.bindings,
                    query: key.query(),
                })
            }
            None => {
                let found = self
                    .topics
                    .find(target)
                    .ok_or_else(|| Status::not_found(format!("no route for topic {target}")))?;
                Ok(Matched {
                    route: found.value,
                    captures: found.captures,
                    query: None,
                })
            }
        }
    }

    fn find_path<'t, 'p>(
        &'t self,
        method: &Method,
        path: &'p str,
    ) -> Result<RouteMatch<'t, 'p, Arc<Route>>, Status> {
        self.http.find(method, path).map_err(|error| match error {
            MatchError::NotFound => Status::not_found(format!("no route for {method} {path}")),
            MatchError::MethodNotAllowed { allowed } => {
                let allow = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                Status::wrong_method(
                    format!("{path} does not accept {method}; it accepts {allow}"),
                    allow,
                )
            }
            MatchError::InvalidPath(reason) => Status::invalid_argument(reason),
        })
    }

    /// Every route, in the order the rules were read.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.order.iter()
    }

    /// The topic routes, in the order the rules were read.
    pub fn topic_routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.topics.iter().map(|(_, route)| route)
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// The verb and the variable-free shape of a pattern, to find the rule a duplicate repeats.
fn pattern_key(pattern: &RoutePattern) -> (String, String) {
    match pattern {
        RoutePattern::Http { method, template } => (method.to_string(), template.to_string()),
        RoutePattern::Topic(template) => (pattern.verb().to_owned(), template.filter()),
    }
}

/// Templates that match the same paths, whatever their variable names.
fn equivalent(a: &str, b: &str) -> bool {
    let shape = |t: &str| {
        PathTemplate::parse(t)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| t.to_owned())
    };
    a == b || shape(a) == shape(b)
}

fn find_backend(backends: &[BackendSchema], rule: &RuleSpec) -> Result<usize, String> {
    let serving: Vec<usize> = backends
        .iter()
        .enumerate()
        .filter(|(_, b)| rule.backend.as_deref().is_none_or(|name| *b.name == *name))
        .filter(|(_, b)| find_method(&b.pool, &rule.selector).is_some())
        .map(|(i, _)| i)
        .collect();
    match (serving.as_slice(), &rule.backend) {
        ([one], _) => Ok(*one),
        ([], Some(name)) if !backends.iter().any(|b| *b.name == **name) => {
            Err(format!("no backend is named '{name}'"))
        }
        ([], Some(name)) => Err(format!("backend '{name}' has no method {}", rule.selector)),
        ([], None) => Err(format!("no backend has a method {}", rule.selector)),
        (many, _) => Err(format!(
            "method {} is offered by backends {}; name one with `backend:`",
            rule.selector,
            many.iter()
                .map(|i| format!("'{}'", backends[*i].name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `pkg.Service.Method` in `pool`.
fn find_method(pool: &DescriptorPool, selector: &str) -> Option<MethodDescriptor> {
    let (service, method) = selector.rsplit_once('.')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

fn unannotated_rule(method: &MethodDescriptor) -> RuleSpec {
    RuleSpec {
        selector: method.full_name().to_owned(),
        pattern: PatternSpec::Http {
            method: "POST".into(),
            path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        },
        body: "*".into(),
        response_body: String::new(),
        backend: None,
        options: RouteOptionsConfig::default(),
        origin: RuleOrigin::Unannotated {
            method: method.full_name().to_owned(),
        },
    }
}

fn compile(
    rule: &RuleSpec,
    schema: &BackendSchema,
    defaults: &RouteOptionsConfig,
) -> Result<Route, String> {
    let method = find_method(&schema.pool, &rule.selector)
        .ok_or_else(|| format!("backend '{}' has no method {}", schema.name, rule.selector))?;
    let pattern = rule.pattern.compile()?;
    let input = method.input();
    let output = method.output();

    let mut path_fields = Vec::new();
    for variable in pattern.variables() {
        let chain = resolve_chain(&input, variable.field_path.segments())
            .map_err(|e| format!("path variable {{{}}}: {e}", variable.field_path))?;
        let leaf = chain.last().ok_or("empty path variable")?;
        if leaf.is_list() || !settable_from_text(leaf) {
            return Err(format!(
                "path variable {{{}}} names field '{}', which is {}; a path variable must be a singular scalar, enum or well-known type",
                variable.field_path,
                leaf.name(),
                describe_kind(leaf)
            ));
        }
        path_fields.push(chain);
    }

    let (body, raw_body) = match rule.body.as_str() {
        "" => (BodyPlan::None, false),
        "*" => (BodyPlan::Whole, input.full_name() == HTTP_BODY),
        field_path => {
            let segments: Vec<&str> = field_path.split('.').collect();
            let chain = resolve_chain(&input, &segments)
                .map_err(|e| format!("body \"{field_path}\": {e}"))?;
            let raw = chain.last().is_some_and(is_http_body_field);
            (BodyPlan::Field(chain), raw)
        }
    };
    let shape = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => CallShape::Unary,
        (false, true) => CallShape::ServerStreaming,
        (true, false) => CallShape::ClientStreaming,
        (true, true) => CallShape::Bidirectional,
    };
    if shape.client_streams() && matches!(body, BodyPlan::None) {
        return Err(format!(
            "{} streams requests, so its rule needs a body",
            method.full_name()
        ));
    }
    if shape.client_streams() && raw_body {
        return Err(
            "client-streaming methods with google.api.HttpBody requests are not supported".into(),
        );
    }

    let response_field = match rule.response_body.as_str() {
        "" => None,
        name => Some(
            output
                .get_field_by_name(name)
                .or_else(|| output.get_field_by_json_name(name))
                .ok_or_else(|| {
                    format!(
                        "response_body \"{name}\": message {} has no such field",
                        output.full_name()
                    )
                })?,
        ),
    };
    let response_raw = match &response_field {
        Some(field) => is_http_body_field(field),
        None => output.full_name() == HTTP_BODY,
    };

    let options = rule.options.or(defaults).resolve(&pattern)?;
    if let Some(messages) = &options.messages {
        check_payload(messages.payload, &body, raw_body)?;
        if messages.stream_to.is_some() {
            check_downlink(&pattern, shape)?;
        }
    }
    Ok(Route {
        pattern,
        backend_name: schema.name.clone(),
        backend: schema.backend.clone(),
        operation: Arc::from(format!(
            "/{}/{}",
            method.parent_service().full_name(),
            method.name()
        )),
        shape,
        options,
        origin: rule.origin.clone(),
        plan: RoutePlan::Grpc(GrpcPlan {
            method,
            request: RequestPlan {
                input,
                body,
                raw_body,
                path_fields,
            },
            response: ResponsePlan {
                output,
                field: response_field,
                raw_body: response_raw,
            },
        }),
    })
}

fn describe_kind(field: &prost_reflect::FieldDescriptor) -> String {
    if field.is_map() {
        "a map".into()
    } else if field.is_list() {
        "repeated".into()
    } else if let Kind::Message(m) = field.kind() {
        format!("a message ({})", m.full_name())
    } else {
        format!("{:?}", field.kind())
    }
}

/// Whether a topic route's payload format fits where its body goes.
fn check_payload(format: PayloadFormat, body: &BodyPlan, raw_body: bool) -> Result<(), String> {
    let leaf = match body {
        BodyPlan::Field(chain) => chain.last().filter(|f| !f.is_list()),
        _ => None,
    };
    match format {
        PayloadFormat::Json => Ok(()),
        PayloadFormat::Protobuf => match (body, leaf.map(|f| f.kind())) {
            (BodyPlan::Whole, _) if !raw_body => Ok(()),
            (_, Some(Kind::Message(_))) if !raw_body => Ok(()),
            _ => Err("payload: protobuf needs body \"*\" or a body field holding a message".into()),
        },
        PayloadFormat::Raw => match leaf.map(|f| f.kind()) {
            _ if raw_body => Ok(()),
            Some(Kind::Bytes | Kind::String) => Ok(()),
            _ => Err("payload: raw needs a body field of type bytes, string or google.api.HttpBody".into()),
        },
    }
}

/// A downlink needs a server-streaming method, and a topic without variables or wildcards
/// to name it.
fn check_downlink(pattern: &RoutePattern, shape: CallShape) -> Result<(), String> {
    if shape != CallShape::ServerStreaming {
        return Err("stream_to needs a server-streaming method".into());
    }
    let address = pattern.address();
    if address.split('/').any(|level| matches!(level, "+" | "#") || level.starts_with('{')) {
        return Err(format!(
            "stream_to: the route's topic '{address}' names the downlink and takes no variables or wildcards"
        ));
    }
    Ok(())
}
