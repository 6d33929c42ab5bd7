//! State several polygate instances share through one Redis server: the shared token buckets
//! of rate limits marked `shared: true` and the shared tier of the response cache, with its
//! purge channel. [`SharedState`] is the one owner of the connection (a
//! [`ConnectionManager`] that reconnects on its own); every command runs under
//! `command_timeout`, and every failure is counted and logged at most once per interval.
//! Without a `redis:` section none of this exists. See docs/security.md (shared limits) and
//! docs/compose-cache.md (the Redis tier).

mod bucket;
pub mod config;
mod error;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use bucket::{BucketSpec, Taken};
pub use config::{RedisConfig, RedisSettings};
pub use error::SharedError;

use crate::telemetry::metrics::{escape, header};

/// The Redis connection and what is counted about it.
pub struct SharedState {
    settings: RedisSettings,
    client: redis::Client,
    manager: ConnectionManager,
    /// Until when Redis is not tried (after a connection failure), in microseconds since
    /// `epoch`; 0: try.
    down_until: AtomicU64,
    epoch: Instant,
    bucket: redis::Script,
    /// A random id, so an instance can tell its own purge messages from others'.
    instance: u64,
    rate_limit_errors: Mutex<BTreeMap<Box<str>, u64>>,
    rate_limit_log: LogThrottle,
    /// Counters of the cache tier.
    pub cache: CacheTierCounters,
    cache_log: LogThrottle,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may carry a password.
        f.debug_struct("SharedState")
            .field("key_prefix", &self.settings.key_prefix)
            .field("cache", &self.settings.cache)
            .finish_non_exhaustive()
    }
}

/// What the shared cache tier counts.
#[derive(Debug, Default)]
pub struct CacheTierCounters {
    /// Local misses answered from Redis.
    pub hits: AtomicU64,
    /// Local misses Redis did not have either.
    pub misses: AtomicU64,
    /// Answers written to Redis.
    pub writes: AtomicU64,
    /// Values in Redis that were not understood (an unknown format version): treated as misses.
    pub rejected: AtomicU64,
    /// Redis commands of the tier that failed or timed out (the tier was bypassed).
    pub errors: AtomicU64,
    /// Purges received from other instances.
    pub purges_received: AtomicU64,
}

impl SharedState {
    /// The shared state of `settings`. No connection is made yet: the first command connects,
    /// and a failed or lost connection is made again in the background, so a gateway starts
    /// while Redis is down.
    pub fn new(settings: RedisSettings) -> Result<Self, SharedError> {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            // run() bounds every command by command_timeout; a slow answer is not a broken
            // connection.
            .set_response_timeout(None)
            // One attempt per reconnection: retry_interval spaces the next ones.
            .set_number_of_retries(0);
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let instance = {
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::process::id())
        };
        Ok(Self {
            settings,
            client,
            manager,
            down_until: AtomicU64::new(0),
            epoch: Instant::now(),
            bucket: redis::Script::new(bucket::SCRIPT),
            instance,
            rate_limit_errors: Mutex::default(),
            rate_limit_log: LogThrottle::default(),
            cache: CacheTierCounters::default(),
            cache_log: LogThrottle::default(),
        })
    }

    /// The validated `redis:` section.
    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// This instance's random id.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// The client, for connections of their own (the purge subscription).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// `name` under the configured key prefix.
    pub fn key(&self, name: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.settings.key_prefix.len() + name.len());
        key.extend_from_slice(self.settings.key_prefix.as_bytes());
        key.extend_from_slice(name);
        key
    }

    /// Runs one command, or pipeline, under `command_timeout`; within `retry_interval` of a
    /// connection failure, fails at once without trying.
    pub async fn run<T, F, Fut>(&self, command: F) -> Result<T, SharedError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let now = self.micros();
        if now < self.down_until.load(Ordering::Relaxed) {
            return Err(SharedError::Down(self.settings.retry_interval));
        }
        let timeout = self.settings.command_timeout;
        let result = match tokio::time::timeout(timeout, command(self.manager.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(SharedError::from(error)),
            Err(_) => Err(SharedError::Timeout(timeout)),
        };
        if let Err(SharedError::Connection(_)) = &result {
            let retry = self.settings.retry_interval.as_micros() as u64;
            self.down_until
                .store(self.micros().saturating_add(retry), Ordering::Relaxed);
        }
        result
    }

    fn micros(&self) -> u64 {
        // Never 0, so 0 always means "try".
        self.epoch.elapsed().as_micros() as u64 + 1
    }

    /// Takes one token from the shared bucket `key` (atomic, refilled by Redis's clock).
    pub async fn take(&self, key: &[u8], spec: BucketSpec) -> Result<Taken, SharedError> {
        let key = self.key(key);
        let script = &self.bucket;
        let reply: Vec<i64> = self
            .run(|mut connection| async move {
                script
                    .key(key)
                    .arg(spec.burst)
                    .arg(spec.per_token_micros)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        Taken::from_reply(&reply)
    }

    /// Makes the error counter of the shared rate limit `name` show (at 0) before any failure.
    pub fn register_limit(&self, name: &str) {
        self.rate_limit_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.into())
            .or_default();
    }

    /// Counts a failure of the shared rate limit `name` and logs it, at most once per interval.
    pub fn rate_limit_failed(&self, name: &str, error: &SharedError, fallback: &str) {
        *self
            .rate_limit_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.into())
            .or_default() += 1;
        self.rate_limit_log
            .note(self.settings.error_log_interval, |suppressed| {
                tracing::warn!(
                    limit = name,
                    error = %error,
                    "the shared rate limit cannot reach Redis; {fallback} ({suppressed} more failures since the last such line)"
                );
            });
    }

    /// Counts a failure of the cache tier and logs it, at most once per interval.
    pub fn cache_failed(&self, operation: &str, error: &SharedError) {
        self.cache.errors.fetch_add(1, Ordering::Relaxed);
        self.cache_log
            .note(self.settings.error_log_interval, |suppressed| {
                tracing::warn!(
                    operation,
                    error = %error,
                    "the Redis cache tier is bypassed ({suppressed} more failures since the last such line)"
                );
            });
    }

    /// Logs a failed purge subscription (it is tried again), at most once per interval; it is
    /// not a request's failure, so it is not counted with them.
    pub fn subscription_failed(&self, error: &SharedError) {
        self.cache_log
            .note(self.settings.error_log_interval, |suppressed| {
                tracing::warn!(
                    error = %error,
                    "the purge channel cannot be subscribed to; purges from other instances are missed until it is ({suppressed} more failures since the last such line)"
                );
            });
    }

    /// Appends the shared-state metrics.
    fn render(&self, out: &mut String) {
        header(
            out,
            "polygate_rate_limit_redis_errors_total",
            "counter",
            "Shared rate-limit checks that could not use Redis (error or command_timeout), by limit name; each one failed open or closed as configured.",
        );
        let errors = self
            .rate_limit_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (name, count) in errors {
            out.push_str("polygate_rate_limit_redis_errors_total{limit=\"");
            escape(out, &name);
            let _ = writeln!(out, "\"}} {count}");
        }
        let families: [(&str, &str, &AtomicU64); 6] = [
            ("polygate_cache_redis_hits_total", "Local cache misses answered from the Redis tier.", &self.cache.hits),
            ("polygate_cache_redis_misses_total", "Local cache misses the Redis tier did not hold either.", &self.cache.misses),
            ("polygate_cache_redis_writes_total", "Answers written to the Redis tier.", &self.cache.writes),
            ("polygate_cache_redis_rejected_total", "Redis tier values not understood (unknown format version), treated as misses.", &self.cache.rejected),
            ("polygate_cache_redis_errors_total", "Redis tier commands that failed or passed command_timeout; the tier was bypassed and the request went on.", &self.cache.errors),
            ("polygate_cache_redis_purges_received_total", "Purges received from other instances through Redis.", &self.cache.purges_received),
        ];
        for (name, help, counter) in families {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
    }
}

