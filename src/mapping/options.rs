//! Per-route options: set globally under `routes:` in the config and per rule in mapping files.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::cors::{CorsConfig, CorsPolicy};
use super::messages::{MessageOptions, MessageOptionsConfig};
use super::route::RoutePattern;

use crate::cache::{RouteCacheConfig, RouteCachePolicy};
use crate::codec::protojson::JsonOptions;
use crate::config::units::ConfigDuration;
use crate::policy::concurrency::ConcurrencyConfig;
use crate::policy::config::{RateLimitConfig, RouteAuthConfig};
use crate::policy::publishers::{Publishers, PublishersConfig};
use crate::policy::RoutePolicy;

/// What an unknown query parameter does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownQueryParameters {
    /// 400, naming the parameter (default).
    #[default]
    Reject,
    /// Dropped silently.
    Ignore,
}

/// What a body field that a path variable also sets does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BodyFieldCollision {
    /// The path's value wins (default).
    #[default]
    PathWins,
    /// 400, naming the field.
    Reject,
}

/// What an unknown field in a JSON request body does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownFields {
    /// Dropped silently (default).
    #[default]
    Ignore,
    /// 400, naming the field.
    Reject,
}

/// What an enum name that the field's enum does not define does, in a JSON body or a URL value.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownEnumValues {
    /// 400, naming the field and the value (default).
    #[default]
    Reject,
    /// The field is left unset.
    Ignore,
}

/// JSON options as written in the config; unset fields inherit.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JsonOptionsConfig {
    /// Write fields that hold their default value (scalars, repeated fields and maps). Default false.
    #[serde(default)]
    pub emit_unpopulated: Option<bool>,
    /// Write proto field names (`price_cents`) instead of lowerCamelCase (`priceCents`). Default false.
    #[serde(default)]
    pub use_proto_names: Option<bool>,
    /// Write enums as numbers instead of names. Default false.
    #[serde(default)]
    pub enums_as_ints: Option<bool>,
    /// `ignore` (default) or `reject` unknown fields in request bodies.
    #[serde(default)]
    pub unknown_fields: Option<UnknownFields>,
    /// `reject` (default) or `ignore` enum names the enum does not define.
    #[serde(default)]
    pub unknown_enum_values: Option<UnknownEnumValues>,
    /// PATCH routes whose body is one field and whose request has a `FieldMask update_mask`:
    /// when the client sets no mask, fill it from the JSON keys of the body. Default true.
    #[serde(default)]
    pub update_mask_from_body: Option<bool>,
}

impl JsonOptionsConfig {
    fn or(&self, fallback: &Self) -> Self {
        Self {
            emit_unpopulated: self.emit_unpopulated.or(fallback.emit_unpopulated),
            use_proto_names: self.use_proto_names.or(fallback.use_proto_names),
            enums_as_ints: self.enums_as_ints.or(fallback.enums_as_ints),
            unknown_fields: self.unknown_fields.or(fallback.unknown_fields),
            unknown_enum_values: self.unknown_enum_values.or(fallback.unknown_enum_values),
            update_mask_from_body: self
                .update_mask_from_body
                .or(fallback.update_mask_from_body),
        }
    }

    /// The transcoder's options, defaults filled in.
    pub fn resolve(&self) -> JsonOptions {
        JsonOptions {
            emit_unpopulated: self.emit_unpopulated.unwrap_or(false),
            use_proto_names: self.use_proto_names.unwrap_or(false),
            enums_as_ints: self.enums_as_ints.unwrap_or(false),
            ignore_unknown_fields: self.unknown_fields.unwrap_or_default() == UnknownFields::Ignore,
            ignore_unknown_enum_values: self.unknown_enum_values.unwrap_or_default()
                == UnknownEnumValues::Ignore,
        }
    }
}

