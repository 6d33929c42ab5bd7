//! Routes from the `google.api.http` annotations of the methods in a descriptor pool.

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

use super::entry::PatternSpec;
use super::http_rules::RuleSpec;
use super::RuleOrigin;
use crate::mapping::options::RouteOptionsConfig;

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
    if let Some((method_name, path)) = pattern {
        rules.push(RuleSpec {
            selector: method.full_name().to_owned(),
            pattern: PatternSpec::Http {
                method: method_name,
                path,
            },
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
