//! JSON Web Tokens: `Authorization: Bearer`, verified with jsonwebtoken against keys from the
//! config, a JWKS file or a JWKS URL. Each key verifies one algorithm family (an HS256 token is
//! never checked with an RSA key) and `alg: none` is refused; `exp` is required, `nbf`, `iss`
//! and `aud` are checked with a leeway. Verified tokens are cached until they expire.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, Uri};
use http_body_util::Empty;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::config::JwtConfig;
use super::fetch::{self, PolicyClient};
use super::Forward;
use crate::model::Identity;

/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The bearer token of `headers`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether `token` has a JWT's shape: three dot-separated parts, the first a base64url JSON
/// object (its header). Opaque tokens go to introspection instead.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .is_ok_and(|json| json.first() == Some(&b'{'))
}

/// One verification key, pinned to an algorithm when the config or the JWK names one.
struct Key {
    kid: Option<String>,
    algorithm: Option<Algorithm>,
    key: DecodingKey,
}

struct Cached {
    token: Box<str>,
    identity: Arc<Identity>,
    /// `exp` plus the leeway.
    until: SystemTime,
}

/// Where a JWKS comes from again.
struct Remote {
    uri: Uri,
    client: PolicyClient<Empty<Bytes>>,
    refetch_interval: Duration,
    /// When an unknown key id last caused a fetch (start-up and periodic fetches do not count).
    last_refetch: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
}

/// JWT verification as configured.
pub(crate) struct Jwt {
    configured: Vec<Arc<Key>>,
    keys: ArcSwap<Vec<Arc<Key>>>,
    remote: Option<Arc<Remote>>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    forward: Forward,
    cache_size: usize,
    seed: RandomState,
    cache: Mutex<HashMap<u64, Cached>>,
    refresh: Duration,
}

