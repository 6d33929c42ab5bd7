//! The `redis:` section of the config file, validated once into [`RedisSettings`].

use std::time::Duration;

use serde::Deserialize;

use crate::config::units::ConfigDuration;

/// The `redis:` section: the Redis server that several polygate instances share for their
/// shared rate limits and the shared cache tier. Absent: nothing is shared and no connection
/// is made.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// The server: `redis://[user:password@]host:port[/db]` or `redis+unix:///path`.
    /// `rediss://` (TLS) is not supported yet.
    pub url: String,
    /// How long a connection attempt may take. Default `1s`.
    #[serde(default)]
    pub connect_timeout: Option<ConfigDuration>,
    /// How long one command (a rate-limit check, a cache read or write) may take before it
    /// counts as a Redis failure. Default `250ms`.
    #[serde(default)]
    pub command_timeout: Option<ConfigDuration>,
    /// After a connection failure, how long Redis is not tried again: commands in that time
    /// fail at once (and count as failures) instead of each waiting for a connection. Default
    /// `1s`.
    #[serde(default)]
    pub retry_interval: Option<ConfigDuration>,
    /// What every key and channel polygate uses starts with, so several gateways (or other
    /// programs) can share a server. Default `polygate:`.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Redis failures are logged at most once per this interval (with the count since the
    /// last line), never per request. Default `30s`.
    #[serde(default)]
    pub error_log_interval: Option<ConfigDuration>,
    /// The shared cache tier: cached routes also keep their answers in Redis, a local miss
    /// reads Redis before calling the backend, and purges reach every instance. Default off.
    #[serde(default)]
    pub cache: bool,
}

/// The `redis:` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// See [`RedisConfig::url`].
    pub url: String,
    /// See [`RedisConfig::connect_timeout`].
    pub connect_timeout: Duration,
    /// See [`RedisConfig::command_timeout`].
    pub command_timeout: Duration,
    /// See [`RedisConfig::retry_interval`].
    pub retry_interval: Duration,
    /// See [`RedisConfig::key_prefix`].
    pub key_prefix: String,
    /// See [`RedisConfig::error_log_interval`].
    pub error_log_interval: Duration,
    /// See [`RedisConfig::cache`].
    pub cache: bool,
}

impl RedisConfig {
    /// Checks the section, defaults filled in; every problem is named with its key.
    pub fn validate(&self) -> Result<RedisSettings, Vec<String>> {
        let mut errors = Vec::new();
        let url = self.url.trim();
        let shown = shown(url);
        if url.starts_with("rediss://") || url.starts_with("valkeys://") {
            errors.push(
                "redis.url: TLS (rediss://) is not supported; use redis:// on a trusted network"
                    .to_owned(),
            );
        } else if !(url.starts_with("redis://")
            || url.starts_with("redis+unix://")
            || url.starts_with("unix://"))
        {
            errors.push(format!(
                "redis.url: '{shown}' must start with redis://, redis+unix:// or unix://"
            ));
        } else if redis::Client::open(url).is_err() {
            errors.push(format!("redis.url: '{shown}' is not a Redis URL"));
        }
        let positive = |value: Option<ConfigDuration>,
                        default: Duration,
                        key: &str,
                        errors: &mut Vec<String>| {
            let value = value.map_or(default, |d| d.0);
            if value.is_zero() {
                errors.push(format!("redis.{key} must be above zero"));
            }
            value
        };
        let connect_timeout = positive(
            self.connect_timeout,
            Duration::from_secs(1),
            "connect_timeout",
            &mut errors,
        );
        let command_timeout = positive(
            self.command_timeout,
            Duration::from_millis(250),
            "command_timeout",
            &mut errors,
        );
        let retry_interval = positive(
            self.retry_interval,
            Duration::from_secs(1),
            "retry_interval",
            &mut errors,
        );
        let error_log_interval = positive(
            self.error_log_interval,
            Duration::from_secs(30),
            "error_log_interval",
            &mut errors,
        );
        let key_prefix = self
            .key_prefix
            .clone()
            .unwrap_or_else(|| "polygate:".into());
        if key_prefix
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            errors.push("redis.key_prefix must not contain spaces or control characters".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RedisSettings {
            url: url.to_owned(),
            connect_timeout,
            command_timeout,
            retry_interval,
            key_prefix,
            error_log_interval,
            cache: self.cache,
        })
    }
}

/// A URL as messages show it: without its user-info (a password).
fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://[redacted]@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            connect_timeout: None,
            command_timeout: None,
            retry_interval: None,
            key_prefix: None,
            error_log_interval: None,
            cache: false,
        }
    }

    #[test]
    fn defaults_fill_in() {
        let settings = config("redis://127.0.0.1:6379/0").validate().unwrap();
        assert_eq!(
            settings,
            RedisSettings {
                url: "redis://127.0.0.1:6379/0".into(),
                connect_timeout: Duration::from_secs(1),
                command_timeout: Duration::from_millis(250),
                retry_interval: Duration::from_secs(1),
                key_prefix: "polygate:".into(),
                error_log_interval: Duration::from_secs(30),
                cache: false,
            }
        );
    }

    #[test]
    fn bad_urls_schemes_and_zero_timeouts_are_named() {
        assert_eq!(
            config("rediss://cache:6380").validate().unwrap_err(),
            vec!["redis.url: TLS (rediss://) is not supported; use redis:// on a trusted network"]
        );
        assert_eq!(
            config("http://user:secret@cache").validate().unwrap_err(),
            vec!["redis.url: 'http://[redacted]@cache' must start with redis://, redis+unix:// or unix://"]
        );
        let zero = RedisConfig {
            command_timeout: Some(ConfigDuration(Duration::ZERO)),
            key_prefix: Some("a b".into()),
            ..config("redis://127.0.0.1")
        };
        assert_eq!(
            zero.validate().unwrap_err(),
            vec![
                "redis.command_timeout must be above zero",
                "redis.key_prefix must not contain spaces or control characters"
            ]
        );
    }
}
