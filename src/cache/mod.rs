//! The response cache: final client answers of safe unary routes, kept in memory and bounded
//! by bytes, with one backend call per key however many clients miss at once.
//!
//! The pipeline asks [`ResponseCache::lookup`] once a route is found and its policies admitted
//! the request, before binding; on a miss it binds, calls and encodes as usual, then hands the
//! answer to [`ResponseCache::store`] and [`ResponseCache::finish`] so waiters get it. Keys are
//! built from bound values ([`key`]), backend headers decide what may be kept ([`control`]),
//! and entries live behind the [`store::ResponseStore`] trait. See docs/compose-cache.md.

pub mod config;
pub mod control;
pub mod key;
pub mod metrics;
pub mod store;
pub mod tier;

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE, ETAG, PRAGMA};
use http::{HeaderMap, HeaderValue};
use tokio::sync::watch;

pub use config::{CacheConfig, CacheScope, CacheSettings, RouteCacheConfig, RouteCachePolicy};
pub use key::{CacheKey, KeyParts};
pub use metrics::RouteCounters;
pub use store::{Entry, MemoryStore, ResponseStore, StoredAnswer};

use crate::model::{CacheFacts, Code, GatewayResponse, ResponseBody, Status};
use crate::telemetry::metrics::RenderMetrics;
use control::{Defaults, Storability};

/// The response cache of one gateway.
pub struct ResponseCache<S = MemoryStore> {
    store: S,
    settings: CacheSettings,
    flights: Mutex<HashMap<CacheKey, Arc<Flight>>>,
    routes: Mutex<BTreeMap<Arc<str>, Arc<RouteCounters>>>,
    tier: Option<Arc<tier::RedisTier>>,
}

/// One backend call that requests for the same key wait for.
struct Flight {
    done: watch::Sender<Option<FlightEnd>>,
    waiters: std::sync::atomic::AtomicUsize,
}

/// How a flight ended, as its waiters see it.
#[derive(Debug, Clone)]
pub enum FlightEnd {
    /// The answer was stored: serve it.
    Stored(Arc<Entry>),
    /// The answer cannot be shared: call the backend yourself.
    NotShared,
    /// The backend failed with UNAVAILABLE, DEADLINE_EXCEEDED or a 5xx: a stale copy may serve.
    Failed,
}

/// What a lookup found.
pub enum Lookup {
    /// A fresh entry.
    Fresh(Arc<Entry>),
    /// An expired entry within its stale-while-revalidate window; `refresh` is the flight to
    /// fill in the background, when no other refresh runs.
    Stale {
        /// The entry to serve.
        entry: Arc<Entry>,
        /// The refresh to run, when this request is the one to start it.
        refresh: Option<Leader>,
    },
    /// Nothing fresh: this request makes the backend call, and others wait for it.
    Lead(Leader),
    /// Another request is calling the backend: wait for its answer.
    Wait(Waiter),
    /// The cache does not take part (credentials, hit-for-miss, a full wait list).
    Bypass(&'static str),
}

/// The request that calls the backend for a key; dropping it without
/// [`ResponseCache::finish`] tells the waiters to call the backend themselves.
pub struct Leader {
    /// The key.
    pub key: CacheKey,
    flight: Arc<Flight>,
    /// An expired entry that may serve if the call fails (stale-if-error).
    pub stale: Option<Arc<Entry>>,
    /// The client asked for a fresh answer (`no-cache`, when the route allows it).
    pub forced: bool,
    finished: bool,
    cache: Option<Arc<ResponseCache>>,
}

/// A request waiting for a leader's answer.
pub struct Waiter {
    receiver: watch::Receiver<Option<FlightEnd>>,
    /// An expired entry that may serve if the call fails (stale-if-error).
    pub stale: Option<Arc<Entry>>,
}

impl Waiter {
    /// Waits up to `timeout` for the leader's answer; `None` when it did not come in time.
    pub async fn wait(mut self, timeout: Duration) -> Option<FlightEnd> {
        let ended = tokio::time::timeout(timeout, self.receiver.wait_for(Option::is_some)).await;
        match ended {
            Ok(Ok(end)) => end.clone(),
            // The leader went away without finishing: not shared.
            Ok(Err(_)) => Some(FlightEnd::NotShared),
            Err(_) => None,
        }
    }
}

/// What the request brings to a lookup.
pub struct Request<'a> {
    /// The route's cache policy.
    pub policy: &'a RouteCachePolicy,
    /// The key's parts.
    pub parts: KeyParts<'a>,
    /// The request's headers as the client sent them.
    pub headers: &'a HeaderMap,
}

