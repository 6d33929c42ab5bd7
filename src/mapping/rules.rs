//! Route sources: `google.api.http` annotations in the descriptors, and mapping files in the
//! `http: rules:` form of a google.api.Service YAML (what grpc-gateway, ESP and Envoy users have),
//! with polygate's per-rule additions.

use std::fmt;
use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::legacy::{read_routes, LegacyRouteSpec, RouteEntry};
use super::options::{
    BodyFieldCollision, JsonOptionsConfig, RouteOptionsConfig, UnknownQueryParameters,
};
use crate::codec::xml::XmlMappingConfig;
use crate::config::units::ConfigDuration;

/// Where a rule was written, for error messages and the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOrigin {
    /// A `google.api.http` option on a method in a `.proto` file.
    Annotation {
        /// The `.proto` file name.
        file: String,
        /// The method's full name.
        method: String,
    },
    /// A rule in a mapping file.
    MappingFile {
        /// The mapping file.
        path: PathBuf,
        /// The line of the rule's selector.
        line: u64,
    },
    /// A method without a rule, exposed as `POST /pkg.Service/Method`.
    Unannotated {
        /// The method's full name.
        method: String,
    },
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOrigin::Annotation { file, method } => {
                write!(f, "{file} (google.api.http on {method})")
            }
            RuleOrigin::MappingFile { path, line } => write!(f, "{}:{line}", path.display()),
            RuleOrigin::Unannotated { method } => write!(f, "unannotated method {method}"),
        }
    }
}

/// One HTTP binding of a method, from whichever source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// The method's full name, `pkg.Service.Method`.
    pub selector: String,
    /// The HTTP method (`GET`, … or a custom one).
    pub http_method: String,
    /// The path template.
    pub path: String,
    /// `body`: empty (none), `*`, or a field path.
    pub body: String,
    /// `response_body`: empty (whole message) or a field path.
    pub response_body: String,
    /// The backend that serves it, when the mapping names one.
    pub backend: Option<String>,
    /// Per-rule options from a mapping file.
    pub options: RouteOptionsConfig,
    /// Where it was written.
    pub origin: RuleOrigin,
}

/// The rules in the `google.api.http` annotations of every method in `pool`.
pub fn rules_from_annotations(pool: &DescriptorPool) -> Vec<RuleSpec> {
    let Some(http) = pool.get_extension_by_name("google.api.http") else {
        return Vec::new();
    };
    let mut rules = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue;
            }
            if let Value::Message(rule) = options.get_extension(&http).as_ref() {
                let origin = RuleOrigin::Annotation {
                    file: method.parent_file().name().to_owned(),
                    method: method.full_name().to_owned(),
                };
                push_annotated_rule(&method, rule, &origin, &mut rules, true);
            }
        }
    }
    rules
}

fn push_annotated_rule(
    method: &MethodDescriptor,
    rule: &DynamicMessage,
    origin: &RuleOrigin,
    rules: &mut Vec<RuleSpec>,
    top_level: bool,
) {
    let text = |name: &str| match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let pattern = ["get", "put", "post", "delete", "patch"]
        .into_iter()
        .find_map(|verb| {
            rule.has_field_by_name(verb)
                .then(|| (verb.to_ascii_uppercase(), text(verb)))
        })
        .or_else(|| match rule.get_field_by_name("custom").as_deref() {
            Some(Value::Message(custom)) if rule.has_field_by_name("custom") => {
                let part = |name: &str| match custom.get_field_by_name(name).as_deref() {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                Some((part("kind"), part("path")))
            }
            _ => None,
        });
    if let Some((http_method, path)) = pattern {
        rules.push(RuleSpec {
            selector: method.full_name().to_owned(),
            http_method,
            path,
            body: text("body"),
            response_body: text("response_body"),
            backend: None,
            options: RouteOptionsConfig::default(),
            origin: origin.clone(),
        });
    }
    // additional_bindings may not nest (http.proto), so only the top level is expanded.
    if top_level {
        if let Some(Value::List(more)) = rule.get_field_by_name("additional_bindings").as_deref() {
            for binding in more {
                if let Value::Message(binding) = binding {
                    push_annotated_rule(method, binding, origin, rules, false);
                }
            }
        }
    }
}

/// A mapping file: the `http:` section of a google.api.Service YAML. The other top-level keys
/// such a file usually has are accepted and ignored; anything else is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// `google.api.Service`, when present.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Ignored (google.api.Service).
    #[serde(default)]
    pub config_version: Option<u32>,
    /// Ignored (google.api.Service).
    #[serde(default)]
    pub name: Option<String>,
    /// Ignored (google.api.Service).
    #[serde(default)]
    pub title: Option<String>,
    /// The HTTP rules.
    #[serde(default)]
    pub http: Option<HttpSection>,
    /// polygate-native routes to SOAP, plain-XML and REST backends (docs/xml-soap.md).
    #[serde(default)]
    pub routes: Vec<RouteEntry>,
    /// The JSON ⇄ XML mapping of this file's `routes:` (docs/xml-soap.md).
    #[serde(default)]
    pub xml_mapping: Option<Spanned<XmlMappingConfig>>,
}

