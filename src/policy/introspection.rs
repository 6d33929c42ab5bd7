//! OAuth2 opaque tokens through token introspection (RFC 7662): a bearer token is POSTed to the
//! authorization server's endpoint with polygate's client credentials, and its answer (`active`,
//! `sub`, `scope`, `exp`, other claims) becomes the caller's identity. Answers are cached under
//! the token's SHA-256 (the token itself is never kept): active ones until the token's `exp`
//! or `cache_ttl`, whichever comes first, inactive ones for `negative_ttl`. Concurrent lookups
//! of one token make one call. A failed call (refused, timed out, 5xx, an answer that is not
//! RFC 7662) is never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use super::config::IntrospectionConfig;
use super::fetch::{self, PolicyClient};
use super::Forward;
use crate::model::Identity;

/// The largest introspection answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// `application/x-www-form-urlencoded` escapes all but these (and alphanumerics).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'*');

/// The SHA-256 of a token: the cache's key.
type TokenHash = [u8; 32];

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The authorization server says the token is not active.
    Inactive,
    /// The endpoint could not be asked, or answered badly: the reason.
    Unavailable(Box<str>),
}

/// The endpoint's verdict on a token.
#[derive(Debug, Clone)]
enum Verdict {
    Active(Arc<Identity>),
    Inactive,
}

impl Verdict {
    fn result(self) -> Result<Arc<Identity>, Refusal> {
        match self {
            Verdict::Active(identity) => Ok(identity),
            Verdict::Inactive => Err(Refusal::Inactive),
        }
    }
}

struct Entry {
    verdict: Verdict,
    until: Instant,
}

/// A lookup under way, shared by every request that carries the same token meanwhile.
type Lookup = Arc<OnceCell<Result<Verdict, Box<str>>>>;

/// Token introspection as configured.
pub(crate) struct Introspection {
    uri: Uri,
    /// `Basic …` with the client credentials.
    authorization: HeaderValue,
    client: PolicyClient<Full<Bytes>>,
    timeout: Duration,
    cache_ttl: Duration,
    negative_ttl: Duration,
    cache_size: usize,
    forward: Forward,
    cache: Mutex<HashMap<TokenHash, Entry>>,
    in_flight: Mutex<HashMap<TokenHash, Lookup>>,
}