impl ResponseCache<MemoryStore> {
    /// An in-memory cache with `settings`.
    pub fn new(settings: CacheSettings) -> Self {
        Self::with_store(MemoryStore::new(settings.max_size), settings)
    }
}

impl Default for ResponseCache<MemoryStore> {
    fn default() -> Self {
        Self::new(CacheSettings::default())
    }
}

impl<S: ResponseStore> ResponseCache<S> {
    /// A cache over `store`.
    pub fn with_store(store: S, settings: CacheSettings) -> Self {
        Self {
            store,
            settings,
            flights: Mutex::default(),
            routes: Mutex::default(),
            tier: None,
        }
    }

    /// The same cache with a shared tier in Redis.
    pub fn with_tier(self, tier: Option<tier::RedisTier>) -> Self {
        Self {
            tier: tier.map(Arc::new),
            ..self
        }
    }

    /// The shared tier, when `redis: {cache: true}` configures one.
    pub fn tier(&self) -> Option<&Arc<tier::RedisTier>> {
        self.tier.as_ref()
    }

    /// The store's settings.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// The counters of the route `method route` (one set per route template, kept across
    /// reloads).
    pub fn route_counters(&self, method: &str, route: &str) -> Arc<RouteCounters> {
        let name: Arc<str> = format!("{method} {route}").into();
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name)
            .or_insert_with(|| Arc::new(RouteCounters::new(method, route)))
            .clone()
    }

    /// The weight of every entry together, once pending evictions are applied.
    pub async fn weighted_size(&self) -> u64 {
        self.store.settle().await;
        self.store.weighted_size()
    }
}

impl ResponseCache<MemoryStore> {
    /// Looks `request` up: a fresh or stale entry, or the flight to lead or wait for.
    pub async fn lookup(
        self: &Arc<Self>,
        request: &Request<'_>,
        counters: &Arc<RouteCounters>,
    ) -> Lookup {
        let policy = request.policy;
        if policy.scope == CacheScope::Shared
            && (request.headers.contains_key(AUTHORIZATION) || request.headers.contains_key(COOKIE))
        {
            RouteCounters::count(&counters.bypassed);
            return Lookup::Bypass("credentials");
        }
        if policy.scope == CacheScope::PerPrincipal && request.parts.principal.is_none() {
            RouteCounters::count(&counters.bypassed);
            return Lookup::Bypass("anonymous");
        }
        let key = request.parts.key();
        let forced = policy.allow_client_no_cache && client_no_cache(request.headers);
        let found = if forced {
            None
        } else {
            match self.store.get(&key).await {
                Some(entry) => Some(entry),
                None => self.read_tier(&key, counters).await,
            }
        };
        let now = Instant::now();
        let mut stale = None;
        if let Some(entry) = found {
            if entry.answer.is_none() {
                RouteCounters::count(&counters.bypassed);
                return Lookup::Bypass("hit-for-miss");
            }
            let age = entry.age(now);
            if age < entry.fresh {
                RouteCounters::count(&counters.hits);
                return Lookup::Fresh(entry);
            }
            if age < entry.fresh + entry.stale_while_revalidate {
                RouteCounters::count(&counters.stale);
                let refresh = self.lead_if_idle(&key, forced);
                return Lookup::Stale { entry, refresh };
            }
            if age < entry.fresh + entry.stale_if_error {
                stale = Some(entry);
            }
        }
        match self.join(&key, stale, forced) {
            Err(leader) => {
                RouteCounters::count(&counters.misses);
                Lookup::Lead(leader)
            }
            Ok(Some(waiter)) => {
                RouteCounters::count(&counters.coalesced);
                Lookup::Wait(waiter)
            }
            Ok(None) => {
                RouteCounters::count(&counters.bypassed);
                Lookup::Bypass("waiters")
            }
        }
    }

