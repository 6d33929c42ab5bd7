//! `RouteTable`: every route compiled from the rules, HTTP routes in a path trie, topic routes
//! in a topic trie, WebSocket paths in a trie of their own, and gRPC methods by full name;
//! immutable once built. One `find` serves every frontend.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use http::Method;
use prost_reflect::{DescriptorPool, MethodDescriptor};

use super::captures::Captures;
use super::matcher::{MatchError, RouteMatch, Router};
use super::options::RouteOptionsConfig;
use super::plans::grpc::{compile, find_method};
use super::plans::TargetBackend;
use super::route::RoutePattern;
use super::route::{Route, RoutePlan};
use super::source::{rules_from_annotations, PatternSpec, RouteSpec, RuleOrigin, RuleSpec};
use super::template::PathTemplate;
use super::topic::TopicRouter;
use crate::model::{Backend, RequestKey, Status};

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
    pub target_backends: &'a [TargetBackend],
    /// `routes:` entries from mapping files.
    pub target_routes: Vec<RouteSpec>,
}

/// Every route, matched per request.
pub struct RouteTable {
    http: Router<Arc<Route>>,
    topics: TopicRouter<Arc<Route>>,
    /// WebSocket paths (the direct binding), all under one method.
    websockets: Router<Arc<Route>>,
    /// Every gRPC method that some rule exposes, by `pkg.Service/Method`, taking and returning
    /// whole messages.
    methods: HashMap<Box<str>, Arc<Route>>,
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
        let mut websockets = Router::new();
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
                    RoutePattern::WebSocket(template) => websockets
                        .insert(Method::GET, template.clone(), route.clone())
                        .is_ok(),
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
        let mut methods = HashMap::new();
        for (rule, index) in placed {
            let schema = &sources.backends[index];
            let compiled = compile(&rule, schema, &sources.defaults);
            if let Ok(route) = &compiled {
                if let RoutePlan::Grpc(plan) = &route.plan {
                    let name = route.operation.trim_start_matches('/');
                    if !methods.contains_key(name) {
                        // Called by name, a method takes and returns whole messages, with the
                        // options of the first rule that exposes it.
                        let mut whole = unannotated_rule(&plan.method);
                        whole.options = rule.options.clone();
                        whole.origin = rule.origin.clone();
                        if let Ok(by_name) = compile(&whole, schema, &sources.defaults) {
                            methods.insert(Box::from(name), Arc::new(by_name));
                        }
                    }
                }
            }
            place(compiled, &rule.origin, &rule.pattern);
        }
        let mut composed_errors = Vec::new();
        let grpc_names: Vec<&str> = sources.backends.iter().map(|b| &*b.name).collect();
        for spec in &sources.target_routes {
            if let super::source::RouteTarget::Compose(compose) = &spec.target {
                match super::plans::compose::compile(
                    spec,
                    compose,
                    sources.backends,
                    sources.target_backends,
                    &sources.defaults,
                ) {
                    Ok(route) => place(Ok(route), &spec.origin, &spec.pattern),
                    Err((origin, message)) => composed_errors.push(RouteError { origin, message }),
                }
                continue;
            }
            let compiled = super::plans::compile_target(
                spec,
                sources.target_backends,
                &grpc_names,
                &sources.defaults,
            );
            place(compiled, &spec.origin, &spec.pattern);
        }
        errors.append(&mut composed_errors);
        if errors.is_empty() {
            Ok(Self {
                http,
                topics,
                websockets,
                methods,
                order,
            })
        } else {
            Err(errors)
        }
    }

    /// The route for `key`, or the canonical 404/405/400: an HTTP key is matched against the
    /// path templates, a topic against the topic templates, a WebSocket against the WebSocket
    /// paths, and a method name against the exposed gRPC methods.
    pub fn find<'t, 'k>(&'t self, key: &'k RequestKey) -> Result<Matched<'t, 'k>, Status> {
        let target = key.target();
        match key {
            RequestKey::Topic { .. } => {
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
            RequestKey::WebSocket { .. } => match self.websockets.find(&Method::GET, target) {
                Ok(found) => Ok(Matched {
                    route: found.value,
                    captures: found.bindings,
                    query: key.query(),
                }),
                Err(MatchError::InvalidPath(reason)) => Err(Status::invalid_argument(reason)),
                Err(_) => Err(Status::not_found(format!(
                    "no WebSocket route for {target}"
                ))),
            },
            RequestKey::Method { name } => {
                let route = self
                    .methods
                    .get(&**name)
                    .ok_or_else(|| Status::not_found(format!("no exposed gRPC method {name}")))?;
                Ok(Matched {
                    route,
                    captures: Captures::new(),
                    query: None,
                })
            }
            _ => {
                let method = key
                    .verb()
                    .ok_or_else(|| Status::internal("a request key without a verb"))?;
                let found = self.find_path(method, target)?;
                Ok(Matched {
                    route: found.value,
                    captures: found.bindings,
                    query: key.query(),
                })
            }
        }
    }

    /// Whether some route binds a WebSocket path.
    pub fn has_websocket_routes(&self) -> bool {
        !self.websockets.is_empty()
    }

    fn find_path<'t, 'p>(
        &'t self,
        method: &Method,
        path: &'p str,
    ) -> Result<RouteMatch<'t, 'p, Arc<Route>>, Status> {
        let found = match self.http.find(method, path) {
            // HEAD is answered by the GET route of the path unless a route claims HEAD itself;
            // the frontend sends the head of the answer only.
            Err(MatchError::MethodNotAllowed { allowed })
                if *method == Method::HEAD && allowed.contains(&Method::GET) =>
            {
                self.http.find(&Method::GET, path)
            }
            other => other,
        };
        found.map_err(|error| match error {
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
        RoutePattern::WebSocket(template) => (pattern.verb().to_owned(), template.to_string()),
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
