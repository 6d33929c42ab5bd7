//! Cross-origin resource sharing per route: the `cors:` key of a mapping rule, with a default
//! under `routes:` in the config. The HTTP frontend answers preflights and marks answers from
//! it (docs/security.md, "HTTP hygiene").

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;

use crate::config::units::ConfigDuration;

/// The `cors:` key as written. A route's `cors:` replaces the default whole.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed (`https://app.example`, scheme, host and optional port), or `["*"]` for
    /// any origin. An empty list allows none (CORS off for the route).
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for. Default `GET, HEAD, POST, PUT, PATCH, DELETE`.
    #[serde(default)]
    pub allow_methods: Option<Vec<String>>,
    /// Request headers a preflight may ask for (case-insensitive). Default `content-type`,
    /// `authorization`, `x-api-key`, `x-request-id`, `grpc-timeout`.
    #[serde(default)]
    pub allow_headers: Option<Vec<String>>,
    /// Response headers the page may read besides the CORS-safelisted ones. Default
    /// `x-request-id`.
    #[serde(default)]
    pub expose_headers: Option<Vec<String>>,
    /// How long a browser may cache a preflight answer. Default `10m`.
    #[serde(default)]
    pub max_age: Option<ConfigDuration>,
    /// Whether pages may send cookies or HTTP authentication. Default false; allowed only with
    /// an explicit `allow_origins` list.
    #[serde(default)]
    pub allow_credentials: bool,
}

/// The origins a policy allows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origins {
    /// Any origin (`*`).
    Any,
    /// These, lowercase.
    List(Vec<String>),
}

/// A route's validated CORS policy, with the header values it answers with built once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: Origins,
    methods: Vec<Method>,
    headers: Vec<HeaderName>,
    /// `Access-Control-Allow-Methods`.
    pub allow_methods: HeaderValue,
    /// `Access-Control-Allow-Headers`.
    pub allow_headers: HeaderValue,
    /// `Access-Control-Expose-Headers`, unless empty.
    pub expose_headers: Option<HeaderValue>,
    /// `Access-Control-Max-Age` in seconds.
    pub max_age: HeaderValue,
    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub allow_credentials: bool,
}

const DEFAULT_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
const DEFAULT_HEADERS: [&str; 5] = [
    "content-type",
    "authorization",
    "x-api-key",
    "x-request-id",
    "grpc-timeout",
];

impl CorsConfig {
    /// Checks the policy: origins are `scheme://host[:port]`, `*` stands alone and never with
    /// credentials, methods and header names are valid.
    pub fn resolve(&self) -> Result<CorsPolicy, String> {
        let any = self.allow_origins.iter().any(|o| o == "*");
        let origins = if any {
            if self.allow_origins.len() > 1 {
                return Err("cors.allow_origins: '*' must stand alone".into());
            }
            if self.allow_credentials {
                return Err(
                    "cors.allow_credentials needs an explicit allow_origins list, not '*'".into(),
                );
            }
            Origins::Any
        } else {
            for origin in &self.allow_origins {
                check_origin(origin)?;
            }
            Origins::List(
                self.allow_origins
                    .iter()
                    .map(|o| o.to_ascii_lowercase())
                    .collect(),
            )
        };
        let methods = match &self.allow_methods {
            Some(methods) => methods
                .iter()
                .map(|m| {
                    Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                        .map_err(|_| format!("cors.allow_methods: '{m}' is not a method"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => DEFAULT_METHODS
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
        };
        let names = |key: &str, names: Option<&Vec<String>>, default: &[&str]| {
            let names: Vec<String> = match names {
                Some(names) => names.clone(),
                None => default.iter().map(|n| (*n).to_owned()).collect(),
            };
            names
                .iter()
                .map(|n| {
                    HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes())
                        .map_err(|_| format!("cors.{key}: '{n}' is not a header name"))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let headers = names(
            "allow_headers",
            self.allow_headers.as_ref(),
            &DEFAULT_HEADERS,
        )?;
        let exposed = names(
            "expose_headers",
            self.expose_headers.as_ref(),
            &["x-request-id"],
        )?;
        let join = |items: Vec<&str>| {
            HeaderValue::from_str(&items.join(", "))
                .map_err(|_| "cors: a list is not a valid header value".to_owned())
        };
        let max_age = self.max_age.map_or(Duration::from_secs(600), |d| d.0);
        Ok(CorsPolicy {
            allow_methods: join(methods.iter().map(Method::as_str).collect())?,
            allow_headers: join(headers.iter().map(HeaderName::as_str).collect())?,
            expose_headers: if exposed.is_empty() {
                None
            } else {
                Some(join(exposed.iter().map(HeaderName::as_str).collect())?)
            },
            max_age: HeaderValue::from(max_age.as_secs()),
            allow_credentials: self.allow_credentials,
            origins,
            methods,
            headers,
        })
    }
}

fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let valid = rest.is_some_and(|host| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "cors.allow_origins: '{origin}' is not an origin such as https://app.example or http://localhost:3000"
        ))
    }
}

impl CorsPolicy {
    /// Whether a page from `origin` may call the route.
    pub fn allows_origin(&self, origin: &[u8]) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::List(list) => list
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin)),
        }
    }

    /// Whether any origin is allowed (answers carry `*` rather than the origin).
    pub fn any_origin(&self) -> bool {
        self.origins == Origins::Any
    }

    /// Whether a preflight may ask for `method`.
    pub fn allows_method(&self, method: &[u8]) -> bool {
        self.methods.iter().any(|m| m.as_str().as_bytes() == method)
    }

    /// Whether a preflight may ask for every header of `requested` (a comma-separated list,
    /// as `Access-Control-Request-Headers` carries it).
    pub fn allows_headers(&self, requested: &str) -> bool {
        requested
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .all(|name| {
                self.headers
                    .iter()
                    .any(|h| h.as_str().eq_ignore_ascii_case(name))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &[&str], credentials: bool) -> CorsConfig {
        CorsConfig {
            allow_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            allow_credentials: credentials,
            ..Default::default()
        }
    }

    #[test]
    fn credentials_need_an_explicit_origin_list() {
        assert_eq!(
            config(&["*"], true).resolve().unwrap_err(),
            "cors.allow_credentials needs an explicit allow_origins list, not '*'"
        );
        assert!(config(&["https://app.example"], true).resolve().is_ok());
        assert!(config(&["*", "https://a.example"], false)
            .resolve()
            .is_err());
        assert!(config(&["app.example"], false).resolve().is_err());
        assert!(config(&["https://app.example/path"], false)
            .resolve()
            .is_err());
    }

    #[test]
    fn origins_methods_and_headers_are_checked() {
        let policy = config(&["https://App.example"], false).resolve().unwrap();
        assert!(policy.allows_origin(b"https://app.example"));
        assert!(!policy.allows_origin(b"https://evil.example"));
        assert!(!policy.any_origin());
        assert!(policy.allows_method(b"PATCH"));
        assert!(!policy.allows_method(b"TRACE"));
        assert!(policy.allows_headers("Content-Type, X-Request-Id"));
        assert!(!policy.allows_headers("content-type, x-admin"));
        assert_eq!(policy.max_age, "600");
        assert_eq!(policy.allow_methods, "GET, HEAD, POST, PUT, PATCH, DELETE");
        let any = config(&["*"], false).resolve().unwrap();
        assert!(any.any_origin() && any.allows_origin(b"https://whoever.example"));
    }
}
