//! `compose:` in a `routes:` entry: the named steps of a composed route, as written.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::routes::{RestTargetConfig, SoapTargetConfig, XmlTargetConfig};
use crate::config::units::ConfigDuration;

/// One step of `compose:`: an ordinary target (gRPC method, SOAP operation, XML or REST
/// request), bound from the client's request (`{request.sku}`) and earlier answers
/// (`{item.sku}`), shaped into the composed answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// The step's name: its answer sits under it, and later steps refer to it.
    pub name: String,
    /// The backend the step calls.
    pub backend: String,
    /// A unary method of a gRPC backend, `pkg.Service.Method`.
    #[serde(default)]
    pub grpc: Option<String>,
    /// A SOAP operation.
    #[serde(default)]
    pub soap: Option<SoapTargetConfig>,
    /// A request to a plain-XML backend (method default GET).
    #[serde(default)]
    pub xml: Option<XmlTargetConfig>,
    /// A request to a REST backend (method default GET).
    #[serde(default)]
    pub rest: Option<RestTargetConfig>,
    /// The step's request object: members whose values are literals, `"{path}"` (the value
    /// at the path, JSON type kept) or text with `{path}` placeholders.
    #[serde(default)]
    pub request: Option<serde_json::Value>,
    /// The part of the step's answer kept.
    #[serde(default)]
    pub response_body: Option<String>,
    /// Output key → path: the step's answer becomes an object of these values.
    #[serde(default)]
    pub response_fields: Option<BTreeMap<String, String>>,
    /// Where the answer sits in the composed answer (dotted for nesting); default the name.
    #[serde(default)]
    pub group: Option<String>,
    /// Lift the answer's members to the top level of the composed answer.
    #[serde(default)]
    pub merge: Option<bool>,
    /// Call the step once per element of an array.
    #[serde(default)]
    pub for_each: Option<IterationConfig>,
    /// Call the step once with the whole array bound to `{each}`.
    #[serde(default)]
    pub collect: Option<IterationConfig>,
    /// How long the step may take (within the route's deadline).
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
    /// What a failure of the step does: `fail` (default), `omit`, or `{default: …}`.
    #[serde(default)]
    pub on_error: Option<OnErrorConfig>,
    /// The call has no side effects although its method says otherwise (a SOAP or XML POST).
    #[serde(default)]
    pub safe: Option<bool>,
}

/// `for_each:` / `collect:` — the array a step iterates over.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IterationConfig {
    /// The path of the array (`list.items`).
    #[serde(rename = "in")]
    pub source: String,
    /// The most elements used (default 50, at most 1000).
    #[serde(default)]
    pub max_items: Option<usize>,
    /// `for_each:` only: how many calls run at once (default 8).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// What a longer array does: `fail` (default) or `partial` (the first `max_items` are used).
    #[serde(default)]
    pub over_limit: Option<OverLimit>,
}

/// What an array longer than `max_items` does.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// The step fails.
    #[default]
    Fail,
    /// The first `max_items` are used and the answer is partial.
    Partial,
}

/// `on_error:` of a step.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OnErrorConfig {
    /// `fail` or `omit`.
    Policy(ErrorPolicy),
    /// `{default: VALUE}`: the step's answer is VALUE.
    Default {
        /// The answer used instead.
        default: serde_json::Value,
    },
}

/// `fail` or `omit`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPolicy {
    /// The route answers the step's error.
    Fail,
    /// The step's answer is left out.
    Omit,
}

/// A step as read, with its line.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// The step.
    pub config: StepConfig,
    /// The line of the step in its mapping file.
    pub line: u64,
}

/// `compose:` as read.
#[derive(Debug, Clone)]
pub struct ComposeSpec {
    /// The steps, in file order.
    pub steps: Vec<StepSpec>,
    /// `errors: true`: partial answers list the failed steps in an `errors` array.
    pub errors: bool,
}

impl PartialEq for ComposeSpec {
    fn eq(&self, other: &Self) -> bool {
        self.errors == other.errors
            && self.steps.len() == other.steps.len()
            && self
                .steps
                .iter()
                .zip(&other.steps)
                .all(|(a, b)| a.line == b.line && a.config.name == b.config.name)
    }
}

impl Eq for ComposeSpec {}