impl Jwt {
    /// Reads the configured keys and the JWKS file; a JWKS URL is fetched by [`Self::start`].
    pub(crate) fn build(
        config: &JwtConfig,
        base_dir: &Path,
        forward: &Forward,
    ) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut configured = Vec::new();
        for (i, key) in config.keys.iter().enumerate() {
            match configured_key(key, base_dir) {
                Ok(key) => configured.push(Arc::new(key)),
                Err(e) => errors.push(format!("jwt.keys[{i}]: {e}")),
            }
        }
        let mut keys = configured.clone();
        if let Some(file) = &config.jwks_file {
            let path = base_dir.join(file);
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| parse_jwks(&b))
            {
                Ok(found) => keys.extend(found),
                Err(e) => errors.push(format!("jwt.jwks_file {}: {e}", path.display())),
            }
        }
        let remote = match &config.jwks_url {
            None => None,
            Some(url) => match remote(url, config) {
                Ok(remote) => Some(Arc::new(remote)),
                Err(e) => {
                    errors.push(format!("jwt.jwks_url: {e}"));
                    None
                }
            },
        };
        if keys.is_empty() && remote.is_none() {
            errors.push("jwt: no keys (keys, jwks_file or jwks_url)".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            configured,
            keys: ArcSwap::from_pointee(keys),
            remote,
            issuers: config.issuers.clone(),
            audiences: config.audiences.clone(),
            leeway: config.leeway.map_or(Duration::from_secs(60), |l| l.0),
            forward: forward.clone(),
            cache_size: config.cache_size.unwrap_or(10_000),
            seed: RandomState::new(),
            cache: Mutex::new(HashMap::new()),
            refresh: config
                .jwks_refresh
                .map_or(Duration::from_secs(600), |r| r.0),
        })
    }

    /// Verifies `token`: from the cache while it lasts, else against the keys.
    pub(crate) fn verify(&self, token: &str) -> Result<Arc<Identity>, Box<str>> {
        let hash = self.seed.hash_one(token);
        let now = SystemTime::now();
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = cache.get(&hash) {
                if &*hit.token == token && now <= hit.until {
                    return Ok(hit.identity.clone());
                }
            }
        }
        let identity = Arc::new(self.verify_uncached(token)?);
        if let Some(expires) = identity.expires {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= self.cache_size {
                cache.retain(|_, c| now <= c.until);
                if cache.len() >= self.cache_size {
                    cache.clear();
                }
            }
            if self.cache_size > 0 {
                cache.insert(
                    hash,
                    Cached {
                        token: token.into(),
                        identity: identity.clone(),
                        until: expires + self.leeway,
                    },
                );
            }
        }
        Ok(identity)
    }

    fn verify_uncached(&self, token: &str) -> Result<Identity, Box<str>> {
        let header = decode_header(token).map_err(|_| -> Box<str> {
            "the token is malformed or names an algorithm polygate does not accept (alg none is refused)".into()
        })?;
        let keys = self.keys.load();
        let mut candidates = keys.iter().filter(|k| match (&header.kid, &k.kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            (Some(_), None) => false,
            (None, _) => true,
        });
        let mut named_key = false;
        let mut last = None;
        for key in candidates.by_ref() {
            named_key = true;
            if key.algorithm.is_some_and(|a| a != header.alg)
                || key.key.family() != header.alg.family()
            {
                last = Some("the token's algorithm does not match its key".into());
                continue;
            }
            let mut validation = Validation::new(header.alg);
            validation.leeway = self.leeway.as_secs();
            validation.validate_nbf = true;
            validation.set_required_spec_claims(&["exp"]);
            if !self.issuers.is_empty() {
                validation.set_issuer(&self.issuers);
            }
            if self.audiences.is_empty() {
                validation.validate_aud = false;
            } else {
                validation.set_audience(&self.audiences);
            }
            match decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return Ok(self.identity(&data.claims)),
                Err(error) => {
                    let reason = reason(error.kind());
                    if !matches!(error.kind(), ErrorKind::InvalidSignature) {
                        return Err(reason);
                    }
                    last = Some(reason);
                }
            }
        }
        if !named_key {
            return Err(match &header.kid {
                Some(kid) => format!("the token's key id '{kid}' is unknown").into(),
                None => "the token names no key id and no key fits it".into(),
            });
        }
        Err(last.unwrap_or_else(|| "the token's signature is not valid".into()))
    }

    fn identity(&self, claims: &Map<String, Value>) -> Identity {
        let text = |name: &str| match claims.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let scopes = match claims.get("scope").or_else(|| claims.get("scp")) {
            Some(Value::String(s)) => s.split_whitespace().map(Into::into).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(Into::into)
                .collect(),
            _ => Vec::new(),
        };
        let expires = claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(|exp| UNIX_EPOCH + Duration::from_secs(exp));
        Identity {
            scheme: "jwt",
            subject: text("sub").unwrap_or_default().into(),
            scopes,
            metadata: self.forward.metadata(text),
            expires,
        }
    }

    /// Whether `token` names a key id that is not known and the JWKS URL may be fetched again
    /// now (at most once per `jwks_refetch_interval`).
    pub(crate) fn wants_refetch(&self, token: &str) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        let Ok(header) = decode_header(token) else {
            return false;
        };
        let Some(kid) = header.kid else {
            return false;
        };
        if self
            .keys
            .load()
            .iter()
            .any(|k| k.kid.as_deref() == Some(kid.as_str()))
        {
            return false;
        }
        let last = *remote
            .last_refetch
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        last.is_none_or(|at| at.elapsed() >= remote.refetch_interval)
    }

    /// Fetches the JWKS URL again (one fetch at a time; a fetch that finished while this one
    /// waited counts).
    pub(crate) async fn refetch(&self) {
        let Some(remote) = &self.remote else {
            return;
        };
        let _one = remote.fetching.lock().await;
        {
            let mut last = remote
                .last_refetch
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < remote.refetch_interval) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.fetch(remote).await;
    }

    async fn fetch(&self, remote: &Remote) {
        match fetch_jwks(remote).await {
            Ok(found) => {
                let mut keys = self.configured.clone();
                keys.extend(found);
                tracing::debug!(keys = keys.len(), uri = %remote.uri, "JWKS fetched");
                self.keys.store(Arc::new(keys));
            }
            Err(error) => {
                tracing::warn!(%error, uri = %remote.uri, "JWKS fetch failed; keeping the keys held")
            }
        }
    }

    /// Schedules [`Self::refetch`] without waiting for it.
    pub(crate) fn refetch_in_background(self: &Arc<Self>) {
        let jwt = self.clone();
        tokio::spawn(async move { jwt.refetch().await });
    }

    /// Fetches the JWKS URL now and then every `jwks_refresh` until `jwt` is dropped.
    pub(crate) async fn start(jwt: &Arc<Jwt>) {
        let Some(remote) = jwt.remote.clone() else {
            return;
        };
        jwt.fetch(&remote).await;
        let weak = Arc::downgrade(jwt);
        let period = jwt.refresh;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(jwt) = weak.upgrade() else {
                    return;
                };
                let _one = remote.fetching.lock().await;
                jwt.fetch(&remote).await;
            }
        });
    }
}

