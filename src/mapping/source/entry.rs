//! The keys every mapping-file route entry shares, whichever format it is written in: what the
//! route listens on (`get` … `patch`, `custom`, `topic`, `websocket`), where the body goes and what of the
//! answer is returned, the backend, and the per-route options.
//!
//! They are declared once, in [`route_entry!`], and spliced into the `http: rules:` and `routes:`
//! entry types. serde's `flatten` would share them too, but it buffers the entry and loses the
//! line numbers (`Spanned`) that every load error reports.

use std::fmt;

use http::Method;

use crate::mapping::route::RoutePattern;
use crate::mapping::template::PathTemplate;
use crate::mapping::topic::TopicTemplate;

/// Declares a mapping-file entry type with the shared route keys first, then its own fields;
/// the type gets a `shared()` method returning [`SharedKeys`].
macro_rules! route_entry {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $type:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            /// `GET` path template.
            #[serde(default)]
            pub get: Option<serde_saphyr::Spanned<String>>,
            /// `PUT` path template.
            #[serde(default)]
            pub put: Option<serde_saphyr::Spanned<String>>,
            /// `POST` path template.
            #[serde(default)]
            pub post: Option<serde_saphyr::Spanned<String>>,
            /// `DELETE` path template.
            #[serde(default)]
            pub delete: Option<serde_saphyr::Spanned<String>>,
            /// `PATCH` path template.
            #[serde(default)]
            pub patch: Option<serde_saphyr::Spanned<String>>,
            /// Any other HTTP method.
            #[serde(default)]
            pub custom: Option<serde_saphyr::Spanned<$crate::mapping::source::CustomPattern>>,
            /// A topic template: the route takes messages published to matching topics.
            #[serde(default)]
            pub topic: Option<serde_saphyr::Spanned<String>>,
            /// A path template: a WebSocket opened on a matching path is one call of the route
            /// (the WebSocket frontend's direct binding), one text frame per message.
            #[serde(default)]
            pub websocket: Option<serde_saphyr::Spanned<String>>,
            /// Where the request body (or message payload) goes: empty for none, `*` for the
            /// whole request, or a field. Default: none for HTTP patterns, `*` for topics.
            #[serde(default)]
            pub body: Option<String>,
            /// The part of the answer returned; default the whole answer.
            #[serde(default)]
            pub response_body: Option<String>,
            /// The backend serving the route.
            #[serde(default)]
            pub backend: Option<serde_saphyr::Spanned<String>>,
            /// How long the backend may take for this route.
            #[serde(default)]
            pub timeout: Option<$crate::config::units::ConfigDuration>,
            /// What an unknown query parameter does on this route.
            #[serde(default)]
            pub unknown_query_parameters: Option<$crate::mapping::options::UnknownQueryParameters>,
            /// What a body field that a path variable also sets does on this route.
            #[serde(default)]
            pub body_field_collision: Option<$crate::mapping::options::BodyFieldCollision>,
            /// Metadata added to every backend call (name → value; `${NAME}` reads the
            /// environment variable `NAME` at load).
            #[serde(default)]
            pub metadata: Option<std::collections::BTreeMap<String, String>>,
            /// Calls of this route are safe to repeat whatever their method, so a resilient
            /// backend may retry them (docs/resilience.md). Default false.
            #[serde(default)]
            pub retryable: Option<bool>,
            /// HTTP routes: cross-origin resource sharing; replaces the config's default whole.
            #[serde(default)]
            pub cors: Option<$crate::mapping::cors::CorsConfig>,
            /// Who may call the route: `none`, `any`, or `{schemes: […], scopes: […]}`
            /// (docs/security.md). Default `policies.default_auth`.
            #[serde(default)]
            pub auth: Option<$crate::policy::config::RouteAuthConfig>,
            /// The route's rate limit: `{rate, per, burst, key, name}` (docs/security.md).
            #[serde(default)]
            pub rate_limit: Option<$crate::policy::config::RateLimitConfig>,
            /// The route's concurrency limit: `{max, queue, timeout}` (docs/security.md).
            #[serde(default)]
            pub concurrency: Option<$crate::policy::concurrency::ConcurrencyConfig>,
            /// Topic routes: the publishers taken, `{client_id_from: <topic variable>, allow:
            /// [ids or patterns with *]}`, for external brokers whose ACL ties that topic
            /// level to the client id (docs/mqtt.md).
            #[serde(default)]
            pub publishers: Option<$crate::policy::publishers::PublishersConfig>,
            /// GET and HEAD routes: the response cache, `{ttl, vary_headers, scope, negative_ttl,
            /// stale_while_revalidate, stale_if_error, assume_safe, allow_client_no_cache, tags}`
            /// (docs/compose-cache.md).
            #[serde(default)]
            pub cache: Option<$crate::cache::RouteCacheConfig>,
            /// The backend call has no side effects although its method says otherwise (a
            /// SOAP or XML POST), so the route may be cached. Default false.
            #[serde(default)]
            pub safe: Option<bool>,
            /// Topic routes: the subscription's QoS (0, 1 or 2). Default 1.
            #[serde(default)]
            pub qos: Option<u8>,
            /// Topic routes: `json` (default), `protobuf` or `raw`.
            #[serde(default)]
            pub payload: Option<$crate::mapping::messages::PayloadFormat>,
            /// Topic routes: how failed calls are retried before the message is dead-lettered.
            #[serde(default)]
            pub retry: Option<$crate::mapping::messages::RetryConfig>,
            /// Topic routes: where a failed call's error JSON is published.
            #[serde(default)]
            pub error_topic: Option<String>,
            /// Topic routes: where a message goes once its retries are spent.
            #[serde(default)]
            pub dead_letter_topic: Option<String>,
            /// Topic routes: where the answer is published when the message names no response
            /// topic.
            #[serde(default)]
            pub reply_topic: Option<String>,
            /// Topic routes: subscribe through `$share/<group>/…` so instances split the load.
            #[serde(default)]
            pub shared_group: Option<String>,
            /// Topic routes of server-streaming methods: a downlink publishing every streamed
            /// message to this topic template (variables from the message's fields).
            #[serde(default)]
            pub stream_to: Option<String>,
            $(
                $(#[$field_meta])*
                pub $field: $type,
            )*
        }

        impl $name {
            /// The keys every entry format shares.
            pub fn shared(&self) -> $crate::mapping::source::SharedKeys<'_> {
                $crate::mapping::source::SharedKeys {
                    verbs: [&self.get, &self.put, &self.post, &self.delete, &self.patch],
                    custom: &self.custom,
                    topic: &self.topic,
                    websocket: &self.websocket,
                    body: &self.body,
                    response_body: &self.response_body,
                    backend: &self.backend,
                    options: $crate::mapping::options::RouteOptionsConfig {
                        timeout: self.timeout,
                        json: None,
                        unknown_query_parameters: self.unknown_query_parameters,
                        body_field_collision: self.body_field_collision,
                        metadata: self.metadata.clone(),
                        retryable: self.retryable,
                        messages: $crate::mapping::messages::MessageOptionsConfig {
                            qos: self.qos,
                            payload: self.payload,
                            retry: self.retry.clone(),
                            error_topic: self.error_topic.clone(),
                            dead_letter_topic: self.dead_letter_topic.clone(),
                            reply_topic: self.reply_topic.clone(),
                            shared_group: self.shared_group.clone(),
                            stream_to: self.stream_to.clone(),
                        },
                        cors: self.cors.clone(),
                        auth: self.auth.clone(),
                        rate_limit: self.rate_limit.clone(),
                        concurrency: self.concurrency.clone(),
                        publishers: self.publishers.clone(),
                        cache: self.cache.clone(),
                        cache_inherited: false,
                        safe: self.safe,
                    },
                }
            }
        }
    };
}

