//! Where routes come from: the `google.api.http` annotations in the descriptors, and mapping
//! files, whose `http: rules:` (the form of a google.api.Service YAML that grpc-gateway, ESP and
//! Envoy users have) and `routes:` entries share one set of route keys (`entry.rs`).

mod annotations;
pub mod compose;
mod entry;
mod http_rules;
mod routes;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::codec::xml::XmlMappingConfig;
pub use annotations::rules_from_annotations;
pub use entry::{CustomPattern, PatternSpec, SharedKeys, PATTERN_KEYS};
pub use http_rules::{HttpRuleConfig, HttpSection, RuleSpec};
pub use routes::{
    BodyValueConfig, HeaderEditsConfig, PublishTargetConfig, QueryRewriteConfig, RestTargetConfig,
    RouteEntry, RouteSpec, RouteTarget, SoapTargetConfig, XmlTargetConfig,
};

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
        /// The line of the rule's pattern.
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

/// A mapping file: the `http:` section of a google.api.Service YAML, polygate's `routes:` and
/// their XML mapping. The other top-level keys a google.api.Service file usually has are
/// accepted and ignored; anything else is an error.
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
    pub routes: Vec<RouteSpec>,
}

/// Reads the rules of a mapping file.
pub fn load_mapping_file(path: &Path) -> Result<Vec<RuleSpec>, MappingError> {
    load_mapping(path).map(|contents| contents.rules)
}

/// Reads the rules and routes of a mapping file.
pub fn load_mapping(path: &Path) -> Result<MappingContents, MappingError> {
    let text = std::fs::read_to_string(path).map_err(|e| MappingError {
        path: path.display().to_string(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    parse_mapping(&text, path)
}

/// Reads the rules and routes of mapping-file `text` as if read from `path` (which errors name);
/// nothing is read from disk.
pub fn parse_mapping(text: &str, path: &Path) -> Result<MappingContents, MappingError> {
    let error = |line: u64, message: String| MappingError {
        path: path.display().to_string(),
        line,
        message,
    };
    let file: MappingFile = serde_saphyr::from_str(text).map_err(|e| {
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
    let routes = routes::read_routes(file.routes, file.xml_mapping, path)
        .map_err(|(line, message)| error(line, message))?;
    let rules = http_rules::read_rules(file.http.map(|h| h.rules).unwrap_or_default(), path)
        .map_err(|(line, message)| error(line, message))?;
    Ok(MappingContents { rules, routes })
}