impl Introspection {
    /// Validates the config (reading the secret from the environment when it says so).
    pub(crate) fn build(
        config: &IntrospectionConfig,
        forward: &Forward,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let uri = fetch::url(&config.url)
            .map_err(|e| errors.push(format!("introspection.url: {e}")))
            .ok();
        let secret = match (&config.client_secret, &config.client_secret_env) {
            (Some(secret), None) => Some(secret.clone()),
            (None, Some(variable)) => {
                let found = env(variable);
                if found.is_none() {
                    errors.push(format!(
                        "introspection.client_secret_env: the environment variable {variable} is not set"
                    ));
                }
                found
            }
            _ => {
                errors.push(
                    "introspection: give client_secret or client_secret_env, one of them".into(),
                );
                None
            }
        };
        if config.client_id.is_empty() {
            errors.push("introspection.client_id: must not be empty".into());
        }
        let timeout = config.timeout.map_or(Duration::from_secs(2), |t| t.0);
        if timeout.is_zero() {
            errors.push("introspection.timeout: must be more than 0".into());
        }
        let client = fetch::client(timeout)
            .map_err(|e| errors.push(format!("introspection: {e}")))
            .ok();
        let (Some(uri), Some(secret), Some(client), true) =
            (uri, secret, client, errors.is_empty())
        else {
            return Err(errors);
        };
        let credentials = format!(
            "{}:{}",
            utf8_percent_encode(&config.client_id, FORM),
            utf8_percent_encode(&secret, FORM)
        );
        let authorization = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ))
        .map_err(|_| vec!["introspection: the client credentials do not fit a header".into()])?;
        Ok(Self {
            uri,
            authorization,
            client,
            timeout,
            cache_ttl: config.cache_ttl.map_or(Duration::from_secs(60), |t| t.0),
            negative_ttl: config.negative_ttl.map_or(Duration::from_secs(10), |t| t.0),
            cache_size: config.cache_size.unwrap_or(10_000),
            forward: forward.clone(),
            cache: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// The identity `token` stands for: from the cache while the answer lasts, else from the
    /// endpoint (one call for all concurrent requests with this token).
    pub(crate) async fn verify(&self, token: &str) -> Result<Arc<Identity>, Refusal> {
        let key = hash(token);
        if let Some(verdict) = self.cached(&key) {
            return verdict.result();
        }
        let joined = Joined {
            owner: self,
            key,
            lookup: self
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key)
                .or_default()
                .clone(),
        };
        let lookup = &joined.lookup;
        let outcome = lookup
            .get_or_init(|| async {
                // A lookup that finished just before this one was registered left its answer.
                let outcome = match self.cached(&key) {
                    Some(verdict) => Ok(verdict),
                    None => self.call(token).await.map(|(verdict, until)| {
                        self.remember(key, &verdict, until);
                        verdict
                    }),
                };
                let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                if in_flight.get(&key).is_some_and(|l| Arc::ptr_eq(l, lookup)) {
                    in_flight.remove(&key);
                }
                outcome
            })
            .await
            .clone();
        outcome.map_err(Refusal::Unavailable)?.result()
    }

    fn cached(&self, key: &TokenHash) -> Option<Verdict> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|entry| Instant::now() < entry.until)
            .map(|entry| entry.verdict.clone())
    }

    fn remember(&self, key: TokenHash, verdict: &Verdict, until: Instant) {
        if self.cache_size == 0 || until <= Instant::now() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= self.cache_size && !cache.contains_key(&key) {
            let now = Instant::now();
            cache.retain(|_, entry| now < entry.until);
            let excess = (cache.len() + 1).saturating_sub(self.cache_size);
            let victims: Vec<TokenHash> = cache.keys().take(excess).copied().collect();
            for victim in victims {
                cache.remove(&victim);
            }
        }
        cache.insert(
            key,
            Entry {
                verdict: verdict.clone(),
                until,
            },
        );
    }

    /// Asks the endpoint about `token`: its verdict and until when it may be kept.
    async fn call(&self, token: &str) -> Result<(Verdict, Instant), Box<str>> {
        let body = format!(
            "token={}&token_type_hint=access_token",
            utf8_percent_encode(token, FORM)
        );
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| -> Box<str> { e.to_string().into() })?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("the introspection endpoint cannot be reached: {e}"))?;
            let status = response.status();
            let body = fetch::body(response.into_body(), MAX_ANSWER_BYTES)
                .await
                .map_err(|e| format!("the introspection endpoint's answer was cut: {e}"))?;
            if !status.is_success() {
                return Err(format!("the introspection endpoint answered {status}"));
            }
            Ok(body)
        };
        let body = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| -> Box<str> {
                format!(
                    "the introspection endpoint did not answer within {:?}",
                    self.timeout
                )
                .into()
            })??;
        let answer: Map<String, Value> =
            serde_json::from_slice(&body).map_err(|_| -> Box<str> {
                "the introspection endpoint's answer is not a JSON object".into()
            })?;
        let now = Instant::now();
        match answer.get("active") {
            Some(Value::Bool(true)) => {
                let identity = self.identity(&answer);
                let left = identity
                    .expires
                    .map(|exp| {
                        exp.duration_since(SystemTime::now())
                            .unwrap_or(Duration::ZERO)
                    })
                    .map_or(self.cache_ttl, |left| left.min(self.cache_ttl));
                Ok((Verdict::Active(Arc::new(identity)), now + left))
            }
            Some(Value::Bool(false)) => Ok((Verdict::Inactive, now + self.negative_ttl)),
            _ => Err("the introspection endpoint's answer has no boolean 'active'".into()),
        }
    }

    /// The identity of an active token: `sub` (else `username`) is the subject, `scope` its
    /// space-separated scopes, and every top-level member can be forwarded by `forward_claims`.
    fn identity(&self, answer: &Map<String, Value>) -> Identity {
        let text = |name: &str| match answer.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let subject = text("sub").or_else(|| text("username")).unwrap_or_default();
        let scopes = match answer.get("scope") {
            Some(Value::String(s)) => s.split_whitespace().map(Into::into).collect(),
            _ => Vec::new(),
        };
        let expires = answer
            .get("exp")
            .and_then(Value::as_u64)
            .map(|exp| UNIX_EPOCH + Duration::from_secs(exp));
        let metadata = self.forward.metadata(|claim| match claim {
            "sub" => Some(subject.clone()),
            other => text(other),
        });
        Identity {
            scheme: "introspection",
            subject: subject.into(),
            scopes,
            metadata,
            expires,
        }
    }
}

/// A request's share in a lookup. The last request to leave a lookup that never finished (every
/// request waiting for it was cancelled) takes it out of `in_flight`, so abandoned lookups do
/// not pile up.
struct Joined<'a> {
    owner: &'a Introspection,
    key: TokenHash,
    lookup: Lookup,
}

impl Drop for Joined<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .owner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Requests join under this lock, so the count cannot grow meanwhile: 2 is the map's
        // reference and this one.
        if in_flight
            .get(&self.key)
            .is_some_and(|l| Arc::ptr_eq(l, &self.lookup))
            && Arc::strong_count(&self.lookup) == 2
        {
            in_flight.remove(&self.key);
        }
    }
}