pub(crate) use route_entry;

/// A custom HTTP method pattern.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// The HTTP method, e.g. `HEAD` or `OPTIONS`.
    pub kind: String,
    /// The path template.
    pub path: String,
}

/// The shared keys of one entry, borrowed.
pub struct SharedKeys<'a> {
    /// `get`, `put`, `post`, `delete`, `patch`, in that order.
    pub verbs: [&'a Option<serde_saphyr::Spanned<String>>; 5],
    /// `custom`.
    pub custom: &'a Option<serde_saphyr::Spanned<CustomPattern>>,
    /// `topic`.
    pub topic: &'a Option<serde_saphyr::Spanned<String>>,
    /// `websocket`.
    pub websocket: &'a Option<serde_saphyr::Spanned<String>>,
    /// `body`.
    pub body: &'a Option<String>,
    /// `response_body`.
    pub response_body: &'a Option<String>,
    /// `backend`.
    pub backend: &'a Option<serde_saphyr::Spanned<String>>,
    /// The per-route options the shared keys set.
    pub options: crate::mapping::options::RouteOptionsConfig,
}

impl SharedKeys<'_> {
    /// Every pattern the entry sets, with its line, in key order.
    pub fn patterns(&self) -> Vec<(PatternSpec, u64)> {
        let named = ["GET", "PUT", "POST", "DELETE", "PATCH"]
            .into_iter()
            .zip(self.verbs);
        let mut found: Vec<(PatternSpec, u64)> = named
            .filter_map(|(verb, value)| {
                value.as_ref().map(|v| {
                    (
                        PatternSpec::Http {
                            method: verb.to_owned(),
                            path: v.value.clone(),
                        },
                        v.referenced.line(),
                    )
                })
            })
            .collect();
        if let Some(custom) = self.custom {
            found.push((
                PatternSpec::Http {
                    method: custom.value.kind.clone(),
                    path: custom.value.path.clone(),
                },
                custom.referenced.line(),
            ));
        }
        if let Some(topic) = self.topic {
            found.push((
                PatternSpec::Topic(topic.value.clone()),
                topic.referenced.line(),
            ));
        }
        if let Some(path) = self.websocket {
            found.push((
                PatternSpec::WebSocket(path.value.clone()),
                path.referenced.line(),
            ));
        }
        found
    }

    /// The body setting for `pattern`: as written, or `*` for a topic or WebSocket path that
    /// names none (a message's payload, or a text frame, is the request).
    pub fn body_for(&self, pattern: &PatternSpec) -> String {
        match (self.body, pattern) {
            (Some(body), _) => body.clone(),
            (None, PatternSpec::Topic(_) | PatternSpec::WebSocket(_)) => "*".to_owned(),
            (None, PatternSpec::Http { .. }) => String::new(),
        }
    }
}

