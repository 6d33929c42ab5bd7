//! `http: rules:` entries of mapping files: google.api.HttpRule in YAML, plus polygate's
//! additions, flattened into one [`RuleSpec`] per pattern.

use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::entry::{route_entry, PatternSpec, PATTERN_KEYS};
use super::RuleOrigin;
use crate::mapping::options::{JsonOptionsConfig, RouteOptionsConfig};

/// One binding of a gRPC method, from whichever source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// The method's full name, `pkg.Service.Method`.
    pub selector: String,
    /// What the route listens on.
    pub pattern: PatternSpec,
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

route_entry! {
    /// One rule of a mapping file: google.api.HttpRule in YAML (the shared route keys), plus
    /// polygate's additions.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpRuleConfig {
        /// The method's full name, `pkg.Service.Method` (required at the top level only).
        #[serde(default)]
        pub selector: Option<Spanned<String>>,
        /// More bindings for the same method.
        #[serde(default)]
        pub additional_bindings: Vec<HttpRuleConfig>,
        /// polygate: JSON options for this route.
        #[serde(default)]
        pub json: Option<JsonOptionsConfig>,
    }
}

/// Flattens the rules of one file; errors carry the line they were found at.
pub(super) fn read_rules(
    entries: Vec<HttpRuleConfig>,
    path: &Path,
) -> Result<Vec<RuleSpec>, (u64, String)> {
    let mut rules = Vec::new();
    for rule in entries {
        let Some(selector) = rule.selector.as_ref() else {
            return Err((0, "a rule has no selector".into()));
        };
        let line = selector.referenced.line();
        let selector_name = selector.value.trim().to_owned();
        if selector_name.contains('*') {
            return Err((
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
        )?;
    }
    Ok(rules)
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
    let shared = rule.shared();
    let patterns = shared.patterns();
    let backend = rule
        .backend
        .as_ref()
        .map(|b| &b.value)
        .or(inherited_backend);
    let mut own = shared.options.clone();
    own.json = rule.json.clone();
    let mut options = own.or(inherited_options);
    if matches!(patterns.as_slice(), [(PatternSpec::Http { .. }, _)]) {
        // Topic options a topic rule's HTTP bindings would inherit do not apply to them.
        options.messages = shared.options.messages.clone();
    }
    match patterns.as_slice() {
        [] if top_level && !rule.additional_bindings.is_empty() => {}
        [] => {
            return Err((
                selector_line,
                format!("the rule for {selector} has no {PATTERN_KEYS} pattern"),
            ))
        }
        [(pattern, line)] => rules.push(RuleSpec {
            selector: selector.to_owned(),
            pattern: pattern.clone(),
            body: shared.body_for(pattern),
            response_body: rule.response_body.clone().unwrap_or_default(),
            backend: backend.cloned(),
            options: options.clone(),
            origin: RuleOrigin::MappingFile {
                path: path.to_path_buf(),
                line: *line,
            },
        }),
        [_, (second, line), ..] => {
            return Err((
                *line,
                format!(
                    "the rule for {selector} has more than one pattern ({} too); use additional_bindings",
                    second.key()
                ),
            ))
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
    use std::path::PathBuf;

    use crate::mapping::source::{load_mapping_file, PatternSpec};

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
        assert_eq!(
            rules[0].pattern,
            PatternSpec::Http {
                method: "GET".into(),
                path: "/v1/{name=things/*}".into()
            }
        );
        assert_eq!(
            rules[0].origin,
            RuleOrigin::MappingFile {
                path: path.clone(),
                line: 6
            }
        );
        assert_eq!(rules[1].pattern.key(), "POST");
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
