//! What `/config` and `/routes` show: the running config file with secrets redacted, and the
//! route table `polygate check` prints.

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::mapping::RouteTable;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Key names whose values are secrets (matched case-insensitively, anywhere in the key).
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "api-key",
    "credential",
    "cookie",
    "private_key",
];

/// The config as it was read (the file's YAML as JSON), with secrets redacted: values of keys
/// naming a secret, and the user-info of URLs (`mqtt://user:pass@host`).
pub fn config_view(config: &Config) -> Value {
    let mut value = match &config.source {
        Some((path, text)) => match serde_saphyr::from_str::<Value>(text) {
            Ok(value) => json!({"file": path.display().to_string(), "config": value}),
            Err(error) => json!({"file": path.display().to_string(), "error": error.to_string()}),
        },
        None => {
            let backends: Map<String, Value> = config
                .backends
                .iter()
                .map(|(name, backend)| (name.clone(), json!({"url": backend.url()})))
                .collect();
            json!({"file": null, "config": {"backends": backends}})
        }
    };
    redact(&mut value);
    value
}

/// Redacts secrets in place.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                if SECRET_KEYS.iter().any(|secret| key.contains(secret)) && !value.is_null() {
                    *value = Value::String(REDACTED.into());
                } else {
                    redact(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(text) => {
            if let Some(redacted) = without_user_info(text) {
                *text = redacted;
            }
        }
        _ => {}
    }
}

fn without_user_info(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some(format!("{scheme}://{REDACTED}@{}", &rest[at + 1..]))
}

/// The route table as JSON: one object per route, as `polygate check` prints it.
pub fn routes_view(table: &RouteTable) -> Value {
    Value::Array(
        table
            .routes()
            .map(|route| {
                json!({
                    "method": route.pattern.verb(),
                    "path": route.pattern.address(),
                    "backend": &*route.backend_name,
                    "operation": &*route.operation,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_credentials_are_redacted_and_the_rest_kept() {
        let mut value = json!({
            "backends": {"b": {"soap": {"url": "http://svc:1/x", "ws_security": {"username": "u", "password": "p"}}},
                         "m": {"mqtt": {"broker": {"url": "mqtt://user:pw@broker:1883"}}}},
            "routes": {"metadata": {"Authorization": "Bearer x", "x-tenant": "t"}},
            "jwt": {"secret_file": null},
        });
        redact(&mut value);
        assert_eq!(
            value,
            json!({
                "backends": {"b": {"soap": {"url": "http://svc:1/x", "ws_security": {"username": "u", "password": REDACTED}}},
                             "m": {"mqtt": {"broker": {"url": "mqtt://[redacted]@broker:1883"}}}},
                "routes": {"metadata": {"Authorization": REDACTED, "x-tenant": "t"}},
                "jwt": {"secret_file": null},
            })
        );
    }
}
