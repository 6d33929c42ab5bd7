//! Front-door policies, once for every frontend: who the caller is (API keys, JWT, opaque
//! tokens by introspection), whether the
//! route lets them in (public, any credential, scopes), and how often (token buckets).
//!
//! [`Policies::admit`] is the one hook: the pipeline calls it for every request after routing
//! (a REST request, each call on a WebSocket, each MQTT message), and the WebSocket frontend
//! calls [`Policies::connect`] on the upgrade request, before the `101`. docs/security.md
//! describes the configuration.

mod api_key;
pub mod concurrency;
pub mod config;
mod error;
mod fetch;
mod introspection;
mod jwt;
pub mod publishers;
mod rate_limit;
pub mod topic_acl;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use api_key::{ApiKeys, KeyCheck};
use concurrency::{ConcurrencyConfig, ConcurrencyLimit};
use config::{AuthWord, PoliciesConfig, RateKey, RateLimitConfig, RouteAuthConfig, Scheme};
use error::PolicyError;
use introspection::{Introspection, Refusal};
use jwt::Jwt;
pub use rate_limit::RateLimiter;
use tokio::sync::OwnedSemaphorePermit;

use crate::model::{Caller, Identity, RequestKey, Status};
use crate::shared_state::SharedState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What a route requires of its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequirement {
    /// Nothing: no credential is looked at.
    Public,
    /// A valid credential of one of `schemes` (empty: any) holding every scope in `scopes`.
    Credential {
        /// The accepted kinds; empty accepts every configured kind.
        schemes: Vec<Scheme>,
        /// Scopes the caller must hold.
        scopes: Vec<Box<str>>,
        /// The methods it applies to; empty: all. Other requests are public.
        methods: Vec<Method>,
    },
}