/// The `http:` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// The rules, one or more per method.
    #[serde(default)]
    pub rules: Vec<HttpRuleConfig>,
    /// Accepted for compatibility; polygate's decoding rules are fixed (see the README).
    #[serde(default)]
    pub fully_decode_reserved_expansion: Option<bool>,
}

/// A custom HTTP method pattern.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// The HTTP method, e.g. `HEAD` or `OPTIONS`.
    pub kind: String,
    /// The path template.
    pub path: String,
}

/// One rule of a mapping file: google.api.HttpRule in YAML, plus polygate's additions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRuleConfig {
    /// The method's full name, `pkg.Service.Method` (required at the top level only).
    #[serde(default)]
    pub selector: Option<Spanned<String>>,
    /// `GET` path template.
    #[serde(default)]
    pub get: Option<Spanned<String>>,
    /// `PUT` path template.
    #[serde(default)]
    pub put: Option<Spanned<String>>,
    /// `POST` path template.
    #[serde(default)]
    pub post: Option<Spanned<String>>,
    /// `DELETE` path template.
    #[serde(default)]
    pub delete: Option<Spanned<String>>,
    /// `PATCH` path template.
    #[serde(default)]
    pub patch: Option<Spanned<String>>,
    /// Any other HTTP method.
    #[serde(default)]
    pub custom: Option<Spanned<CustomPattern>>,
    /// The request field the body maps to: `*` for the whole message, empty for none.
    #[serde(default)]
    pub body: Option<String>,
    /// The response field returned as the body; empty for the whole message.
    #[serde(default)]
    pub response_body: Option<String>,
    /// More bindings for the same method.
    #[serde(default)]
    pub additional_bindings: Vec<HttpRuleConfig>,
    /// polygate: the backend serving the method, when more than one has it.
    #[serde(default)]
    pub backend: Option<String>,
    /// polygate: how long the backend may take for this route.
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
    /// polygate: JSON options for this route.
    #[serde(default)]
    pub json: Option<JsonOptionsConfig>,
    /// polygate: what an unknown query parameter does on this route.
    #[serde(default)]
    pub unknown_query_parameters: Option<UnknownQueryParameters>,
    /// polygate: what a body field that a path variable also sets does on this route.
    #[serde(default)]
    pub body_field_collision: Option<BodyFieldCollision>,
}

impl HttpRuleConfig {
    fn options(&self) -> RouteOptionsConfig {
        RouteOptionsConfig {
            timeout: self.timeout,
            json: self.json.clone(),
            unknown_query_parameters: self.unknown_query_parameters,
            body_field_collision: self.body_field_collision,
        }
    }
}

/// The (HTTP method, template, line) of every pattern a rule sets, from its `get`, `put`,
/// `post`, `delete` and `patch` fields (in that order) and its `custom` one.
pub(crate) fn patterns(
    verbs: [&Option<Spanned<String>>; 5],
    custom: &Option<Spanned<CustomPattern>>,
) -> Vec<(String, String, u64)> {
    let named = ["GET", "PUT", "POST", "DELETE", "PATCH"]
        .into_iter()
        .zip(verbs);
    let mut found: Vec<(String, String, u64)> = named
        .filter_map(|(verb, value)| {
            value
                .as_ref()
                .map(|v| (verb.to_owned(), v.value.clone(), v.referenced.line()))
        })
        .collect();
    if let Some(custom) = custom {
        found.push((
            custom.value.kind.clone(),
            custom.value.path.clone(),
            custom.referenced.line(),
        ));
    }
    found
}

/// A mapping file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct MappingError {
    /// The file.
    pub path: String,
    /// The line (1-based; 0 when unknown).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// What a mapping file holds.
#[derive(Debug, Default)]
pub struct MappingContents {
    /// Its `http: rules:`, flattened.
    pub rules: Vec<RuleSpec>,
    /// Its `routes:`.
    pub routes: Vec<LegacyRouteSpec>,
}

/// Reads the rules of a mapping file.
pub fn load_mapping_file(path: &Path) -> Result<Vec<RuleSpec>, MappingError> {
    load_mapping(path).map(|contents| contents.rules)
}

