//! API keys: sent in a header (or a query parameter), stored as SHA-256 hashes, compared in
//! constant time against every stored hash.

use std::path::Path;
use std::sync::Arc;

use http::{HeaderMap, HeaderName};
use ring::digest::{digest, SHA256};

use super::config::{ApiKeyConfig, ApiKeysConfig};
use super::Forward;
use crate::model::Identity;

/// The header an API key comes in unless configured otherwise.
pub(crate) const DEFAULT_HEADER: &str = "x-api-key";

/// The valid keys and where clients send them.
pub(crate) struct ApiKeys {
    pub(crate) header: HeaderName,
    pub(crate) query: Option<Box<str>>,
    keys: Vec<StoredKey>,
}

struct StoredKey {
    hash: [u8; 32],
    identity: Arc<Identity>,
}

/// What a request's key turned out to be.
pub(crate) enum KeyCheck {
    /// The request carries no key.
    Absent,
    /// A key matched.
    Valid(Arc<Identity>),
    /// A key was sent, but matches none.
    Invalid,
}

impl ApiKeys {
    /// Reads the keys from the config, the file and the environment.
    pub(crate) fn build(
        config: &ApiKeysConfig,
        base_dir: &Path,
        forward: &Forward,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let header_name = config.header.as_deref().unwrap_or(DEFAULT_HEADER);
        let header =
            HeaderName::from_bytes(header_name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                vec![format!(
                    "api_keys.header: '{header_name}' is not a header name"
                )]
            })?;
        let mut entries: Vec<(String, ApiKeyConfig)> = config
            .keys
            .iter()
            .enumerate()
            .map(|(i, key)| (format!("api_keys.keys[{i}]"), key.clone()))
            .collect();
        if let Some(file) = &config.file {
            let path = base_dir.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => parse_lines(
                    &text,
                    &path.display().to_string(),
                    &mut entries,
                    &mut errors,
                ),
                Err(e) => errors.push(format!(
                    "api_keys.file: cannot read {}: {e}",
                    path.display()
                )),
            }
        }
        if let Some(variable) = &config.env {
            match env(variable) {
                Some(text) => parse_lines(
                    &text.replace(';', "\n"),
                    &format!("the environment variable {variable}"),
                    &mut entries,
                    &mut errors,
                ),
                None => errors.push(format!(
                    "api_keys.env: the environment variable {variable} is not set"
                )),
            }
        }
        let mut keys = Vec::with_capacity(entries.len());
        for (place, entry) in entries {
            match parse_hash(&entry.sha256) {
                Some(hash) => keys.push(StoredKey {
                    hash,
                    identity: Arc::new(Identity {
                        scheme: "api_key",
                        subject: entry.name.as_str().into(),
                        scopes: entry.scopes.iter().map(|s| s.as_str().into()).collect(),
                        metadata: forward.subject_metadata(&entry.name),
                        expires: None,
                    }),
                }),
                None => errors.push(format!(
                    "{place}: sha256 of key '{}' must be 64 hex digits (printf %s KEY | sha256sum)",
                    entry.name
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            header,
            query: config.query.as_deref().map(Into::into),
            keys,
        })
    }

    /// Checks the key in `headers` (or, when configured, the query parameter).
    pub(crate) fn check(&self, headers: &HeaderMap, query: Option<&str>) -> KeyCheck {
        let presented = match headers.get(&self.header) {
            Some(value) => Some(value.as_bytes()),
            None => self
                .query
                .as_deref()
                .and_then(|name| query.and_then(|q| query_value(q, name))),
        };
        match presented {
            None => KeyCheck::Absent,
            Some(key) => self.find(key).map_or(KeyCheck::Invalid, KeyCheck::Valid),
        }
    }

    /// The identity of `key`: its hash is compared with every stored hash, in constant time.
    fn find(&self, key: &[u8]) -> Option<Arc<Identity>> {
        let presented = digest(&SHA256, key);
        let presented = presented.as_ref();
        let mut found = None;
        for stored in &self.keys {
            let difference = stored
                .hash
                .iter()
                .zip(presented)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if difference == 0 {
                found = Some(&stored.identity);
            }
        }
        found.cloned()
    }
}