impl AuthRequirement {
    fn from_config(config: &RouteAuthConfig) -> Result<Self, String> {
        Ok(match config {
            RouteAuthConfig::Word(AuthWord::None) => Self::Public,
            RouteAuthConfig::Word(AuthWord::Any) => Self::Credential {
                schemes: Vec::new(),
                scopes: Vec::new(),
                methods: Vec::new(),
            },
            RouteAuthConfig::Rule(rule) => Self::Credential {
                schemes: rule.schemes.clone(),
                scopes: rule.scopes.iter().map(|s| s.as_str().into()).collect(),
                methods: rule
                    .methods
                    .iter()
                    .map(|m| {
                        Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                            .map_err(|_| format!("auth.methods: '{m}' is not an HTTP method"))
                    })
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    /// What a request naming `verb` must show: public when the rule lists methods and the
    /// request's is not among them.
    fn applied(&self, verb: Option<&Method>) -> &Self {
        match self {
            Self::Credential { methods, .. }
                if !methods.is_empty() && !verb.is_some_and(|v| methods.contains(v)) =>
            {
                &Self::Public
            }
            other => other,
        }
    }
}

/// A route's policies, as its mapping entry (or the `routes:` defaults) set them.
#[derive(Debug, Clone, Default)]
pub struct RoutePolicy {
    /// The route's own `auth:`; `None` takes `policies.default_auth`.
    pub auth: Option<AuthRequirement>,
    /// The route's token buckets.
    pub rate_limit: Option<Arc<RateLimiter>>,
    /// The route's concurrency limit.
    pub concurrency: Option<Arc<ConcurrencyLimit>>,
    /// A topic route: its callers were authenticated by the broker, so no credential is
    /// looked at here and `default_auth` does not apply.
    pub broker_authenticated: bool,
    /// A topic route: the publishers (by the client id in a topic level) it takes.
    pub publishers: Option<publishers::Publishers>,
}

impl RoutePolicy {
    /// The policy of one route; `topic` for routes that take broker messages.
    pub fn build(
        auth: Option<&RouteAuthConfig>,
        rate_limit: Option<&RateLimitConfig>,
        concurrency: Option<&ConcurrencyConfig>,
        topic: bool,
    ) -> Result<Self, String> {
        Self::build_for("", auth, rate_limit, concurrency, topic)
    }

    /// The policy of the route `route` (`GET /v1/items/{id}`, which names its shared rate
    /// limit buckets); `topic` for routes that take broker messages.
    pub fn build_for(
        route: &str,
        auth: Option<&RouteAuthConfig>,
        rate_limit: Option<&RateLimitConfig>,
        concurrency: Option<&ConcurrencyConfig>,
        topic: bool,
    ) -> Result<Self, String> {
        if topic && auth.is_some() {
            return Err("auth: applies to HTTP and WebSocket routes; topic routes take what the broker authenticated (rate_limit: keys by client id)".into());
        }
        Ok(Self {
            auth: auth.map(AuthRequirement::from_config).transpose()?,
            rate_limit: rate_limit
                .map(|config| RateLimiter::build_for(config, route))
                .transpose()?
                .map(Arc::new),
            concurrency: concurrency
                .map(ConcurrencyLimit::build)
                .transpose()?
                .map(Arc::new),
            broker_authenticated: topic,
            publishers: None,
        })
    }

    /// This policy, taking only the publishers `publishers` allows.
    pub fn with_publishers(self, publishers: Option<publishers::Publishers>) -> Self {
        Self { publishers, ..self }
    }
}

/// What admitting a request holds: a slot of the route's concurrency limit, if it has one,
/// given back when this is dropped, and who was admitted.
#[derive(Debug)]
#[must_use = "the concurrency slot is given back when the admission is dropped"]
pub struct Admission {
    _slot: Option<OwnedSemaphorePermit>,
    identity: Option<Arc<Identity>>,
}

impl Admission {
    /// The identity the request was admitted as; none for a public route called without one.
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        self.identity.as_ref()
    }
}

/// Identity fields forwarded to backends as metadata.
#[derive(Debug, Clone, Default)]
pub(crate) struct Forward {
    /// (claim, metadata key); `sub` is the subject.
    claims: Vec<(Box<str>, HeaderName)>,
}

impl Forward {
    fn build(config: &PoliciesConfig) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut claims = Vec::new();
        for (claim, key) in &config.forward_claims {
            match HeaderName::from_bytes(key.to_ascii_lowercase().as_bytes()) {
                Ok(name) if !name.as_str().starts_with("grpc-") => {
                    claims.push((claim.as_str().into(), name))
                }
                _ => errors.push(format!(
                    "forward_claims.{claim}: '{key}' is not a metadata key"
                )),
            }
        }
        if errors.is_empty() {
            Ok(Self { claims })
        } else {
            Err(errors)
        }
    }

    /// The metadata of a caller known only by its subject (an API key).
    pub(crate) fn subject_metadata(&self, subject: &str) -> Vec<(HeaderName, HeaderValue)> {
        self.metadata(|claim| (claim == "sub").then(|| subject.to_owned()))
    }

    /// The metadata of every forwarded claim `value` knows.
    pub(crate) fn metadata(
        &self,
        value: impl Fn(&str) -> Option<String>,
    ) -> Vec<(HeaderName, HeaderValue)> {
        self.claims
            .iter()
            .filter_map(|(claim, name)| {
                let value = HeaderValue::from_str(&value(claim)?).ok()?;
                Some((name.clone(), value))
            })
            .collect()
    }
}

/// Addresses whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    fn build(written: &[String]) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut blocks = Vec::new();
        for text in written {
            let (address, bits) = match text.split_once('/') {
                Some((address, bits)) => (address, bits.parse::<u8>().ok()),
                None => (text.as_str(), None),
            };
            match address.parse::<IpAddr>() {
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    match bits {
                        Some(bits) if bits <= max => blocks.push((ip, bits)),
                        None if !text.contains('/') => blocks.push((ip, max)),
                        _ => errors
                            .push(format!("trusted_proxies: '{text}' has a bad prefix length")),
                    }
                }
                Err(_) => errors.push(format!(
                    "trusted_proxies: '{text}' is not an address or CIDR block"
                )),
            }
        }
        if errors.is_empty() {
            Ok(Self(blocks))
        } else {
            Err(errors)
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|&(block, bits)| match (block, ip) {
            (IpAddr::V4(block), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                u32::from(block) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(block), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                u128::from(block) & mask == u128::from(ip) & mask
            }
            _ => false,
        })
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the last
    /// address in `X-Forwarded-For` that is not one.
    fn client_ip(&self, caller: &Caller) -> Option<IpAddr> {
        let peer = caller.address?.ip();
        if !self.contains(peer) {
            return Some(peer);
        }
        let mut client = peer;
        for value in caller.headers.get_all(X_FORWARDED_FOR).iter().rev() {
            let Ok(text) = value.to_str() else {
                return Some(client);
            };
            for hop in text.rsplit(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) if self.contains(ip) => client = ip,
                    Ok(ip) => return Some(ip),
                    Err(_) => return Some(client),
                }
            }
        }
        Some(client)
    }
}

