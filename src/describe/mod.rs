//! API descriptions built from the live route table, with no generation step: OpenAPI 3.1 for
//! the HTTP routes, AsyncAPI 3.0 for the MQTT topics and WebSocket endpoints, and the `/docs`
//! page (Swagger UI, embedded) that shows them and sends "try it" requests through polygate.
//! [`respond`] is the small router any listener mounts (the HTTP frontend when `http.api_docs`
//! is on; the admin listener can mount the same function).

pub mod asyncapi;
pub mod openapi;
mod page;
mod schema;
mod xml_schema;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, Response, StatusCode};
use serde::Deserialize;

use crate::mapping::RouteTable;

/// What the documents say about the API as a whole.
#[derive(Debug, Clone)]
pub struct Info {
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// The OpenAPI `servers` URL (`/` when served by polygate itself: "try it" requests go to
    /// the gateway that served the page).
    pub server: Option<String>,
}

impl Default for Info {
    fn default() -> Self {
        Self {
            title: "polygate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            server: None,
        }
    }
}

/// `api_docs:` as written: whether the documents and the docs page are served, and under which
/// path prefix.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiDocsConfig {
    /// Serve `/openapi.json`, `/openapi.yaml`, `/asyncapi.json` and `/docs`. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// The prefix of those paths, e.g. `/api` for `/api/openapi.json`. Default none.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

/// The validated `api_docs:` settings.
#[derive(Debug, Clone, Default)]
pub struct ApiDocsSettings {
    /// The path prefix, without a trailing `/` (empty for none).
    pub prefix: String,
    /// The WebSocket multiplexed endpoint's path, when that frontend is on.
    pub websocket_path: Option<String>,
    /// The API's base URL the OpenAPI document names (`servers`) and the docs page's "try it"
    /// calls; `None`: `/`, the listener serving the documents (the admin listener names the
    /// HTTP listener instead).
    pub server: Option<String>,
}

impl ApiDocsConfig {
    /// The settings, or `None` when off; the prefix must be a path without query.
    pub fn validate(&self) -> Result<Option<ApiDocsSettings>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let prefix = self
            .path_prefix
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/');
        let plain = |c: char| c.is_ascii_alphanumeric() || "/-._~".contains(c);
        if !prefix.is_empty() && (!prefix.starts_with('/') || !prefix.chars().all(plain)) {
            return Err(format!(
                "api_docs.path_prefix '{prefix}' must be a path starting with '/' of letters, digits and - . _ ~"
            ));
        }
        Ok(Some(ApiDocsSettings {
            prefix: prefix.to_owned(),
            websocket_path: None,
            server: None,
        }))
    }
}

impl ApiDocsSettings {
    /// Whether `path` is one of the documents or the docs page (a cheap check, so that other
    /// requests pay nothing more).
    pub fn claims(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str()).is_some_and(|rest| {
            matches!(rest, "/openapi.json" | "/openapi.yaml" | "/asyncapi.json")
                || rest.starts_with("/docs")
        })
    }
}

/// The OpenAPI 3.1 document of `table`, as JSON.
pub fn openapi_json(table: &RouteTable, info: &Info) -> Vec<u8> {
    pretty(&openapi::document(table, info))
}

/// The OpenAPI 3.1 document of `table`, as YAML.
pub fn openapi_yaml(table: &RouteTable, info: &Info) -> Vec<u8> {
    serde_saphyr::to_string(&openapi::document(table, info))
        .map(String::into_bytes)
        .unwrap_or_else(|e| format!("# cannot write YAML: {e}\n").into_bytes())
}

/// The AsyncAPI 3.0 document of `table`, as JSON.
pub fn asyncapi_json(table: &RouteTable, info: &Info, websocket_path: Option<&str>) -> Vec<u8> {
    pretty(&asyncapi::document(table, info, websocket_path))
}

fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Answers a request for one of the documents or the docs page, or `None` when `path` is none
/// of them (or the method is not GET or HEAD), so the caller routes it as usual. The documents
/// are built from `table` on every request, so they follow a reload at once.
pub fn respond(
    settings: &ApiDocsSettings,
    method: &Method,
    path: &str,
    table: &RouteTable,
) -> Option<Response<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let rest = path.strip_prefix(settings.prefix.as_str())?;
    let info = Info {
        server: Some(settings.server.clone().unwrap_or_else(|| "/".into())),
        ..Info::default()
    };
    let (content_type, body): (&'static str, Bytes) = match rest {
        "/openapi.json" => ("application/json", openapi_json(table, &info).into()),
        "/openapi.yaml" => ("application/yaml", openapi_yaml(table, &info).into()),
        "/asyncapi.json" => (
            "application/json",
            asyncapi_json(table, &info, settings.websocket_path.as_deref()).into(),
        ),
        "/docs/" => {
            let mut response = Response::new(Bytes::new());
            *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
            let location = format!("{}/docs", settings.prefix);
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(LOCATION, value);
            }
            return Some(response);
        }
        _ => page::asset(rest, &settings.prefix)?,
    };
    let mut response = Response::new(if method == Method::HEAD {
        Bytes::new()
    } else {
        body
    });
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(response)
}
