//! The cache's settings as written — the global `cache:` section and a route's `cache:` — and
//! as the gateway runs with them, validated once at load.

use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;

use crate::config::units::{ByteSize, ConfigDuration};

/// The `cache:` section of the config file: the store every cached route shares.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The most bytes the stored answers may weigh together (keys, bodies and headers).
    /// Default `64MiB`.
    #[serde(default)]
    pub max_size: Option<ByteSize>,
    /// The heaviest single answer that is stored; heavier ones are answered but not kept.
    /// Default `1MiB`.
    #[serde(default)]
    pub max_entry_size: Option<ByteSize>,
    /// How many requests may wait for one key's backend call at once; further ones call the
    /// backend themselves. Default 1024.
    #[serde(default)]
    pub max_waiters: Option<usize>,
    /// How long a key whose answer could not be stored is passed straight to the backend
    /// (hit-for-miss). Default `5s`.
    #[serde(default)]
    pub hit_for_miss: Option<ConfigDuration>,
}

/// The store's settings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// See [`CacheConfig::max_size`].
    pub max_size: u64,
    /// See [`CacheConfig::max_entry_size`].
    pub max_entry_size: u64,
    /// See [`CacheConfig::max_waiters`].
    pub max_waiters: usize,
    /// See [`CacheConfig::hit_for_miss`].
    pub hit_for_miss: Duration,
}

/// The default `max_size`: 64 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 64 << 20;
/// The default `max_entry_size`: 1 MiB.
pub const DEFAULT_MAX_ENTRY_SIZE: u64 = 1 << 20;

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_MAX_SIZE,
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            max_waiters: 1024,
            hit_for_miss: Duration::from_secs(5),
        }
    }
}

impl CacheConfig {
    /// The settings, or what is wrong with them.
    pub fn validate(&self) -> Result<CacheSettings, String> {
        let defaults = CacheSettings::default();
        let settings = CacheSettings {
            max_size: self.max_size.map_or(defaults.max_size, |s| s.0),
            max_entry_size: self.max_entry_size.map_or(defaults.max_entry_size, |s| s.0),
            max_waiters: self.max_waiters.unwrap_or(defaults.max_waiters),
            hit_for_miss: self.hit_for_miss.map_or(defaults.hit_for_miss, |d| d.0),
        };
        if settings.max_size == 0 {
            return Err("cache.max_size must be more than 0".into());
        }
        if settings.max_entry_size == 0 || settings.max_entry_size > settings.max_size {
            return Err("cache.max_entry_size must be more than 0 and at most max_size".into());
        }
        if settings.max_entry_size > u64::from(u32::MAX) {
            return Err("cache.max_entry_size must be below 4GiB".into());
        }
        Ok(settings)
    }
}

/// Whose answer an entry is.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CacheScope {
    /// One answer for every client (default); requests with `Authorization` or `Cookie` are
    /// not served from it nor stored in it.
    #[default]
    Shared,
    /// One answer per authenticated principal (the identity the route's `auth:` admitted).
    PerPrincipal,
}

/// A route's `cache:` as written in a mapping file (or under the config's `routes:`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheConfig {
    /// How long an answer stays fresh when the backend says nothing (`Cache-Control`,
    /// `Expires`). Required.
    #[serde(default)]
    pub ttl: Option<ConfigDuration>,
    /// Request headers whose values are part of the key (e.g. `accept-language`).
    #[serde(default)]
    pub vary_headers: Vec<String>,
    /// `shared` (default) or `per_principal`.
    #[serde(default)]
    pub scope: CacheScope,
    /// Also store 404 and 410 answers, this long. Default: not stored.
    #[serde(default)]
    pub negative_ttl: Option<ConfigDuration>,
    /// Serve an expired answer this long while one background call refreshes it (when the
    /// backend sends no `stale-while-revalidate`). Default 0.
    #[serde(default)]
    pub stale_while_revalidate: Option<ConfigDuration>,
    /// Serve an expired answer this long when the refresh fails with UNAVAILABLE,
    /// DEADLINE_EXCEEDED or a 5xx (when the backend sends no `stale-if-error`). Default 0.
    #[serde(default)]
    pub stale_if_error: Option<ConfigDuration>,
    /// gRPC methods not marked `idempotency_level = NO_SIDE_EFFECTS`: cache them anyway.
    #[serde(default)]
    pub assume_safe: bool,
    /// A client's `Cache-Control: no-cache` makes the gateway call the backend. Default false
    /// (ignored).
    #[serde(default)]
    pub allow_client_no_cache: bool,
    /// Tags for purging, with `{variable}` taken from the request's path variables or query
    /// parameters (e.g. `item:{sku}`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A route's cache policy, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCachePolicy {
    /// Freshness when the backend says nothing.
    pub ttl: Duration,
    /// Request headers in the key, lowercase, sorted.
    pub vary_headers: Vec<HeaderName>,
    /// Whose answer an entry is.
    pub scope: CacheScope,
    /// Freshness of 404 and 410 answers; `None`: they are not stored.
    pub negative_ttl: Option<Duration>,
    /// The route's default `stale-while-revalidate`.
    pub stale_while_revalidate: Duration,
    /// The route's default `stale-if-error`.
    pub stale_if_error: Duration,
    /// The method's safety was assumed (`assume_safe: true`).
    pub assume_safe: bool,
    /// A client's `no-cache` is obeyed.
    pub allow_client_no_cache: bool,
    /// Tag templates.
    pub tags: Vec<TagTemplate>,
}