/// Every policy of a gateway, built once from the config.
#[derive(Default)]
pub struct Policies {
    default_auth: Option<AuthRequirement>,
    api_keys: Option<ApiKeys>,
    jwt: Option<Arc<Jwt>>,
    introspection: Option<Introspection>,
    forward: Forward,
    trusted: TrustedProxies,
    shared: Option<Arc<SharedState>>,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies")
            .field("default_auth", &self.default_auth)
            .finish_non_exhaustive()
    }
}

impl Policies {
    /// Validates `config` (reading key files and the environment) into running policies,
    /// collecting every error.
    pub fn build(config: &PoliciesConfig, base_dir: &Path) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let forward = Forward::build(config)
            .map_err(|e| errors.extend(e))
            .unwrap_or_default();
        let trusted = TrustedProxies::build(&config.trusted_proxies)
            .map_err(|e| errors.extend(e))
            .unwrap_or_default();
        let api_keys = match &config.api_keys {
            None => None,
            Some(keys) => ApiKeys::build(keys, base_dir, &forward, |n| std::env::var(n).ok())
                .map_err(|e| errors.extend(e))
                .ok(),
        };
        let jwt = match &config.jwt {
            None => None,
            Some(jwt) => Jwt::build(jwt, base_dir, &forward)
                .map_err(|e| errors.extend(e))
                .ok()
                .map(Arc::new),
        };
        let introspection = match &config.introspection {
            None => None,
            Some(introspection) => {
                Introspection::build(introspection, &forward, |n| std::env::var(n).ok())
                    .map_err(|e| errors.extend(e))
                    .ok()
            }
        };
        let default_auth = config
            .default_auth
            .as_ref()
            .map(AuthRequirement::from_config)
            .transpose()
            .map_err(|e| errors.push(format!("default_{e}")))
            .ok()
            .flatten();
        if matches!(default_auth, Some(AuthRequirement::Credential { .. }))
            && config.api_keys.is_none()
            && config.jwt.is_none()
            && config.introspection.is_none()
        {
            errors.push(
                "default_auth requires credentials, but none of api_keys, jwt and introspection is configured"
                    .into(),
            );
        }
        if !errors.is_empty() {
            return Err(errors
                .into_iter()
                .map(|e| format!("policies: {e}"))
                .collect());
        }
        Ok(Self {
            default_auth,
            api_keys,
            jwt,
            introspection,
            forward,
            trusted,
            shared: None,
        })
    }

    /// The same policies with the shared state that `shared: true` rate limits draw from.
    pub fn with_shared(self, shared: Option<Arc<SharedState>>) -> Self {
        Self { shared, ..self }
    }

    /// Starts what runs in the background: the first fetch of a JWKS URL and its refresh.
    pub async fn start(&self) {
        if let Some(jwt) = &self.jwt {
            Jwt::start(jwt).await;
        }
    }

    /// What a request naming `verb` to `route` requires: the route's own setting or the
    /// default.
    pub fn requirement<'a>(
        &'a self,
        route: &'a RoutePolicy,
        verb: Option<&Method>,
    ) -> &'a AuthRequirement {
        if route.broker_authenticated {
            return &AuthRequirement::Public;
        }
        route
            .auth
            .as_ref()
            .or(self.default_auth.as_ref())
            .unwrap_or(&AuthRequirement::Public)
            .applied(verb)
    }

    /// How `polygate check` shows the route's authentication: `PUBLIC`, `broker` (topic
    /// routes), `any`, or the accepted kinds and scopes (`api_key+scopes:write`).
    pub fn describe(&self, route: &RoutePolicy, verb: Option<&Method>) -> String {
        if route.broker_authenticated {
            return "broker".into();
        }
        match self.requirement(route, verb) {
            AuthRequirement::Public => "PUBLIC".into(),
            AuthRequirement::Credential {
                schemes, scopes, ..
            } => {
                let mut text = if schemes.is_empty() {
                    "any".to_owned()
                } else {
                    schemes
                        .iter()
                        .map(|s| scheme_name(*s))
                        .collect::<Vec<_>>()
                        .join("|")
                };
                if !scopes.is_empty() {
                    text.push_str("+scopes:");
                    text.push_str(&scopes.join(","));
                }
                text
            }
        }
    }

    /// Whether anyone may call `route` without a credential.
    pub fn is_public(&self, route: &RoutePolicy, verb: Option<&Method>) -> bool {
        !route.broker_authenticated && *self.requirement(route, verb) == AuthRequirement::Public
    }

    /// Checks that a route requiring credentials can be satisfied by the configured kinds.
    pub fn check_route(&self, route: &RoutePolicy) -> Result<(), String> {
        if let Some(limit) = route.rate_limit.as_ref().filter(|l| l.is_shared()) {
            match &self.shared {
                Some(shared) => shared.register_limit(limit.name()),
                None => return Err(
                    "rate_limit.shared needs the redis: section (the server the instances share)"
                        .into(),
                ),
            }
        }
        let requirement = route.auth.as_ref().or(self.default_auth.as_ref());
        let Some(AuthRequirement::Credential { schemes, .. }) =
            requirement.filter(|_| !route.broker_authenticated)
        else {
            return Ok(());
        };
        let configured = |scheme: &Scheme| match scheme {
            Scheme::ApiKey => self.api_keys.is_some(),
            Scheme::Jwt => self.jwt.is_some(),
            Scheme::Introspection => self.introspection.is_some(),
        };
        let usable = if schemes.is_empty() {
            self.api_keys.is_some() || self.jwt.is_some() || self.introspection.is_some()
        } else {
            schemes.iter().any(configured)
        };
        if usable {
            Ok(())
        } else {
            Err("auth: the route requires credentials of a kind that policies: does not configure (api_keys, jwt or introspection)".into())
        }
    }

    /// The one hook: checks a topic route's publisher, authenticates the caller of a request
    /// to `route` (unless the route is public), checks its scopes, removes client-sent copies of forwarded identity metadata
    /// and adds the verified ones, takes a token from the route's rate limit, and a slot of
    /// its concurrency limit (held by the returned [`Admission`] until it is dropped).
    pub async fn admit(
        &self,
        route: &RoutePolicy,
        key: &RequestKey,
        caller: &Caller,
        metadata: &mut HeaderMap,
    ) -> Result<Admission, Status> {
        for (_, name) in &self.forward.claims {
            metadata.remove(name);
        }
        if let (Some(publishers), RequestKey::Topic { topic }) = (&route.publishers, key) {
            let (client_id, allowed) = publishers.check(topic);
            if !allowed {
                return Err(PolicyError::PublisherRefused {
                    client_id: client_id.into(),
                }
                .status());
            }
        }
        let query = key.query();
        let identity = match self.requirement(route, key.verb()) {
            AuthRequirement::Public => caller.identity.clone(),
            requirement => {
                let identity = match &caller.identity {
                    Some(identity) => Some(identity.clone()),
                    None => self
                        .authenticate(caller, query, true)
                        .await
                        .map_err(PolicyError::status)?,
                };
                let identity = self
                    .authorize(requirement, identity)
                    .map_err(PolicyError::status)?;
                for (name, value) in &identity.metadata {
                    metadata.insert(name.clone(), value.clone());
                }
                Some(identity)
            }
        };
        if let Some(limiter) = &route.rate_limit {
            let now = Instant::now();
            let shared = self.shared.as_deref();
            let subject = |scheme: &str| {
                identity
                    .as_ref()
                    .filter(|i| i.scheme == scheme)
                    .map(|i| &*i.subject)
            };
            let checked = match limiter.key() {
                RateKey::Route => limiter.admit(shared, (), now).await,
                RateKey::ApiKey => limiter.admit(shared, subject("api_key"), now).await,
                RateKey::Subject => limiter.admit(shared, subject("jwt"), now).await,
                RateKey::ClientId => {
                    limiter
                        .admit(shared, caller.client_id.as_deref(), now)
                        .await
                }
                RateKey::ClientIp => {
                    limiter
                        .admit(shared, self.trusted.client_ip(caller), now)
                        .await
                }
                RateKey::Caller => match (&identity, &caller.client_id) {
                    (Some(i), _) => {
                        limiter
                            .admit(shared, (0u8, i.scheme, &*i.subject), now)
                            .await
                    }
                    (None, Some(id)) => limiter.admit(shared, (1u8, &**id), now).await,
                    (None, None) => {
                        limiter
                            .admit(shared, (2u8, self.trusted.client_ip(caller)), now)
                            .await
                    }
                },
            };
            checked.map_err(PolicyError::status)?;
        }
        let slot = match &route.concurrency {
            None => None,
            Some(limit) => Some(limit.acquire().await.map_err(PolicyError::status)?),
        };
        Ok(Admission {
            _slot: slot,
            identity,
        })
    }

    /// Authenticates a connection's opening request (a WebSocket upgrade) for what it will
    /// call: `route` for a socket bound to one route, `None` for a multiplexed endpoint (the
    /// default authentication applies). A credential that is sent must be valid; none at all
    /// is refused unless the route (or the default) is public. The identity found is kept
    /// for the connection's calls. An opaque token is introspected (or found in the cache)
    /// before this answers.
    pub async fn connect(
        &self,
        route: Option<&RoutePolicy>,
        caller: &Caller,
        query: Option<&str>,
    ) -> Result<Option<Arc<Identity>>, Status> {
        let public = RoutePolicy::default();
        let requirement = self.requirement(route.unwrap_or(&public), None);
        let identity = self
            .authenticate(caller, query, false)
            .await
            .map_err(PolicyError::status)?;
        match requirement {
            AuthRequirement::Public => Ok(identity),
            requirement => self
                .authorize(requirement, identity)
                .map(Some)
                .map_err(PolicyError::status),
        }
    }

    /// Verifies a JWT given where a password is expected (the embedded MQTT broker's CONNECT,
    /// with `jwt_passwords`) exactly as a bearer token is verified: the same keys, issuers,
    /// audiences and leeway, and an unknown key id waits for the JWKS to be fetched again
    /// (at most once per interval). `None` when `password` does not have a JWT's shape.
    pub async fn verify_jwt_password(
        &self,
        password: &str,
    ) -> Option<Result<Arc<Identity>, Box<str>>> {
        if !jwt::looks_like_jwt(password) {
            return None;
        }
        let Some(jwt) = &self.jwt else {
            return Some(Err("JWTs are not verified here (no policies.jwt)".into()));
        };
        Some(match jwt.verify(password) {
            Err(_) if jwt.wants_refetch(password) => {
                jwt.refetch().await;
                jwt.verify(password)
            }
            other => other,
        })
    }

    /// The caller's identity from its credentials (an API key first, then a bearer token);
    /// `None` when it sent none. A bearer token is a JWT when JWT verification is configured
    /// and it has a JWT's shape (or introspection is not configured); otherwise it is
    /// introspected. With `wait`, an unknown JWT key id waits for the JWKS to be fetched
    /// again; without, it only schedules the fetch.
    async fn authenticate(
        &self,
        caller: &Caller,
        query: Option<&str>,
        wait: bool,
    ) -> Result<Option<Arc<Identity>>, PolicyError> {
        if let Some(found) = self.api_key(caller, query)? {
            return Ok(Some(found));
        }
        let Some(token) = jwt::bearer(&caller.headers) else {
            return Ok(None);
        };
        let jwt = self
            .jwt
            .as_ref()
            .filter(|_| self.introspection.is_none() || jwt::looks_like_jwt(token));
        if let Some(jwt) = jwt {
            return match jwt.verify(token) {
                Ok(identity) => Ok(Some(identity)),
                Err(_) if wait && jwt.wants_refetch(token) => {
                    jwt.refetch().await;
                    jwt.verify(token).map(Some).map_err(|e| self.invalid(e))
                }
                Err(reason) => {
                    if jwt.wants_refetch(token) {
                        jwt.refetch_in_background();
                    }
                    Err(self.invalid(reason))
                }
            };
        }
        match &self.introspection {
            Some(introspection) => match introspection.verify(token).await {
                Ok(identity) => Ok(Some(identity)),
                Err(Refusal::Inactive) => Err(self.invalid("the token is not active".into())),
                Err(Refusal::Unavailable(reason)) => Err(PolicyError::CheckUnavailable { reason }),
            },
            None => Err(self.invalid("bearer tokens are not accepted here".into())),
        }
    }

    fn api_key(
        &self,
        caller: &Caller,
        query: Option<&str>,
    ) -> Result<Option<Arc<Identity>>, PolicyError> {
        let Some(keys) = &self.api_keys else {
            return Ok(None);
        };
        match keys.check(&caller.headers, query) {
            KeyCheck::Absent => Ok(None),
            KeyCheck::Valid(identity) => Ok(Some(identity)),
            KeyCheck::Invalid => Err(self.invalid("the API key is not valid".into())),
        }
    }

    /// Whether `identity` satisfies `requirement`.
    fn authorize(
        &self,
        requirement: &AuthRequirement,
        identity: Option<Arc<Identity>>,
    ) -> Result<Arc<Identity>, PolicyError> {
        let AuthRequirement::Credential {
            schemes, scopes, ..
        } = requirement
        else {
            return identity.ok_or_else(|| self.missing(&[]));
        };
        let identity = match identity {
            Some(identity)
                if schemes.is_empty()
                    || schemes.iter().any(|s| scheme_name(*s) == identity.scheme) =>
            {
                identity
            }
            _ => return Err(self.missing(schemes)),
        };
        if let Some(scope) = scopes.iter().find(|s| !identity.scopes.contains(s)) {
            return Err(PolicyError::MissingScope {
                scope: scope.clone(),
            });
        }
        Ok(identity)
    }

    fn missing(&self, schemes: &[Scheme]) -> PolicyError {
        let accepts = |s: Scheme| schemes.is_empty() || schemes.contains(&s);
        let mut hints = Vec::new();
        if let Some(keys) = self.api_keys.as_ref().filter(|_| accepts(Scheme::ApiKey)) {
            hints.push(format!("an API key in the {} header", keys.header));
        }
        if self.bearer_accepted(&accepts) {
            hints.push("a bearer token in the authorization header".to_owned());
        }
        PolicyError::Missing {
            hint: hints.join(" or ").into(),
            challenge: self.challenge(schemes, None).into(),
        }
    }

    fn invalid(&self, reason: Box<str>) -> PolicyError {
        PolicyError::Invalid {
            challenge: self.challenge(&[], Some(&reason)).into(),
            reason,
        }
    }

    /// Whether a bearer token (a JWT or an introspected one) is among the kinds `accepts`.
    fn bearer_accepted(&self, accepts: &impl Fn(Scheme) -> bool) -> bool {
        (self.jwt.is_some() && accepts(Scheme::Jwt))
            || (self.introspection.is_some() && accepts(Scheme::Introspection))
    }

    /// `WWW-Authenticate`: one challenge per accepted kind.
    fn challenge(&self, schemes: &[Scheme], error: Option<&str>) -> String {
        let accepts = |s: Scheme| schemes.is_empty() || schemes.contains(&s);
        let mut challenges = Vec::new();
        if let Some(keys) = self.api_keys.as_ref().filter(|_| accepts(Scheme::ApiKey)) {
            challenges.push(format!(
                "ApiKey realm=\"polygate\", header=\"{}\"",
                keys.header
            ));
        }
        if self.bearer_accepted(&accepts) {
            let mut bearer = "Bearer realm=\"polygate\"".to_owned();
            if let Some(error) = error {
                bearer.push_str(", error=\"invalid_token\", error_description=\"");
                bearer.extend(error.chars().filter(|c| *c != '"' && *c != '\\'));
                bearer.push('"');
            }
            challenges.push(bearer);
        }
        challenges.join(", ")
    }
}

fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::ApiKey => "api_key",
        Scheme::Jwt => "jwt",
        Scheme::Introspection => "introspection",
    }
}

#[cfg(test)]
mod tests;
