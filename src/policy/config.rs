//! The policies as written: the config's `policies:` section and the per-route `auth:` and
//! `rate_limit:` keys of mapping files. Validated once, by [`super::Policies::build`] and
//! [`super::RoutePolicy::build`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::units::ConfigDuration;

/// The `policies:` section: credentials, the default authentication and what is forwarded.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoliciesConfig {
    /// The authentication of every HTTP and WebSocket route that names none (`auth:`).
    /// Default `none`: public.
    #[serde(default)]
    pub default_auth: Option<RouteAuthConfig>,
    /// API keys.
    #[serde(default)]
    pub api_keys: Option<ApiKeysConfig>,
    /// JSON Web Tokens in `Authorization: Bearer`.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// OAuth2 opaque tokens in `Authorization: Bearer`, checked at the authorization server's
    /// token introspection endpoint (RFC 7662).
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
    /// Identity fields forwarded to backends as metadata: `sub` (the API key's name or the
    /// token's subject) or any other claim name → metadata key, e.g. `{sub: x-user-id}`. Copies
    /// of these keys the client sent are removed from every request.
    #[serde(default)]
    pub forward_claims: BTreeMap<String, String>,
    /// Proxies (addresses or CIDR blocks, e.g. `10.0.0.0/8`) whose `X-Forwarded-For` is
    /// believed when rate limits key by client IP. Default none: the peer's address counts.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// API keys: where a client sends one and which are valid.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeysConfig {
    /// The header carrying the key. Default `x-api-key`.
    #[serde(default)]
    pub header: Option<String>,
    /// A query parameter carrying the key (e.g. `api_key`). Default none: header only.
    #[serde(default)]
    pub query: Option<String>,
    /// Keys written in the config, as SHA-256 hashes.
    #[serde(default)]
    pub keys: Vec<ApiKeyConfig>,
    /// A file of keys, one a line: `name sha256-hex [scope,scope…]`; `#` starts a comment.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// An environment variable holding keys in the file's format, lines or `;`-separated.
    #[serde(default)]
    pub env: Option<String>,
}

/// One API key.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key's name: the identity's subject (forwarded as `sub`, logged, rate-limited by).
    pub name: String,
    /// The SHA-256 of the key, 64 hex digits (`printf %s KEY | sha256sum`).
    pub sha256: String,
    /// The scopes the key grants.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// JWT verification.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Accepted issuers (`iss`); empty accepts any.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted audiences (`aud`); empty accepts any.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`. Default `60s`.
    #[serde(default)]
    pub leeway: Option<ConfigDuration>,
    /// Keys written in the config (PEM files or HMAC secrets).
    #[serde(default)]
    pub keys: Vec<JwtKeyConfig>,
    /// A JWKS file (`{"keys": […]}`), read at load.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL, fetched at start-up and every `jwks_refresh`, and again (at most once per
    /// `jwks_refetch_interval`) when a token names a key id it does not know.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// How often the JWKS URL is fetched again. Default `10m`.
    #[serde(default)]
    pub jwks_refresh: Option<ConfigDuration>,
    /// The shortest time between two fetches caused by unknown key ids. Default `30s`.
    #[serde(default)]
    pub jwks_refetch_interval: Option<ConfigDuration>,
    /// How many verified tokens are kept until they expire. Default 10000.
    #[serde(default)]
    pub cache_size: Option<usize>,
}

/// Token introspection (RFC 7662): where opaque bearer tokens are checked, and how long the
/// answers are kept.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The introspection endpoint (`http://` or `https://`); tokens are POSTed to it as
    /// `token=…&token_type_hint=access_token`.
    pub url: String,
    /// polygate's client id at the authorization server (HTTP Basic authentication).
    pub client_id: String,
    /// The client secret, written here. Give this or `client_secret_env`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// How many answers (active and inactive tokens) are kept. Default 10000; 0 keeps none.
    #[serde(default)]
    pub cache_size: Option<usize>,
    /// The longest an active token's answer is kept (it is never kept past the token's `exp`).
    /// Default `60s`.
    #[serde(default)]
    pub cache_ttl: Option<ConfigDuration>,
    /// How long an inactive token's answer is kept. Default `10s`.
    #[serde(default)]
    pub negative_ttl: Option<ConfigDuration>,
    /// How long a call to the endpoint may take, connection included. Default `2s`.
    #[serde(default)]
    pub timeout: Option<ConfigDuration>,
}