/// A tag with `{variable}` placeholders, split once at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTemplate(pub Vec<TagPart>);

/// A piece of a tag template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagPart {
    /// Literal text.
    Text(String),
    /// A path variable or query parameter's value.
    Variable(String),
}

impl TagTemplate {
    /// Splits `item:{sku}`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(TagPart::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("cache.tags: '{text}' has an unclosed '{{'"))?;
            let name = &rest[open + 1..open + close];
            if name.is_empty() || name.contains('{') {
                return Err(format!(
                    "cache.tags: '{text}' has an empty or nested variable"
                ));
            }
            parts.push(TagPart::Variable(name.to_owned()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(TagPart::Text(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err("cache.tags: a tag cannot be empty".into());
        }
        Ok(Self(parts))
    }

    /// The tag for these values (name → value); a variable without a value is left empty.
    pub fn render<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                TagPart::Text(text) => out.push_str(text),
                TagPart::Variable(name) => out.push_str(value(name).unwrap_or("")),
            }
        }
        out
    }
}

impl RouteCacheConfig {
    /// The policy, or what is wrong with it.
    pub fn resolve(&self) -> Result<RouteCachePolicy, String> {
        let ttl = self.ttl.ok_or("cache: ttl is required (e.g. ttl: 30s)")?.0;
        if ttl.is_zero() {
            return Err("cache.ttl must be more than 0".into());
        }
        let mut vary_headers = Vec::with_capacity(self.vary_headers.len());
        for name in &self.vary_headers {
            let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("cache.vary_headers: '{name}' is not a header name"))?;
            if matches!(header.as_str(), "authorization" | "cookie") {
                return Err(format!(
                    "cache.vary_headers: '{name}' is a credential; use scope: per_principal"
                ));
            }
            vary_headers.push(header);
        }
        vary_headers.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        vary_headers.dedup();
        Ok(RouteCachePolicy {
            ttl,
            vary_headers,
            scope: self.scope,
            negative_ttl: self.negative_ttl.map(|d| d.0).filter(|d| !d.is_zero()),
            stale_while_revalidate: self.stale_while_revalidate.map_or(Duration::ZERO, |d| d.0),
            stale_if_error: self.stale_if_error.map_or(Duration::ZERO, |d| d.0),
            assume_safe: self.assume_safe,
            allow_client_no_cache: self.allow_client_no_cache,
            tags: self
                .tags
                .iter()
                .map(|t| TagTemplate::parse(t))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl RouteCachePolicy {
    /// One line for `polygate check`: `30s`, with the scope and stale windows when set.
    pub fn describe(&self) -> String {
        let mut text = humanize(self.ttl);
        if self.scope == CacheScope::PerPrincipal {
            text.push_str(" per-principal");
        }
        if !self.stale_while_revalidate.is_zero() {
            text.push_str(&format!(" swr={}", humanize(self.stale_while_revalidate)));
        }
        if !self.stale_if_error.is_zero() {
            text.push_str(&format!(" sie={}", humanize(self.stale_if_error)));
        }
        if let Some(negative) = self.negative_ttl {
            text.push_str(&format!(" 404={}", humanize(negative)));
        }
        if !self.vary_headers.is_empty() {
            let names: Vec<&str> = self.vary_headers.iter().map(|h| h.as_str()).collect();
            text.push_str(&format!(" vary={}", names.join(",")));
        }
        if self.assume_safe {
            text.push_str(" assumed-safe");
        }
        text
    }
}

fn humanize(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_into_text_and_variables() {
        let tag = TagTemplate::parse("item:{sku}/{shop}").unwrap();
        let values = [("sku", "7"), ("shop", "north")];
        let rendered = tag.render(|name| values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v));
        assert_eq!(rendered, "item:7/north");
        assert!(TagTemplate::parse("item:{sku").is_err());
        assert!(TagTemplate::parse("{}").is_err());
    }

    #[test]
    fn route_policies_need_a_ttl_and_refuse_credentials_as_vary_headers() {
        assert!(RouteCacheConfig::default().resolve().is_err());
        let config = RouteCacheConfig {
            ttl: Some(ConfigDuration(Duration::from_secs(30))),
            vary_headers: vec!["Accept-Language".into(), "Authorization".into()],
            ..RouteCacheConfig::default()
        };
        assert!(config.resolve().unwrap_err().contains("per_principal"));
        let config = RouteCacheConfig {
            vary_headers: vec!["X-B".into(), "accept-language".into()],
            ..config
        };
        let policy = config.resolve().unwrap();
        assert_eq!(policy.vary_headers[0].as_str(), "accept-language");
        assert_eq!(policy.describe(), "30s vary=accept-language,x-b");
    }

    #[test]
    fn store_settings_have_defaults_and_bounds() {
        let settings = CacheConfig::default().validate().unwrap();
        assert_eq!(settings.max_size, 64 << 20);
        assert_eq!(settings.max_entry_size, 1 << 20);
        let too_big = CacheConfig {
            max_size: Some(ByteSize(10)),
            max_entry_size: Some(ByteSize(20)),
            ..CacheConfig::default()
        };
        assert!(too_big.validate().is_err());
    }
}