/// Route options as written; unset fields inherit from the level above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteOptionsConfig {
    /// How long the backend may take.
    pub timeout: Option<ConfigDuration>,
    /// JSON options.
    pub json: Option<JsonOptionsConfig>,
    /// Unknown query parameters.
    pub unknown_query_parameters: Option<UnknownQueryParameters>,
    /// Body/path collisions.
    pub body_field_collision: Option<BodyFieldCollision>,
    /// Metadata added to every backend call (name → value, or `${ENV_NAME}`).
    pub metadata: Option<BTreeMap<String, String>>,
    /// Calls of the route are safe to repeat, whatever their method (docs/resilience.md).
    pub retryable: Option<bool>,
    /// Options of topic routes.
    pub messages: MessageOptionsConfig,
    /// Cross-origin resource sharing (HTTP routes); replaces the default whole.
    pub cors: Option<CorsConfig>,
    /// Who may call the route (`none`, `any`, or schemes and scopes); unset takes
    /// `policies.default_auth`.
    pub auth: Option<RouteAuthConfig>,
    /// The route's rate limit.
    pub rate_limit: Option<RateLimitConfig>,
    /// The route's concurrency limit.
    pub concurrency: Option<ConcurrencyConfig>,
    /// Topic routes: the publishers taken, by the client id in a topic level (route only).
    pub publishers: Option<PublishersConfig>,
    /// The response cache (docs/compose-cache.md); replaces the default whole.
    pub cache: Option<RouteCacheConfig>,
    /// The cache setting came from the config's `routes:` (applied only where it can be).
    pub cache_inherited: bool,
    /// The backend call has no side effects whatever its method (a SOAP or XML POST), so
    /// the route may be cached.
    pub safe: Option<bool>,
}

impl RouteOptionsConfig {
    /// These options, with unset ones taken from `fallback`.
    pub fn or(&self, fallback: &Self) -> Self {
        Self {
            timeout: self.timeout.or(fallback.timeout),
            json: match (&self.json, &fallback.json) {
                (Some(mine), Some(theirs)) => Some(mine.or(theirs)),
                (mine, theirs) => mine.clone().or_else(|| theirs.clone()),
            },
            unknown_query_parameters: self
                .unknown_query_parameters
                .or(fallback.unknown_query_parameters),
            body_field_collision: self.body_field_collision.or(fallback.body_field_collision),
            metadata: self.metadata.clone().or_else(|| fallback.metadata.clone()),
            retryable: self.retryable.or(fallback.retryable),
            messages: self.messages.or(&fallback.messages),
            cors: self.cors.clone().or_else(|| fallback.cors.clone()),
            auth: self.auth.clone().or_else(|| fallback.auth.clone()),
            rate_limit: self
                .rate_limit
                .clone()
                .or_else(|| fallback.rate_limit.clone()),
            concurrency: self
                .concurrency
                .clone()
                .or_else(|| fallback.concurrency.clone()),
            publishers: self
                .publishers
                .clone()
                .or_else(|| fallback.publishers.clone()),
            cache: self.cache.clone().or_else(|| fallback.cache.clone()),
            cache_inherited: match self.cache {
                Some(_) => self.cache_inherited,
                None => fallback.cache.is_some(),
            },
            safe: self.safe.or(fallback.safe),
        }
    }

