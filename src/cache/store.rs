//! Where entries live: the [`ResponseStore`] trait and its in-memory implementation on moka's
//! `future::Cache` (TinyLFU admission, a byte weigher, an expiry per entry).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use moka::notification::RemovalCause;

use super::key::CacheKey;
use super::metrics::RouteCounters;
use crate::model::{Payload, Status, UpstreamReply};

/// A stored final client answer (unary only).
// Entries sit behind an `Arc`, one allocation each: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum StoredAnswer {
    /// A success, as the frontend will encode it.
    Success {
        /// Leading metadata.
        metadata: HeaderMap,
        /// The message in the client's form.
        message: Payload,
        /// Trailing metadata.
        trailers: HeaderMap,
        /// The REST or XML backend's reply passed on, if the route passes it.
        upstream: Option<Box<UpstreamReply>>,
    },
    /// A 404 or 410 kept for `negative_ttl`.
    Negative(Status),
}

/// One entry: an answer with its freshness, or a hit-for-miss marker.
#[derive(Debug)]
pub struct Entry {
    /// The answer; `None` for a hit-for-miss marker.
    pub answer: Option<StoredAnswer>,
    /// Its strong validator.
    pub etag: HeaderValue,
    /// When it was stored.
    pub stored_at: Instant,
    /// How long it is fresh.
    pub fresh: Duration,
    /// How long after that it may be served while one refresh runs.
    pub stale_while_revalidate: Duration,
    /// How long after freshness it may be served when a refresh fails.
    pub stale_if_error: Duration,
    /// The route's identity (`GET /v1/items/{sku}`), for purges.
    pub route: Arc<str>,
    /// The bound values by name (path variables, then query parameters), for purges.
    pub values: Box<[(Box<str>, Box<str>)]>,
    /// The entry's tags.
    pub tags: Box<[Box<str>]>,
    /// What it weighs (key included).
    pub weight: u32,
    /// The route's counters (bytes, evictions).
    pub counters: Arc<RouteCounters>,
}

impl Entry {
    /// How long the store keeps it: fresh, then the longer stale window.
    pub fn lifetime(&self) -> Duration {
        self.fresh + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// Its age now.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.stored_at)
    }
}

/// A store of entries. The in-memory one is [`MemoryStore`]; a shared tier (Redis) would be
/// another.
pub trait ResponseStore: Send + Sync + 'static {
    /// The entry under `key`, if any is alive.
    fn get(&self, key: &CacheKey) -> impl Future<Output = Option<Arc<Entry>>> + Send;
    /// Stores `entry` under `key`, replacing any.
    fn insert(&self, key: CacheKey, entry: Arc<Entry>) -> impl Future<Output = ()> + Send;
    /// Drops the entry under `key`.
    fn remove(&self, key: &CacheKey) -> impl Future<Output = ()> + Send;
    /// The keys of the entries `matches` picks.
    fn keys_where(&self, matches: &dyn Fn(&Entry) -> bool) -> Vec<CacheKey>;
    /// Applies pending evictions, so sizes are exact.
    fn settle(&self) -> impl Future<Output = ()> + Send;
    /// The weight of every entry together.
    fn weighted_size(&self) -> u64;
    /// How many entries it holds.
    fn entry_count(&self) -> u64;
}

/// Per-entry expiry: each entry's own lifetime.
struct Lifetime;

impl moka::Expiry<CacheKey, Arc<Entry>> for Lifetime {
    fn expire_after_create(
        &self,
        _: &CacheKey,
        entry: &Arc<Entry>,
        _: Instant,
    ) -> Option<Duration> {
        Some(entry.lifetime())
    }

    fn expire_after_update(
        &self,
        _: &CacheKey,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.lifetime())
    }
}

/// The in-memory store, bounded by weight.
pub struct MemoryStore {
    cache: moka::future::Cache<CacheKey, Arc<Entry>>,
}

impl MemoryStore {
    /// A store holding at most `max_size` bytes of entries.
    pub fn new(max_size: u64) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(max_size)
            .weigher(|_: &CacheKey, entry: &Arc<Entry>| entry.weight)
            .expire_after(Lifetime)
            .eviction_listener(|_key, entry: Arc<Entry>, cause| {
                entry
                    .counters
                    .bytes
                    .fetch_sub(i64::from(entry.weight), Ordering::Relaxed);
                if cause == RemovalCause::Size {
                    RouteCounters::count(&entry.counters.evictions);
                }
            })
            .build();
        Self { cache }
    }
}

impl ResponseStore for MemoryStore {
    async fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.cache.get(key).await
    }

    async fn insert(&self, key: CacheKey, entry: Arc<Entry>) {
        entry
            .counters
            .bytes
            .fetch_add(i64::from(entry.weight), Ordering::Relaxed);
        self.cache.insert(key, entry).await;
    }

    async fn remove(&self, key: &CacheKey) {
        self.cache.invalidate(key).await;
    }

    fn keys_where(&self, matches: &dyn Fn(&Entry) -> bool) -> Vec<CacheKey> {
        self.cache
            .iter()
            .filter(|(_, entry)| matches(entry))
            .map(|(key, _)| CacheKey::clone(&key))
            .collect()
    }

    async fn settle(&self) {
        self.cache.run_pending_tasks().await;
    }

    fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }

    fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}
