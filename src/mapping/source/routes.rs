//! The `routes:` list of a mapping file: polygate-native routes to SOAP, plain-XML and REST
//! backends, as written (serde types, unknown keys refused) and as read (with file and line).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::entry::{route_entry, PatternSpec, PATTERN_KEYS};
use super::RuleOrigin;
use crate::codec::xml::{XmlMapping, XmlMappingConfig};
use crate::mapping::options::RouteOptionsConfig;

route_entry! {
    /// One entry of `routes:`: the shared route keys (one pattern, a backend), and exactly one
    /// target block.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RouteEntry {
        /// Output key → slash-separated path: the answer becomes an object of these values (keys
        /// in name order; missing values are left out). Excludes `response_body`.
        #[serde(default)]
        pub response_fields: Option<BTreeMap<String, String>>,
        /// Request headers to add (name → value) and remove (names) before calling the backend.
        #[serde(default)]
        pub headers: Option<HeaderEditsConfig>,
        /// A SOAP operation of a `soap` backend.
        #[serde(default)]
        pub soap: Option<SoapTargetConfig>,
        /// A request to a plain-XML `xml` backend.
        #[serde(default)]
        pub xml: Option<XmlTargetConfig>,
        /// A request to a REST/JSON `rest` backend.
        #[serde(default)]
        pub rest: Option<RestTargetConfig>,
        /// A publish to an `mqtt` backend.
        #[serde(default)]
        pub publish: Option<PublishTargetConfig>,
        /// The JSON ⇄ XML mapping for this route, replacing the file's `xml_mapping`.
        #[serde(default)]
        pub xml_mapping: Option<Spanned<XmlMappingConfig>>,
        /// A composed route: named steps instead of one target (docs/compose-cache.md).
        #[serde(default)]
        pub compose: Option<Vec<Spanned<super::compose::StepConfig>>>,
        /// Composed routes: partial answers carry an `errors` array. Default false.
        #[serde(default)]
        pub errors: Option<bool>,
    }
}

/// Request header edits.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HeaderEditsConfig {
    /// Headers to set (replacing a forwarded header of the same name).
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Headers not to forward.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `soap:` — one operation of a SOAP backend.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SoapTargetConfig {
    /// The request element under `Body` (`Add`, or `t:Add` with a prefix of the XML mapping):
    /// the request JSON becomes its content. Required unless `template` is given.
    #[serde(default)]
    pub operation: Option<String>,
    /// The SOAP action (`SOAPAction` header in 1.1, `action` parameter in 1.2); default empty.
    #[serde(default)]
    pub action: Option<String>,
    /// The `Body` content as XML with `{{path}}` placeholders, instead of `operation`.
    #[serde(default)]
    pub template: Option<String>,
}

/// `xml:` — a request to a plain-XML backend.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct XmlTargetConfig {
    /// The upstream method; default: the route's.
    #[serde(default)]
    pub method: Option<String>,
    /// The upstream path and query under the backend's URL, with `{variable}` placeholders
    /// for the route's path variables (`/orders/{id}.xml`).
    pub path: String,
    /// The request document's root element: the request JSON becomes its content.
    #[serde(default)]
    pub root: Option<String>,
    /// The request document as XML with `{{path}}` placeholders, instead of `root`.
    #[serde(default)]
    pub template: Option<String>,
    /// Append the client's query string to the upstream URL when no request document is
    /// built (default true).
    #[serde(default)]
    pub forward_query: Option<bool>,
    /// Pass the backend's status, headers and error body on as it sent them; default: the
    /// backend's `pass_through` (true).
    #[serde(default)]
    pub pass_through: Option<bool>,
}

/// `rest:` — a request to a REST/JSON backend.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RestTargetConfig {
    /// The upstream method; default: the route's.
    #[serde(default)]
    pub method: Option<String>,
    /// The upstream path and query under the backend's URL, with `{variable}` placeholders
    /// for the route's path variables (`/api/users.php?uid={id}`).
    pub path: String,
    /// Append the client's query string to the upstream URL (default true).
    #[serde(default)]
    pub forward_query: Option<bool>,
    /// Pass the backend's status, headers and error body on as it sent them; default: the
    /// backend's `pass_through` (true).
    #[serde(default)]
    pub pass_through: Option<bool>,
    /// Rewrites of the query string sent upstream: `rename`, `add`, `drop`.
    #[serde(default)]
    pub query: Option<QueryRewriteConfig>,
    /// Members set in the JSON body sent upstream (dotted paths for nested members), each a
    /// static value or text with `{variable}` placeholders for the route's path variables.
    #[serde(default)]
    pub set_body: BTreeMap<String, BodyValueConfig>,
}

/// `rest: {query: …}` — how the query string sent upstream differs from the client's.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueryRewriteConfig {
    /// Client parameter name → upstream name (`pageSize: limit`).
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Parameters added, each text with `{variable}` placeholders (`format: json`,
    /// `uid: "{id}"`).
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Client parameters not sent upstream.
    #[serde(default)]
    pub drop: Vec<String>,
}

/// A value `set_body` writes: a boolean, an integer, or text (with `{variable}` placeholders).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum BodyValueConfig {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Text; `{variable}` placeholders take the route's path variables.
    Text(String),
}

/// `publish:` — a message published to an MQTT backend's broker.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PublishTargetConfig {
    /// The topic, with `{variable}` levels filled from the route's variables
    /// (`sites/{site}/devices/{device_id}/commands`).
    pub topic: String,
}

