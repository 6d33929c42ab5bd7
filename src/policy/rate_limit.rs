//! Token buckets per route and key, in memory: `rate` tokens per `per`, at most `burst`, one
//! token a request. The key is hashed (with a per-process random seed), so checking a request
//! allocates nothing. A limit marked `shared: true` takes its tokens from a bucket in Redis
//! instead (one per route and key, for every instance), and falls back to the local bucket
//! (`fail: open`) or refuses (`fail: closed`) while Redis is unreachable.

use std::collections::HashMap;
use std::fmt::Write;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::config::{FailMode, RateKey, RateLimitConfig};
use super::error::PolicyError;
use crate::shared_state::{BucketSpec, SharedState, Taken};

/// How many keys a limiter tracks before it forgets the buckets that are full again.
const MAX_KEYS: usize = 100_000;

/// One route's rate limit.
pub struct RateLimiter {
    name: Box<str>,
    key: RateKey,
    burst: f64,
    per_token: Duration,
    /// `RateLimit-Policy`: `"name";q=rate;w=seconds`.
    policy: Box<str>,
    seed: RandomState,
    buckets: Mutex<HashMap<u64, Bucket>>,
    shared: Option<SharedLimit>,
}

/// How a shared limit names its buckets in Redis and behaves without Redis.
#[derive(Debug)]
struct SharedLimit {
    /// `rl:{name}:{route}:`, to which the key's stable hash is appended.
    prefix: Box<str>,
    spec: BucketSpec,
    fail: FailMode,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// A limiter as `config` describes it.
    pub fn build(config: &RateLimitConfig) -> Result<Self, String> {
        Self::build_for(config, "")
    }

    /// A limiter as `config` describes it for the route `route` (`GET /v1/items/{id}`), which
    /// names its shared buckets.
    pub fn build_for(config: &RateLimitConfig, route: &str) -> Result<Self, String> {
        if config.fail.is_some() && !config.shared {
            return Err("rate_limit.fail applies to shared limits only (shared: true)".into());
        }
        let per = config.per.map_or(Duration::from_secs(1), |p| p.0);
        if config.rate == 0 || per.is_zero() {
            return Err("rate_limit: rate and per must be above zero".into());
        }
        let burst = config.burst.unwrap_or(config.rate);
        if burst == 0 {
            return Err("rate_limit: burst must be above zero".into());
        }
        let name = config.name.as_deref().unwrap_or("default");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(format!(
                "rate_limit.name: '{name}' must be letters, digits, '-', '_' or '.'"
            ));
        }
        // Sub-second windows are written per second (`rate: 1, per: 200ms` is q=5;w=1).
        let (quota, window) = if per < Duration::from_secs(1) {
            (
                (f64::from(config.rate) / per.as_secs_f64()).round() as u64,
                1,
            )
        } else {
            (u64::from(config.rate), per.as_secs())
        };
        let per_token = per / config.rate;
        let shared = config.shared.then(|| SharedLimit {
            prefix: format!("rl:{name}:{route}:").into(),
            spec: BucketSpec {
                burst: u64::from(burst),
                per_token_micros: (per_token.as_micros() as u64).max(1),
            },
            fail: config.fail.unwrap_or_default(),
        });
        Ok(Self {
            name: name.into(),
            key: config.key.unwrap_or_default(),
            burst: f64::from(burst),
            per_token,
            policy: format!("\"{name}\";q={quota};w={window}").into(),
            seed: RandomState::new(),
            buckets: Mutex::new(HashMap::new()),
            shared,
        })
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether its buckets are kept in Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes one token for `key`: from the shared bucket in Redis when the limit is shared
    /// (and `state` is there), else from the local one. While Redis fails, `fail: open` takes
    /// from the local bucket and `fail: closed` refuses; either way the failure is counted and
    /// logged at most once per interval.
    pub(crate) async fn admit(
        &self,
        state: Option<&SharedState>,
        key: impl Hash,
        now: Instant,
    ) -> Result<(), PolicyError> {
        let (Some(limit), Some(state)) = (&self.shared, state) else {
            return self.check(key, now);
        };
        // A hash that is the same in every instance of one polygate build.
        let stable = BuildHasherDefault::<DefaultHasher>::default().hash_one(&key);
        let mut bucket = String::with_capacity(limit.prefix.len() + 16);
        bucket.push_str(&limit.prefix);
        let _ = write!(bucket, "{stable:016x}");
        match state.take(bucket.as_bytes(), limit.spec).await {
            Ok(Taken::Yes) => Ok(()),
            Ok(Taken::No { wait_micros }) => {
                Err(self.refusal(wait_micros.div_ceil(1_000_000).max(1)))
            }
            Err(error) => match limit.fail {
                FailMode::Open => {
                    state.rate_limit_failed(&self.name, &error, "the local bucket decides");
                    self.check(key, now)
                }
                FailMode::Closed => {
                    state.rate_limit_failed(&self.name, &error, "requests are refused");
                    Err(PolicyError::SharedUnavailable {
                        name: self.name.clone(),
                    })
                }
            },
        }
    }