/// One JWT verification key.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// The key id tokens name in `kid`; a key without one is tried for tokens naming none.
    #[serde(default)]
    pub kid: Option<String>,
    /// The one algorithm the key verifies: HS256/384/512, RS256/384/512, PS256/384/512,
    /// ES256/384 or EdDSA.
    pub algorithm: String,
    /// A PEM file with the public key (RSA, EC or Ed25519).
    #[serde(default)]
    pub pem_file: Option<PathBuf>,
    /// The environment variable holding an HMAC secret (HS* only).
    #[serde(default)]
    pub secret_env: Option<String>,
}

/// A route's authentication: `none` (public), `any` (any valid credential), or a rule.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RouteAuthConfig {
    /// `none` or `any`.
    Word(AuthWord),
    /// `{schemes: […], scopes: […]}`.
    Rule(AuthRuleConfig),
}

/// The one-word forms of `auth:`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthWord {
    /// Public: no credential is looked at.
    None,
    /// Any valid credential.
    Any,
}

/// `auth:` as a rule.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthRuleConfig {
    /// The credential kinds accepted (`api_key`, `jwt`, `introspection`). Default all of them.
    #[serde(default)]
    pub schemes: Vec<Scheme>,
    /// Scopes the caller must hold, all of them.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The HTTP methods the rule applies to (e.g. `[POST, PATCH, DELETE]`: writes need a
    /// credential, reads stay public). Default all. Requests that name no method (a socket
    /// of the WebSocket direct binding) are public under a rule that lists methods.
    #[serde(default)]
    pub methods: Vec<String>,
}

/// A kind of credential.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// An API key.
    ApiKey,
    /// A JSON Web Token.
    Jwt,
    /// An opaque token checked by token introspection.
    Introspection,
}

/// A route's rate limit: a token bucket per key.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed per `per`.
    pub rate: u32,
    /// The window `rate` counts in. Default `1s`.
    #[serde(default)]
    pub per: Option<ConfigDuration>,
    /// The bucket's size: how many requests may come at once. Default `rate`.
    #[serde(default)]
    pub burst: Option<u32>,
    /// What a bucket belongs to. Default `caller`.
    #[serde(default)]
    pub key: Option<RateKey>,
    /// The policy's name in the `RateLimit` headers. Default `default`.
    #[serde(default)]
    pub name: Option<String>,
    /// Every polygate instance draws from one bucket per key kept in Redis (needs the
    /// `redis:` section), refilled by Redis's clock. Default false: buckets in this process.
    #[serde(default)]
    pub shared: bool,
    /// What a shared limit does when Redis fails or does not answer within its
    /// `command_timeout`: `open` (this instance's local bucket decides) or `closed` (503
    /// UNAVAILABLE). Default `open`.
    #[serde(default)]
    pub fail: Option<FailMode>,
}

/// How a shared rate limit behaves while Redis is unreachable.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// The local bucket (the same rate, burst and key, in this process) decides. Default.
    #[default]
    Open,
    /// Requests are refused with 503 UNAVAILABLE.
    Closed,
}

/// What a rate limit's buckets are keyed by.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RateKey {
    /// The authenticated identity (API key name or token subject), else the client IP (or
    /// the MQTT client id). Default.
    #[default]
    Caller,
    /// The API key's name; requests without one share a bucket.
    ApiKey,
    /// The token's subject; requests without one share a bucket.
    Subject,
    /// The client IP (`X-Forwarded-For` from trusted proxies).
    ClientIp,
    /// The MQTT client id.
    ClientId,
    /// One bucket for the whole route.
    Route,
}