/// `name hash [scopes]` lines.
fn parse_lines(
    text: &str,
    origin: &str,
    entries: &mut Vec<(String, ApiKeyConfig)>,
    errors: &mut Vec<String>,
) {
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(name), Some(hash)) = (words.next(), words.next()) else {
            errors.push(format!(
                "{origin}:{}: expected 'name sha256-hex [scope,scope…]'",
                number + 1
            ));
            continue;
        };
        let scopes = words
            .next()
            .map(|s| {
                s.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        entries.push((
            format!("{origin}:{}", number + 1),
            ApiKeyConfig {
                name: name.to_owned(),
                sha256: hash.to_owned(),
                scopes,
            },
        ));
    }
}

fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        hash[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(hash)
}

/// The raw value of query parameter `name` (keys are sent as they are; no decoding).
fn query_value<'q>(query: &'q str, name: &str) -> Option<&'q [u8]> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then_some(value.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO_KEY_SHA256: &str =
        "bfb43a1b8e0bd4c7e0e1d5e9c4c9a1b4e07f1b9c7ae5a8c1dcd4c2dfb7a6d02a";

    fn keys(config: &ApiKeysConfig) -> ApiKeys {
        ApiKeys::build(config, Path::new("."), &Forward::default(), |_| None).unwrap()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_key_matches_by_its_hash_from_header_or_query() {
        let hash = hex(digest(&SHA256, b"s3cret").as_ref());
        let config = ApiKeysConfig {
            query: Some("api_key".into()),
            keys: vec![ApiKeyConfig {
                name: "ci".into(),
                sha256: hash,
                scopes: vec!["write".into()],
            }],
            ..Default::default()
        };
        let keys = keys(&config);
        let mut headers = HeaderMap::new();
        assert!(matches!(keys.check(&headers, None), KeyCheck::Absent));
        headers.insert("x-api-key", "s3cret".parse().unwrap());
        let KeyCheck::Valid(identity) = keys.check(&headers, None) else {
            panic!("the key is valid")
        };
        assert_eq!(&*identity.subject, "ci");
        assert_eq!(identity.scopes, vec![Box::from("write")]);
        headers.insert("x-api-key", "wrong".parse().unwrap());
        assert!(matches!(keys.check(&headers, None), KeyCheck::Invalid));
        let empty = HeaderMap::new();
        assert!(matches!(
            keys.check(&empty, Some("a=1&api_key=s3cret")),
            KeyCheck::Valid(_)
        ));
        assert!(matches!(
            keys.check(&empty, Some("api_key=nope")),
            KeyCheck::Invalid
        ));
    }

    #[test]
    fn keys_come_from_a_file_and_the_environment_and_bad_hashes_are_named() {
        let dir = std::env::temp_dir().join(format!("polygate-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hash = hex(digest(&SHA256, b"from-file").as_ref());
        std::fs::write(
            dir.join("keys.txt"),
            format!("# keys\nfile-key {hash} read\n"),
        )
        .unwrap();
        let env_hash = hex(digest(&SHA256, b"from-env").as_ref());
        let config = ApiKeysConfig {
            file: Some("keys.txt".into()),
            env: Some("KEYS".into()),
            ..Default::default()
        };
        let env_value = format!("env-key {env_hash};other {DEMO_KEY_SHA256}");
        let keys = ApiKeys::build(&config, &dir, &Forward::default(), |name| {
            (name == "KEYS").then(|| env_value.clone())
        })
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "from-file".parse().unwrap());
        let KeyCheck::Valid(identity) = keys.check(&headers, None) else {
            panic!("the file's key is valid")
        };
        assert_eq!(&*identity.subject, "file-key");
        headers.insert("x-api-key", "from-env".parse().unwrap());
        assert!(matches!(keys.check(&headers, None), KeyCheck::Valid(_)));

        let bad = ApiKeysConfig {
            keys: vec![ApiKeyConfig {
                name: "short".into(),
                sha256: "abc".into(),
                scopes: vec![],
            }],
            env: Some("UNSET".into()),
            ..Default::default()
        };
        let errors = ApiKeys::build(&bad, &dir, &Forward::default(), |_| None)
            .err()
            .unwrap();
        assert_eq!(
            errors,
            vec![
                "api_keys.env: the environment variable UNSET is not set".to_owned(),
                "api_keys.keys[0]: sha256 of key 'short' must be 64 hex digits (printf %s KEY | sha256sum)".to_owned(),
            ]
        );
    }
}