    fn refusal(&self, retry_after: u64) -> PolicyError {
        PolicyError::RateLimited {
            name: self.name.clone(),
            retry_after,
            policy: self.policy.clone(),
            state: format!("\"{}\";r=0;t={retry_after}", self.name).into(),
        }
    }

    /// What the buckets are keyed by.
    pub fn key(&self) -> RateKey {
        self.key
    }

    /// Takes one token from the bucket of `key`, or says when one is back.
    pub(crate) fn check(&self, key: impl Hash, now: Instant) -> Result<(), PolicyError> {
        let hash = self.seed.hash_one(key);
        let per_token = self.per_token.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(&hash) {
            let burst = self.burst;
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() / per_token < burst
            });
        }
        let bucket = buckets.entry(hash).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() / per_token;
        bucket.tokens = (bucket.tokens + refilled).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) * per_token;
        let retry_after = wait.ceil().max(1.0) as u64;
        drop(buckets);
        Err(self.refusal(retry_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::ConfigDuration;

    fn limiter(rate: u32, per: Duration, burst: Option<u32>) -> RateLimiter {
        RateLimiter::build(&RateLimitConfig {
            rate,
            per: Some(ConfigDuration(per)),
            burst,
            key: None,
            name: Some("orders".into()),
            shared: false,
            fail: None,
        })
        .unwrap()
    }

    #[test]
    fn a_bucket_holds_burst_tokens_and_refills_at_the_rate() {
        let limiter = limiter(2, Duration::from_secs(1), Some(3));
        let start = Instant::now();
        for _ in 0..3 {
            limiter.check("a", start).unwrap();
        }
        let refused = limiter.check("a", start).unwrap_err();
        assert_eq!(
            refused,
            PolicyError::RateLimited {
                name: "orders".into(),
                retry_after: 1,
                policy: "\"orders\";q=2;w=1".into(),
                state: "\"orders\";r=0;t=1".into(),
            }
        );
        limiter.check("b", start).unwrap();
        let later = start + Duration::from_millis(500);
        limiter.check("a", later).unwrap();
        assert!(limiter.check("a", later).is_err());
    }

    #[test]
    fn retry_after_counts_whole_seconds_until_a_token_is_back() {
        let limiter = limiter(1, Duration::from_secs(10), None);
        let start = Instant::now();
        limiter.check(1u8, start).unwrap();
        let PolicyError::RateLimited { retry_after, .. } = limiter
            .check(1u8, start + Duration::from_secs(3))
            .unwrap_err()
        else {
            panic!("limited")
        };
        assert_eq!(retry_after, 7);
    }

    #[test]
    fn zero_rates_and_bad_names_are_refused() {
        let config = RateLimitConfig {
            rate: 0,
            per: None,
            burst: None,
            key: None,
            name: None,
            shared: false,
            fail: None,
        };
        assert!(RateLimiter::build(&config).is_err());
        let config = RateLimitConfig {
            rate: 1,
            name: Some("a b".into()),
            ..config
        };
        assert_eq!(
            RateLimiter::build(&config).unwrap_err(),
            "rate_limit.name: 'a b' must be letters, digits, '-', '_' or '.'"
        );
        let config = RateLimitConfig {
            name: None,
            fail: Some(FailMode::Closed),
            ..config
        };
        assert_eq!(
            RateLimiter::build(&config).unwrap_err(),
            "rate_limit.fail applies to shared limits only (shared: true)"
        );
    }

    #[test]
    fn a_shared_limit_names_its_buckets_by_limit_and_route() {
        let config = RateLimitConfig {
            rate: 4,
            per: Some(ConfigDuration(Duration::from_secs(2))),
            burst: Some(6),
            key: None,
            name: Some("orders".into()),
            shared: true,
            fail: Some(FailMode::Closed),
        };
        let limiter = RateLimiter::build_for(&config, "GET /v1/orders").unwrap();
        let shared = limiter.shared.as_ref().unwrap();
        assert_eq!(&*shared.prefix, "rl:orders:GET /v1/orders:");
        assert_eq!(
            shared.spec,
            BucketSpec {
                burst: 6,
                per_token_micros: 500_000
            }
        );
        assert_eq!(shared.fail, FailMode::Closed);
        assert!(limiter.is_shared());
    }
}