/// Which kind of backend a route targets, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// `soap:`.
    Soap(SoapTargetConfig),
    /// `xml:`.
    Xml(XmlTargetConfig),
    /// `rest:`.
    Rest(RestTargetConfig),
    /// `publish:`.
    Publish(PublishTargetConfig),
    /// `compose:`.
    Compose(super::compose::ComposeSpec),
}

/// A route of `routes:`, read and checked as far as the file alone allows.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// What the route listens on.
    pub pattern: PatternSpec,
    /// The backend's name.
    pub backend: String,
    /// The target block.
    pub target: RouteTarget,
    /// `body`.
    pub body: String,
    /// `response_body`.
    pub response_body: String,
    /// `response_fields`.
    pub response_fields: BTreeMap<String, String>,
    /// `headers`.
    pub headers: HeaderEditsConfig,
    /// Per-route options.
    pub options: RouteOptionsConfig,
    /// The compiled XML mapping (the route's, else the file's, else the default).
    pub xml_mapping: XmlMapping,
    /// Where the route was written.
    pub origin: RuleOrigin,
}

/// Reads the `routes:` of a mapping file; errors carry the line they were found at.
pub(crate) fn read_routes(
    entries: Vec<RouteEntry>,
    file_mapping: Option<Spanned<XmlMappingConfig>>,
    path: &Path,
) -> Result<Vec<RouteSpec>, (u64, String)> {
    let file_mapping = match file_mapping {
        Some(config) => compile_mapping(&config)?,
        None => XmlMapping::default(),
    };
    let mut routes = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        routes.push(read_route(entry, index, &file_mapping, path)?);
    }
    Ok(routes)
}

fn compile_mapping(config: &Spanned<XmlMappingConfig>) -> Result<XmlMapping, (u64, String)> {
    XmlMapping::new(&config.value)
        .map_err(|e| (config.referenced.line(), format!("xml_mapping: {e}")))
}

fn read_route(
    entry: RouteEntry,
    index: usize,
    file_mapping: &XmlMapping,
    path: &Path,
) -> Result<RouteSpec, (u64, String)> {
    let shared = entry.shared();
    let patterns = shared.patterns();
    let backend_line = entry.backend.as_ref().map_or(0, |b| b.referenced.line());
    let (pattern, line) = match patterns.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err((
                backend_line,
                format!("routes[{index}] has no {PATTERN_KEYS} pattern"),
            ))
        }
        [_, (second, line), ..] => {
            return Err((
                *line,
                format!(
                "routes[{index}] has more than one pattern ({} too); write one route per pattern",
                second.key()
            ),
            ))
        }
    };
    if let Some(steps) = &entry.compose {
        if entry.backend.is_some()
            || entry.soap.is_some()
            || entry.xml.is_some()
            || entry.rest.is_some()
            || entry.publish.is_some()
        {
            return Err((
                line,
                format!("the route {pattern} is composed: its steps name the backends and targets, not the route"),
            ));
        }
        let spec = super::compose::ComposeSpec {
            steps: steps
                .iter()
                .map(|step| super::compose::StepSpec {
                    config: step.value.clone(),
                    line: step.referenced.line(),
                })
                .collect(),
            errors: entry.errors.unwrap_or(false),
        };
        return Ok(RouteSpec {
            body: shared.body_for(&pattern),
            pattern,
            backend: String::new(),
            target: RouteTarget::Compose(spec),
            response_body: String::new(),
            response_fields: BTreeMap::new(),
            headers: HeaderEditsConfig::default(),
            options: shared.options,
            xml_mapping: match &entry.xml_mapping {
                Some(config) => compile_mapping(config)?,
                None => file_mapping.clone(),
            },
            origin: RuleOrigin::MappingFile {
                path: path.to_path_buf(),
                line,
            },
        });
    }
    if entry.errors.is_some() {
        return Err((
            line,
            format!("the route {pattern}: errors: is for composed routes"),
        ));
    }
    let Some(backend) = &entry.backend else {
        return Err((line, format!("the route {pattern} names no backend")));
    };
    let target = match (&entry.soap, &entry.xml, &entry.rest, &entry.publish) {
        (Some(soap), None, None, None) => RouteTarget::Soap(soap.clone()),
        (None, Some(xml), None, None) => RouteTarget::Xml(xml.clone()),
        (None, None, Some(rest), None) => RouteTarget::Rest(rest.clone()),
        (None, None, None, Some(publish)) => RouteTarget::Publish(publish.clone()),
        _ => {
            return Err((
                line,
                format!("the route {pattern} needs exactly one of soap:, xml:, rest: or publish:"),
            ))
        }
    };
    if entry.response_body.is_some() && entry.response_fields.is_some() {
        return Err((
            line,
            format!("the route {pattern} sets both response_body and response_fields; choose one"),
        ));
    }
    let xml_mapping = match &entry.xml_mapping {
        Some(config) => compile_mapping(config)?,
        None => file_mapping.clone(),
    };
    Ok(RouteSpec {
        body: shared.body_for(&pattern),
        pattern,
        backend: backend.value.clone(),
        target,
        response_body: entry.response_body.clone().unwrap_or_default(),
        response_fields: entry.response_fields.clone().unwrap_or_default(),
        headers: entry.headers.clone().unwrap_or_default(),
        options: shared.options,
        xml_mapping,
        origin: RuleOrigin::MappingFile {
            path: path.to_path_buf(),
            line,
        },
    })
}