    /// The settings a route listening on `pattern` runs with, defaults filled in.
    pub fn resolve(&self, pattern: &RoutePattern) -> Result<RouteOptions, String> {
        let messages = match pattern {
            RoutePattern::Topic(template) => {
                let variables: Vec<String> =
                    template.variables().iter().map(|v| v.to_string()).collect();
                Some(Arc::new(self.messages.resolve(&variables)?))
            }
            RoutePattern::Http { .. } | RoutePattern::WebSocket(_) if self.messages.is_set() => {
                return Err(
                    "qos, payload, retry, error_topic, dead_letter_topic, reply_topic, shared_group and stream_to apply to topic routes only".into(),
                )
            }
            RoutePattern::Http { .. } | RoutePattern::WebSocket(_) => None,
        };
        Ok(RouteOptions {
            timeout: self.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
            update_mask_from_body: self
                .json
                .as_ref()
                .and_then(|j| j.update_mask_from_body)
                .unwrap_or(true),
            json: self.json.clone().unwrap_or_default().resolve(),
            unknown_query_parameters: self.unknown_query_parameters.unwrap_or_default(),
            body_field_collision: self.body_field_collision.unwrap_or_default(),
            metadata: resolve_metadata(self.metadata.as_ref(), |name| std::env::var(name).ok())?,
            retryable: self.retryable.unwrap_or(false),
            policy: RoutePolicy::build_for(
                &format!("{} {}", pattern.verb(), pattern.address()),
                self.auth.as_ref(),
                self.rate_limit.as_ref(),
                self.concurrency.as_ref(),
                messages.is_some(),
            )?
            .with_publishers(match (&self.publishers, pattern) {
                (None, _) => None,
                (Some(config), RoutePattern::Topic(template)) => Some(Publishers::build(
                    config,
                    template.level_of(&config.client_id_from),
                )?),
                (Some(_), _) => return Err("publishers: applies to topic routes only".into()),
            }),
            messages,
            cache: match &self.cache {
                Some(cache) => Some(Arc::new(cache.resolve()?)),
                None => None,
            },
            cache_inherited: self.cache_inherited,
            safe: self.safe.unwrap_or(false),
            // Topic routes have no browser to answer; the default is not theirs.
            cors: match (&self.cors, pattern) {
                (Some(cors), RoutePattern::Http { .. } | RoutePattern::WebSocket(_)) => {
                    Some(Arc::new(cors.resolve()?))
                }
                _ => None,
            },
        })
    }
}

/// Static metadata as header pairs; a value written `${NAME}` is the environment variable
/// `NAME`, read once at load.
fn resolve_metadata(
    metadata: Option<&BTreeMap<String, String>>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let Some(metadata) = metadata else {
        return Ok(Vec::new());
    };
    metadata
        .iter()
        .map(|(name, value)| {
            let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                .ok()
                .filter(|h| !h.as_str().starts_with("grpc-"))
                .ok_or_else(|| {
                    format!("metadata: '{name}' is not a metadata key (lowercase letters, digits, '-', '_', '.'; not grpc-*)")
                })?;
            let text = match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
                Some(variable) => env(variable).ok_or_else(|| {
                    format!("metadata.{name}: the environment variable {variable} is not set")
                })?,
                None => value.clone(),
            };
            let value = HeaderValue::from_str(&text)
                .map_err(|_| format!("metadata.{name}: the value is not printable ASCII"))?;
            Ok((header, value))
        })
        .collect()
}

/// The backend timeout of a route that sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The options a route runs with.
#[derive(Debug, Clone)]
pub struct RouteOptions {
    /// How long the backend may take, unless the client asks for less with `Grpc-Timeout`.
    pub timeout: Duration,
    /// JSON options.
    pub json: JsonOptions,
    /// PATCH with a body field and no `update_mask`: the mask is filled from the body's keys.
    pub update_mask_from_body: bool,
    /// Unknown query parameters.
    pub unknown_query_parameters: UnknownQueryParameters,
    /// Body/path collisions.
    pub body_field_collision: BodyFieldCollision,
    /// Metadata added to every backend call, replacing forwarded metadata of the same name.
    pub metadata: Vec<(HeaderName, HeaderValue)>,
    /// Calls are safe to repeat whatever their method (`retryable: true`); default false.
    pub retryable: bool,
    /// The options of a topic route; `None` for HTTP routes.
    pub messages: Option<Arc<MessageOptions>>,
    /// The route's CORS policy, if it has one.
    pub cors: Option<Arc<CorsPolicy>>,
    /// Authentication and rate limit, applied by `policy::Policies::admit`.
    pub policy: RoutePolicy,
    /// The response cache policy, on cacheable routes that set one.
    pub cache: Option<Arc<RouteCachePolicy>>,
    /// The cache policy is the config's default, not the route's own.
    pub cache_inherited: bool,
    /// The route is marked `safe: true`.
    pub safe: bool,
}