fn reason(kind: &ErrorKind) -> Box<str> {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted".into(),
        ErrorKind::InvalidAudience => "the token's audience is not accepted".into(),
        ErrorKind::InvalidSignature => "the token's signature is not valid".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token's algorithm does not match its key".into()
        }
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the token has no '{claim}' claim").into()
        }
        _ => "the token is malformed".into(),
    }
}

fn configured_key(key: &super::config::JwtKeyConfig, base_dir: &Path) -> Result<Key, String> {
    let algorithm = Algorithm::from_str(&key.algorithm)
        .map_err(|_| format!("algorithm '{}' is not one polygate verifies", key.algorithm))?;
    use jsonwebtoken::AlgorithmFamily as F;
    let decoding = match (algorithm.family(), &key.pem_file, &key.secret_env) {
        (F::Hmac, None, Some(variable)) => {
            let secret = std::env::var(variable)
                .map_err(|_| format!("the environment variable {variable} is not set"))?;
            DecodingKey::from_secret(secret.as_bytes())
        }
        (F::Hmac, _, None) => return Err("HS* keys take secret_env".into()),
        (family, Some(file), None) => {
            let path = base_dir.join(file);
            let pem =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            match family {
                F::Rsa => DecodingKey::from_rsa_pem(&pem),
                F::Ec => DecodingKey::from_ec_pem(&pem),
                F::Ed => DecodingKey::from_ed_pem(&pem),
                F::Hmac => unreachable!("matched above"),
            }
            .map_err(|e| format!("{}: {e}", path.display()))?
        }
        _ => return Err("give pem_file (RS/PS/ES/EdDSA) or secret_env (HS), one of them".into()),
    };
    Ok(Key {
        kid: key.kid.clone(),
        algorithm: Some(algorithm),
        key: decoding,
    })
}

/// The usable keys of a JWKS document; keys of unknown types or for encryption are skipped.
fn parse_jwks(bytes: &[u8]) -> Result<Vec<Arc<Key>>, String> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS: {e}"))?;
    Ok(set
        .keys
        .iter()
        .filter(|jwk| jwk.is_supported())
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(jwk).ok()?;
            let algorithm = jwk
                .common
                .key_algorithm
                .and_then(|a| Algorithm::from_str(&a.to_string()).ok());
            Some(Arc::new(Key {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            }))
        })
        .collect())
}

fn remote(url: &str, config: &JwtConfig) -> Result<Remote, String> {
    Ok(Remote {
        uri: fetch::url(url)?,
        client: fetch::client(FETCH_TIMEOUT)?,
        refetch_interval: config
            .jwks_refetch_interval
            .map_or(Duration::from_secs(30), |i| i.0),
        last_refetch: Mutex::new(None),
        fetching: tokio::sync::Mutex::new(()),
    })
}

async fn fetch_jwks(remote: &Remote) -> Result<Vec<Arc<Key>>, String> {
    let fetch = async {
        let response = remote
            .client
            .get(remote.uri.clone())
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let body = fetch::body(response.into_body(), MAX_JWKS_BYTES).await?;
        parse_jwks(&body)
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetch)
        .await
        .map_err(|_| "timed out".to_owned())?
}