    /// A local miss read from the shared tier, kept locally when found.
    async fn read_tier(&self, key: &CacheKey, counters: &Arc<RouteCounters>) -> Option<Arc<Entry>> {
        let tier = self.tier.as_ref()?;
        // A call for the key is under way here: wait for it rather than ask Redis again.
        if self
            .flights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(key)
        {
            return None;
        }
        let entry = tier.get(key, counters).await?;
        self.store.insert(key.clone(), entry.clone()).await;
        Some(entry)
    }

    /// Starts the flight for `key` when none runs (a background refresh never waits).
    fn lead_if_idle(self: &Arc<Self>, key: &CacheKey, forced: bool) -> Option<Leader> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.contains_key(key) {
            return None;
        }
        let flight = Arc::new(Flight {
            done: watch::Sender::new(None),
            waiters: Default::default(),
        });
        flights.insert(key.clone(), flight.clone());
        Some(Leader {
            key: key.clone(),
            flight,
            stale: None,
            forced,
            finished: false,
            cache: Some(self.clone()),
        })
    }

    /// Joins the flight for `key` as a waiter (`Ok(Some)`), or, when none runs, starts it
    /// (`Err(leader)`); `Ok(None)` when its wait list is full.
    fn join(
        self: &Arc<Self>,
        key: &CacheKey,
        stale: Option<Arc<Entry>>,
        forced: bool,
    ) -> Result<Option<Waiter>, Leader> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = flights.get(key) {
            if flight.waiters.fetch_add(1, Ordering::Relaxed) >= self.settings.max_waiters {
                flight.waiters.fetch_sub(1, Ordering::Relaxed);
                return Ok(None);
            }
            return Ok(Some(Waiter {
                receiver: flight.done.subscribe(),
                stale,
            }));
        }
        let flight = Arc::new(Flight {
            done: watch::Sender::new(None),
            waiters: Default::default(),
        });
        flights.insert(key.clone(), flight.clone());
        Err(Leader {
            key: key.clone(),
            flight,
            stale,
            forced,
            finished: false,
            cache: Some(self.clone()),
        })
    }

    /// Decides what a leader's call leaves in the cache (synchronously: the outcome borrows
    /// the answer).
    pub fn prepare(
        &self,
        leader: &Leader,
        outcome: Outcome<'_>,
        policy: &RouteCachePolicy,
        counters: &Arc<RouteCounters>,
    ) -> Prepared {
        Prepared(self.entry(&leader.key, outcome, policy, counters))
    }

    /// Stores what [`prepare`](Self::prepare) decided and ends the flight; returns what the
    /// client's `Cache-Status` says.
    pub async fn finish(
        &self,
        mut leader: Leader,
        prepared: Prepared,
        counters: &Arc<RouteCounters>,
    ) -> Finished {
        let (end, finished) = match prepared.0 {
            Ok(entry) => {
                self.store.insert(leader.key.clone(), entry.clone()).await;
                if let Some(tier) = &self.tier {
                    tier.put(&leader.key, &entry).await;
                }
                (FlightEnd::Stored(entry.clone()), Finished::Stored(entry))
            }
            Err(Refusal::Failed) => (FlightEnd::Failed, Finished::Failed),
            Err(Refusal::Uncacheable(reason)) => {
                RouteCounters::count(&counters.not_stored);
                // Hit-for-miss: the key goes straight to the backend for a while, unless a
                // stale copy is worth keeping for stale-if-error.
                if leader.stale.is_none() {
                    let marker = self.marker(&leader.key, counters);
                    self.store.insert(leader.key.clone(), marker).await;
                }
                (FlightEnd::NotShared, Finished::NotStored(reason))
            }
            Err(Refusal::Other(reason)) => {
                RouteCounters::count(&counters.not_stored);
                (FlightEnd::NotShared, Finished::NotStored(reason))
            }
        };
        self.end_flight(&leader.key, &leader.flight, end);
        leader.finished = true;
        finished
    }

    fn end_flight(&self, key: &CacheKey, flight: &Arc<Flight>, end: FlightEnd) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            flights.remove(key);
        }
        drop(flights);
        flight.done.send_replace(Some(end));
    }

    fn marker(&self, key: &CacheKey, counters: &Arc<RouteCounters>) -> Arc<Entry> {
        Arc::new(Entry {
            answer: None,
            etag: HeaderValue::from_static("\"\""),
            stored_at: Instant::now(),
            fresh: self.settings.hit_for_miss,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            route: Arc::from(""),
            values: Box::new([]),
            tags: Box::new([]),
            weight: (key.as_bytes().len() + 128) as u32,
            counters: counters.clone(),
        })
    }

    /// The entry an outcome makes, or why none.
    fn entry(
        &self,
        key: &CacheKey,
        outcome: Outcome<'_>,
        policy: &RouteCachePolicy,
        counters: &Arc<RouteCounters>,
    ) -> Result<Arc<Entry>, Refusal> {
        let Outcome {
            backend_headers,
            answer,
            route,
            values,
        } = outcome;
        let (stored, status) = match answer {
            Ok(response) => {
                let status = response.upstream.as_ref().map_or(200, |u| u.status);
                let ResponseBody::Unary { message, trailers } = &response.body else {
                    return Err(Refusal::Other("stream"));
                };
                (
                    StoredAnswer::Success {
                        metadata: response.metadata.clone(),
                        message: message.clone(),
                        trailers: trailers.clone(),
                        upstream: response.upstream.clone(),
                    },
                    status,
                )
            }
            Err(status) => {
                let http = status.upstream().map(|u| u.status);
                match (status.code(), http) {
                    (_, Some(500..=599)) | (Code::Unavailable | Code::DeadlineExceeded, _) => {
                        return Err(Refusal::Failed)
                    }
                    (_, Some(code @ (404 | 410))) => (StoredAnswer::Negative(status.clone()), code),
                    (Code::NotFound, None) => (StoredAnswer::Negative(status.clone()), 404),
                    (Code::Internal | Code::Unknown | Code::DataLoss, _) => {
                        return Err(Refusal::Failed)
                    }
                    _ => return Err(Refusal::Other("error")),
                }
            }
        };
        let fresh_default = match status {
            200 | 203 | 204 => policy.ttl,
            404 | 410 => match policy.negative_ttl {
                Some(ttl) => ttl,
                None => return Err(Refusal::Other("status")),
            },
            500..=599 => return Err(Refusal::Failed),
            _ => return Err(Refusal::Other("status")),
        };
        let defaults = Defaults {
            ttl: fresh_default,
            stale_while_revalidate: policy.stale_while_revalidate,
            stale_if_error: policy.stale_if_error,
            per_principal: policy.scope == CacheScope::PerPrincipal,
            vary_headers: &policy.vary_headers,
        };
        let (fresh, stale_while_revalidate, stale_if_error) =
            match control::storability(backend_headers, defaults, SystemTime::now()) {
                Storability::Store {
                    fresh,
                    stale_while_revalidate,
                    stale_if_error,
                } => (fresh, stale_while_revalidate, stale_if_error),
                Storability::Refuse(reason) => return Err(Refusal::Uncacheable(reason)),
            };
        let weight = key.as_bytes().len() + weigh(&stored) + 256;
        if weight as u64 > self.settings.max_entry_size {
            return Err(Refusal::Uncacheable("too-large"));
        }
        let etag = match &stored {
            StoredAnswer::Success {
                upstream, message, ..
            } => upstream
                .as_ref()
                .and_then(|u| u.headers.get(ETAG).filter(|v| is_strong(v)).cloned())
                .unwrap_or_else(|| strong_etag(status, message.bytes())),
            StoredAnswer::Negative(_) => HeaderValue::from_static("\"\""),
        };
        let tags = policy
            .tags
            .iter()
            .map(|t| {
                t.render(|name| {
                    values
                        .iter()
                        .find(|(n, _)| n.as_ref() == name)
                        .map(|(_, v)| v.as_ref())
                })
                .into_boxed_str()
            })
            .collect();
        Ok(Arc::new(Entry {
            answer: Some(stored),
            etag,
            stored_at: Instant::now(),
            fresh,
            stale_while_revalidate,
            stale_if_error,
            route: route.into(),
            values: values.into(),
            tags,
            weight: weight as u32,
            counters: counters.clone(),
        }))
    }

    /// Drops the entries `purge` names, here and, with a shared tier, in Redis and (through
    /// the purge channel) in every other instance; returns how many this instance held.
    pub async fn purge(&self, purge: &Purge) -> usize {
        let purged = self.purge_local(purge).await;
        if let Some(tier) = &self.tier {
            let shared = tier.purge(purge).await;
            tracing::debug!(shared, "purged the Redis tier's copies");
        }
        purged
    }

    /// Drops the entries `purge` names from this instance's store only; returns how many.
    pub async fn purge_local(&self, purge: &Purge) -> usize {
        let keys = self.store.keys_where(&|entry: &Entry| purge.matches(entry));
        for key in &keys {
            self.store.remove(key).await;
        }
        self.store.settle().await;
        keys.len()
    }

    /// Renders the cache's metrics.
    fn render(&self, out: &mut String) {
        let routes: Vec<Arc<RouteCounters>> = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        metrics::render(
            out,
            &routes,
            self.store.weighted_size(),
            self.settings.max_size,
            self.store.entry_count(),
        );
    }
}