impl crate::telemetry::metrics::RenderMetrics for SharedState {
    fn render_metrics(&self, out: &mut String) {
        self.render(out);
    }
}

/// Lets one log line through per interval and counts the ones it held back.
#[derive(Debug, Default)]
struct LogThrottle {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl LogThrottle {
    fn note(&self, interval: Duration, log: impl FnOnce(u64)) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < interval) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        drop(last);
        log(self.suppressed.swap(0, Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn after_a_connection_failure_redis_is_not_tried_until_the_retry_interval_passes() {
        let settings = RedisConfig {
            url: "redis://127.0.0.1:1/0".into(),
            connect_timeout: None,
            command_timeout: Some(crate::config::units::ConfigDuration(Duration::from_secs(5))),
            retry_interval: Some(crate::config::units::ConfigDuration(Duration::from_secs(
                3600,
            ))),
            key_prefix: None,
            error_log_interval: None,
            cache: false,
        }
        .validate()
        .unwrap();
        let state = SharedState::new(settings).unwrap();
        let spec = BucketSpec {
            burst: 1,
            per_token_micros: 1,
        };
        assert!(matches!(
            state.take(b"k", spec).await,
            Err(SharedError::Connection(_))
        ));
        assert_eq!(
            state.take(b"k", spec).await,
            Err(SharedError::Down(Duration::from_secs(3600)))
        );
        state.rate_limit_failed("orders", &SharedError::Down(Duration::ZERO), "open");
        state.register_limit("items");
        let mut out = String::new();
        state.render(&mut out);
        assert!(out.contains("polygate_rate_limit_redis_errors_total{limit=\"items\"} 0\n"));
        assert!(out.contains("polygate_rate_limit_redis_errors_total{limit=\"orders\"} 1\n"));
        assert!(out.contains("polygate_cache_redis_errors_total 0\n"));
    }

    #[test]
    fn the_log_throttle_lets_one_line_through_per_interval() {
        let throttle = LogThrottle::default();
        let mut lines = Vec::new();
        for _ in 0..5 {
            throttle.note(Duration::from_secs(3600), |n| lines.push(n));
        }
        assert_eq!(lines, vec![0]);
        assert_eq!(throttle.suppressed.load(Ordering::Relaxed), 4);
        throttle.note(Duration::ZERO, |n| lines.push(n));
        assert_eq!(lines, vec![0, 4]);
    }
}