/// Reads the rules and routes of a mapping file.
pub fn load_mapping(path: &Path) -> Result<MappingContents, MappingError> {
    let error = |line: u64, message: String| MappingError {
        path: path.display().to_string(),
        line,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(0, format!("cannot read: {e}")))?;
    let file: MappingFile = serde_saphyr::from_str(&text).map_err(|e| {
        let (line, message) = crate::config::yaml_error_parts(&e);
        error(line, message)
    })?;
    if let Some(kind) = &file.kind {
        if kind != "google.api.Service" {
            return Err(error(
                1,
                format!("type must be google.api.Service, not '{kind}'"),
            ));
        }
    }
    let routes = read_routes(file.routes, file.xml_mapping, path)
        .map_err(|(line, message)| error(line, message))?;
    let mut rules = Vec::new();
    for rule in file.http.map(|h| h.rules).unwrap_or_default() {
        let Some(selector) = rule.selector.as_ref() else {
            return Err(error(0, "a rule has no selector".into()));
        };
        let line = selector.referenced.line();
        let selector_name = selector.value.trim().to_owned();
        if selector_name.contains('*') {
            return Err(error(
                line,
                format!(
                    "selector '{selector_name}': HTTP rules need one method each, not a wildcard"
                ),
            ));
        }
        flatten_rule(
            &rule,
            &selector_name,
            None,
            &RouteOptionsConfig::default(),
            path,
            &mut rules,
            true,
        )
        .map_err(|(line, message)| error(line, message))?;
    }
    Ok(MappingContents { rules, routes })
}

fn flatten_rule(
    rule: &HttpRuleConfig,
    selector: &str,
    inherited_backend: Option<&String>,
    inherited_options: &RouteOptionsConfig,
    path: &Path,
    rules: &mut Vec<RuleSpec>,
    top_level: bool,
) -> Result<(), (u64, String)> {
    let selector_line = rule.selector.as_ref().map_or(0, |s| s.referenced.line());
    if !top_level {
        if let Some(s) = &rule.selector {
            return Err((
                s.referenced.line(),
                "additional_bindings must not have a selector".into(),
            ));
        }
        if !rule.additional_bindings.is_empty() {
            return Err((selector_line, "additional_bindings must not nest".into()));
        }
    }
    let patterns = patterns(
        [&rule.get, &rule.put, &rule.post, &rule.delete, &rule.patch],
        &rule.custom,
    );
    let backend = rule.backend.as_ref().or(inherited_backend);
    let options = rule.options().or(inherited_options);
    match patterns.as_slice() {
        [] if top_level && !rule.additional_bindings.is_empty() => {}
        [] => return Err((selector_line, format!("the rule for {selector} has no get, put, post, delete, patch or custom pattern"))),
        [(http_method, template, line)] => rules.push(RuleSpec {
            selector: selector.to_owned(),
            http_method: http_method.clone(),
            path: template.clone(),
            body: rule.body.clone().unwrap_or_default(),
            response_body: rule.response_body.clone().unwrap_or_default(),
            backend: backend.cloned(),
            options: options.clone(),
            origin: RuleOrigin::MappingFile { path: path.to_path_buf(), line: *line },
        }),
        [_, (second, _, line), ..] => {
            return Err((*line, format!("the rule for {selector} has more than one pattern ({second} too); use additional_bindings")))
        }
    }
    for binding in &rule.additional_bindings {
        flatten_rule(binding, selector, backend, &options, path, rules, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("polygate-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn google_api_service_rules_are_flattened_with_lines() {
        let path = write(
            "ok.yaml",
            "type: google.api.Service\nconfig_version: 3\nhttp:\n  rules:\n  - selector: a.v1.Svc.Get\n    get: /v1/{name=things/*}\n    additional_bindings:\n    - post: /v1/things:search\n      body: \"*\"\n    timeout: 2s\n",
        );
        let rules = load_mapping_file(&path).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].http_method, "GET");
        assert_eq!(rules[0].path, "/v1/{name=things/*}");
        assert_eq!(
            rules[0].origin,
            RuleOrigin::MappingFile {
                path: path.clone(),
                line: 6
            }
        );
        assert_eq!(rules[1].http_method, "POST");
        assert_eq!(rules[1].body, "*");
        assert_eq!(rules[1].selector, "a.v1.Svc.Get");
        assert_eq!(rules[1].options.timeout, rules[0].options.timeout);
    }

    #[test]
    fn mistakes_are_reported_with_file_and_line() {
        let path = write(
            "two.yaml",
            "http:\n  rules:\n  - selector: a.Svc.M\n    get: /a\n    post: /b\n",
        );
        let error = load_mapping_file(&path).unwrap_err().to_string();
        assert!(error.ends_with("two.yaml:5: the rule for a.Svc.M has more than one pattern (POST too); use additional_bindings"), "{error}");
        let path = write(
            "typo.yaml",
            "http:\n  rules:\n  - selector: a.Svc.M\n    gett: /a\n",
        );
        let error = load_mapping_file(&path).unwrap_err().to_string();
        assert!(error.contains("typo.yaml:4:"), "{error}");
        assert!(error.contains("gett"), "{error}");
    }
}