impl RenderMetrics for ResponseCache<MemoryStore> {
    fn render_metrics(&self, out: &mut String) {
        self.render(out);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(cache) = self.cache.take() {
                cache.end_flight(&self.key, &self.flight, FlightEnd::NotShared);
            }
        }
    }
}

/// What a leader's call produced.
pub struct Outcome<'a> {
    /// The backend's own headers: a REST or XML backend's reply headers, or a gRPC backend's
    /// response metadata.
    pub backend_headers: &'a HeaderMap,
    /// The encoded answer (what the client gets).
    pub answer: Result<&'a GatewayResponse, &'a Status>,
    /// The route's identity.
    pub route: &'a str,
    /// The bound values by name.
    pub values: Vec<(Box<str>, Box<str>)>,
}

/// What a leader's call leaves in the cache, decided by [`ResponseCache::prepare`].
pub struct Prepared(Result<Arc<Entry>, Refusal>);

/// Why an answer was not stored.
enum Refusal {
    /// The backend failed (5xx, UNAVAILABLE, DEADLINE_EXCEEDED): stale-if-error may serve.
    Failed,
    /// Its headers or size forbid storing it: the key becomes hit-for-miss.
    Uncacheable(&'static str),
    /// Its status is not stored.
    Other(&'static str),
}

/// How a leader's call ended for the cache.
#[derive(Debug)]
pub enum Finished {
    /// Stored.
    Stored(Arc<Entry>),
    /// Not stored, for this reason.
    NotStored(&'static str),
    /// The backend failed.
    Failed,
}

/// What `POST /cache/purge` drops.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Purge {
    /// Only the entries of this route (`GET /v1/items/{sku}`).
    #[serde(default)]
    pub route: Option<String>,
    /// Only entries bound to these values (path variables or query parameters by name);
    /// needs `route`.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Only entries carrying this tag.
    #[serde(default)]
    pub tag: Option<String>,
}

impl Purge {
    /// Whether `entry` is one to drop.
    pub fn matches(&self, entry: &Entry) -> bool {
        if entry.answer.is_none() {
            return self.route.is_none() && self.tag.is_none();
        }
        if self.route.as_deref().is_some_and(|r| r != &*entry.route) {
            return false;
        }
        if !self.values.iter().all(|(name, value)| {
            entry
                .values
                .iter()
                .any(|(n, v)| n.as_ref() == name && v.as_ref() == value)
        }) {
            return false;
        }
        self.tag
            .as_deref()
            .is_none_or(|tag| entry.tags.iter().any(|t| t.as_ref() == tag))
    }
}

/// The client answer an entry gives, with its cache facts.
pub fn respond(
    entry: &Entry,
    status: &'static str,
    now: Instant,
) -> Result<GatewayResponse, Status> {
    match entry.answer.as_ref() {
        Some(StoredAnswer::Success {
            metadata,
            message,
            trailers,
            upstream,
        }) => Ok(GatewayResponse {
            metadata: metadata.clone(),
            body: ResponseBody::Unary {
                message: message.clone(),
                trailers: trailers.clone(),
            },
            upstream: upstream.clone(),
            cache: Some(Box::new(CacheFacts {
                status: HeaderValue::from_static(status),
                etag: Some(entry.etag.clone()),
                age: Some(entry.age(now).as_secs()),
            })),
        }),
        Some(StoredAnswer::Negative(status)) => Err(status.clone()),
        None => Err(Status::internal("a hit-for-miss marker has no answer")),
    }
}

/// Cache facts with a `Cache-Status` of `status`, for an answer that was not served from the
/// cache.
pub fn facts(status: &str, etag: Option<HeaderValue>) -> Box<CacheFacts> {
    Box::new(CacheFacts {
        status: HeaderValue::from_str(status).unwrap_or(HeaderValue::from_static("polygate")),
        etag,
        age: None,
    })
}

/// A strong validator for an answer: its status and a hash of its bytes.
pub fn strong_etag(status: u16, body: &[u8]) -> HeaderValue {
    let mut hasher = DefaultHasher::new();
    hasher.write_u16(status);
    hasher.write(body);
    let text = format!("\"pg-{:016x}-{:x}\"", hasher.finish(), body.len());
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("\"pg\""))
}

fn is_strong(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"'
}

/// What an entry weighs besides its key.
fn weigh(answer: &StoredAnswer) -> usize {
    let headers = |map: &HeaderMap| {
        map.iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 16)
            .sum::<usize>()
    };
    match answer {
        StoredAnswer::Success {
            metadata,
            message,
            trailers,
            upstream,
        } => {
            message.bytes().len()
                + headers(metadata)
                + headers(trailers)
                + upstream.as_ref().map_or(0, |u| {
                    headers(&u.headers) + u.body.as_ref().map_or(0, |b| b.bytes().len()) + 64
                })
        }
        StoredAnswer::Negative(status) => status.message().len() + 256,
    }
}

/// Whether the client asked for a fresh answer (`Cache-Control: no-cache` or `max-age=0`, or
/// `Pragma: no-cache`).
fn client_no_cache(headers: &HeaderMap) -> bool {
    let control =
        control::CacheControl::parse(headers.get_all(CACHE_CONTROL).iter().map(|v| v.as_bytes()));
    control.no_cache
        || control.max_age == Some(Duration::ZERO)
        || headers
            .get(PRAGMA)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-cache"))
}

/// Whether a failed refresh lets a stale copy serve: UNAVAILABLE, DEADLINE_EXCEEDED or a 5xx.
pub fn stale_may_serve(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Internal
            | Code::Unknown
            | Code::DataLoss
    ) || status.upstream().is_some_and(|u| u.status >= 500)
}