/// The keys that may set a pattern, as error messages list them.
pub const PATTERN_KEYS: &str = "get, put, post, delete, patch, custom, topic or websocket";

/// A pattern as written, before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternSpec {
    /// An HTTP method and a path template.
    Http {
        /// The HTTP method (`GET`, … or a custom one).
        method: String,
        /// The path template.
        path: String,
    },
    /// A topic template.
    Topic(String),
    /// A path template for WebSockets (the direct binding).
    WebSocket(String),
}

impl PatternSpec {
    /// The key that set it, as a user reads it: the HTTP method, or `topic`.
    pub fn key(&self) -> &str {
        match self {
            PatternSpec::Http { method, .. } => method,
            PatternSpec::Topic(_) => "topic",
            PatternSpec::WebSocket(_) => "websocket",
        }
    }

    /// The template text.
    pub fn address(&self) -> &str {
        match self {
            PatternSpec::Http { path, .. } => path,
            PatternSpec::Topic(topic) | PatternSpec::WebSocket(topic) => topic,
        }
    }

    /// Parses the pattern.
    pub fn compile(&self) -> Result<RoutePattern, String> {
        match self {
            PatternSpec::Http { method, path } => Ok(RoutePattern::Http {
                method: Method::from_bytes(method.as_bytes())
                    .map_err(|_| format!("'{method}' is not a valid HTTP method"))?,
                template: PathTemplate::parse(path).map_err(|e| e.to_string())?,
            }),
            PatternSpec::Topic(topic) => Ok(RoutePattern::Topic(TopicTemplate::parse(topic)?)),
            PatternSpec::WebSocket(path) => Ok(RoutePattern::WebSocket(
                PathTemplate::parse(path).map_err(|e| e.to_string())?,
            )),
        }
    }
}

impl fmt::Display for PatternSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternSpec::Http { method, path } => write!(f, "{method} {path}"),
            PatternSpec::Topic(topic) => write!(f, "PUBLISH {topic}"),
            PatternSpec::WebSocket(path) => write!(f, "WEBSOCKET {path}"),
        }
    }
}