fn hash(token: &str) -> TokenHash {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn introspection(forward: &Forward) -> Introspection {
        let config = IntrospectionConfig {
            url: "http://127.0.0.1:9/introspect".into(),
            client_id: "polygate gw".into(),
            client_secret_env: Some("SECRET".into()),
            ..IntrospectionConfig::default()
        };
        Introspection::build(&config, forward, |name| {
            (name == "SECRET").then(|| "s3cr:t".to_owned())
        })
        .unwrap()
    }

    #[test]
    fn client_credentials_are_form_encoded_then_basic() {
        let built = introspection(&Forward::default());
        let expected = base64::engine::general_purpose::STANDARD.encode("polygate%20gw:s3cr%3At");
        assert_eq!(built.authorization, format!("Basic {expected}").as_str());
    }

    #[test]
    fn bad_configs_are_refused_with_every_reason() {
        let config = IntrospectionConfig {
            url: "ftp://idp/introspect".into(),
            client_id: String::new(),
            client_secret: Some("a".into()),
            client_secret_env: Some("B".into()),
            ..IntrospectionConfig::default()
        };
        let errors = Introspection::build(&config, &Forward::default(), |_| None)
            .err()
            .unwrap();
        assert_eq!(
            errors,
            vec![
                "introspection.url: 'ftp://idp/introspect' must be an http:// or https:// URL",
                "introspection: give client_secret or client_secret_env, one of them",
                "introspection.client_id: must not be empty",
            ]
        );
        let config = IntrospectionConfig {
            url: "https://idp/introspect".into(),
            client_id: "gw".into(),
            client_secret_env: Some("UNSET".into()),
            ..IntrospectionConfig::default()
        };
        let errors = Introspection::build(&config, &Forward::default(), |_| None)
            .err()
            .unwrap();
        assert_eq!(
            errors,
            vec!["introspection.client_secret_env: the environment variable UNSET is not set"]
        );
    }

    #[test]
    fn an_active_answer_becomes_an_identity_with_its_scopes_and_claims() {
        let forward = Forward {
            claims: vec![
                ("sub".into(), http::HeaderName::from_static("x-user-id")),
                ("tenant".into(), http::HeaderName::from_static("x-tenant")),
            ],
        };
        let built = introspection(&forward);
        let answer = serde_json::json!({
            "active": true, "username": "ada", "scope": "read  write", "exp": 4_000_000_000u64,
            "tenant": "t1"
        });
        let identity = built.identity(answer.as_object().unwrap());
        assert_eq!(&*identity.subject, "ada");
        assert_eq!(identity.scheme, "introspection");
        assert_eq!(
            identity.scopes,
            vec!["read".into(), "write".into()] as Vec<Box<str>>
        );
        assert_eq!(
            identity.expires,
            Some(UNIX_EPOCH + Duration::from_secs(4_000_000_000))
        );
        assert_eq!(
            identity.metadata,
            vec![
                (
                    http::HeaderName::from_static("x-user-id"),
                    HeaderValue::from_static("ada")
                ),
                (
                    http::HeaderName::from_static("x-tenant"),
                    HeaderValue::from_static("t1")
                ),
            ]
        );
    }

    #[tokio::test]
    async fn a_lookup_every_request_left_is_forgotten() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = IntrospectionConfig {
            url: format!("http://{}/introspect", listener.local_addr().unwrap()),
            client_id: "gw".into(),
            client_secret: Some("s".into()),
            ..IntrospectionConfig::default()
        };
        let built = Arc::new(Introspection::build(&config, &Forward::default(), |_| None).unwrap());
        let asking = {
            let built = built.clone();
            tokio::spawn(async move { built.verify("abandoned").await })
        };
        // The endpoint takes the connection and never answers; the request is cancelled.
        let _connection = listener.accept().await.unwrap();
        assert_eq!(built.in_flight.lock().unwrap().len(), 1);
        asking.abort();
        assert!(asking.await.unwrap_err().is_cancelled());
        assert!(built.in_flight.lock().unwrap().is_empty());
        assert!(built.cache.lock().unwrap().is_empty());
    }

    #[test]
    fn the_cache_keeps_hashes_and_stays_within_its_size() {
        let mut built = introspection(&Forward::default());
        built.cache_size = 2;
        let later = Instant::now() + Duration::from_secs(60);
        for token in ["a", "b", "c"] {
            built.remember(hash(token), &Verdict::Inactive, later);
        }
        let cache = built.cache.lock().unwrap();
        assert_eq!(cache.len(), 2);
        assert!(cache.contains_key(&hash("c")));
        drop(cache);
        built.remember(hash("d"), &Verdict::Inactive, Instant::now());
        assert!(
            built.cached(&hash("d")).is_none(),
            "already expired: not kept"
        );
    }
}