impl RouteOptions {
    /// Keeps the cache policy only where it can apply: a unary GET or HEAD route whose
    /// backend call is safe (`target` says why not). A route's own `cache:` that cannot apply
    /// is an error; a default from `routes:` is dropped silently.
    pub(crate) fn check_cache(
        &mut self,
        pattern: &RoutePattern,
        unary: bool,
        target: Result<(), String>,
    ) -> Result<(), String> {
        if self.cache.is_none() {
            return Ok(());
        }
        let refusal = match pattern {
            RoutePattern::Http { method, .. }
                if *method == http::Method::GET || *method == http::Method::HEAD =>
            {
                if unary {
                    target.err()
                } else {
                    Some("cache: streaming methods are never cached".to_owned())
                }
            }
            _ => Some(format!(
                "cache: only GET and HEAD routes are cached, not {}",
                pattern.verb()
            )),
        };
        match refusal {
            None => Ok(()),
            Some(_) if self.cache_inherited => {
                self.cache = None;
                Ok(())
            }
            Some(reason) => Err(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_metadata_reads_the_environment_once_and_refuses_bad_keys() {
        let env = |name: &str| (name == "INSTANCE").then(|| "a".to_owned());
        let written: BTreeMap<String, String> = [
            ("X-Gateway-Instance".to_owned(), "${INSTANCE}".to_owned()),
            ("x-static".to_owned(), "v".to_owned()),
        ]
        .into();
        let resolved = resolve_metadata(Some(&written), env).unwrap();
        assert_eq!(
            resolved,
            vec![
                (
                    HeaderName::from_static("x-gateway-instance"),
                    HeaderValue::from_static("a")
                ),
                (
                    HeaderName::from_static("x-static"),
                    HeaderValue::from_static("v")
                ),
            ]
        );
        let missing: BTreeMap<String, String> = [("x-k".to_owned(), "${NOPE}".to_owned())].into();
        assert_eq!(
            resolve_metadata(Some(&missing), env).unwrap_err(),
            "metadata.x-k: the environment variable NOPE is not set"
        );
        let reserved: BTreeMap<String, String> = [("grpc-x".to_owned(), "v".to_owned())].into();
        assert!(resolve_metadata(Some(&reserved), env).is_err());
    }

    #[test]
    fn publishers_name_a_topic_variable_of_a_topic_route() {
        let options = |from: &str| RouteOptionsConfig {
            publishers: Some(PublishersConfig {
                client_id_from: from.into(),
                allow: vec!["dev-*".into()],
            }),
            ..RouteOptionsConfig::default()
        };
        let topic = RoutePattern::Topic(
            crate::mapping::topic::TopicTemplate::parse("site/{site}/devices/{device}/t").unwrap(),
        );
        let resolved = options("device").resolve(&topic).unwrap();
        let publishers = resolved.policy.publishers.unwrap();
        assert_eq!(publishers.check("site/s/devices/dev-1/t"), ("dev-1", true));
        assert_eq!(publishers.check("site/dev-1/devices/x/t"), ("x", false));
        assert_eq!(
            options("nope").resolve(&topic).unwrap_err(),
            "publishers.client_id_from: 'nope' is not a variable of the route's topic"
        );
        let http = RoutePattern::WebSocket(
            crate::mapping::template::PathTemplate::parse("/v1/{device}").unwrap(),
        );
        assert_eq!(
            options("device").resolve(&http).unwrap_err(),
            "publishers: applies to topic routes only"
        );
    }
}
