//! The cache's counters per route template, rendered in Prometheus text beside the gateway's
//! other metrics.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::telemetry::metrics::{escape, header};

/// One route's cache counters.
#[derive(Debug, Default)]
pub struct RouteCounters {
    /// The route's identity in keys and purges: `GET /v1/items/{sku}`.
    pub name: std::sync::Arc<str>,
    method: Box<str>,
    route: Box<str>,
    /// Answers served from the cache (fresh).
    pub hits: AtomicU64,
    /// Lookups that found nothing usable and called the backend.
    pub misses: AtomicU64,
    /// Expired answers served (while revalidating, or on a backend error).
    pub stale: AtomicU64,
    /// Requests that waited for another request's backend call.
    pub coalesced: AtomicU64,
    /// Requests that skipped the cache (credentials, hit-for-miss, a client's no-cache).
    pub bypassed: AtomicU64,
    /// Answers that could not be stored (headers, status or size).
    pub not_stored: AtomicU64,
    /// Entries dropped to keep the cache under `max_size`.
    pub evictions: AtomicU64,
    /// Bytes the route's entries weigh now.
    pub bytes: AtomicI64,
}

impl RouteCounters {
    /// Counters for the route `method route`.
    pub fn new(method: &str, route: &str) -> Self {
        Self {
            name: format!("{method} {route}").into(),
            method: method.into(),
            route: route.into(),
            ..Self::default()
        }
    }

    /// Adds one to `counter`.
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn labels(&self, out: &mut String) {
        out.push_str("{method=\"");
        escape(out, &self.method);
        out.push_str("\",route=\"");
        escape(out, &self.route);
        out.push_str("\"}");
    }
}

/// The families, in order: name, type, help, and which counter.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RouteCounters) -> i64,
);

const FAMILIES: [Family; 8] = [
    ("polygate_cache_hits_total", "counter", "Answers served fresh from the response cache, by route template.", |c| c.hits.load(Ordering::Relaxed) as i64),
    ("polygate_cache_misses_total", "counter", "Cache lookups that called the backend, by route template.", |c| c.misses.load(Ordering::Relaxed) as i64),
    ("polygate_cache_stale_total", "counter", "Expired answers served (stale-while-revalidate, stale-if-error), by route template.", |c| c.stale.load(Ordering::Relaxed) as i64),
    ("polygate_cache_coalesced_total", "counter", "Requests that waited for another request's backend call instead of making their own, by route template.", |c| c.coalesced.load(Ordering::Relaxed) as i64),
    ("polygate_cache_bypassed_total", "counter", "Requests that skipped the cache (credentials, hit-for-miss, an allowed client no-cache), by route template.", |c| c.bypassed.load(Ordering::Relaxed) as i64),
    ("polygate_cache_not_stored_total", "counter", "Backend answers that could not be stored (headers, status or size), by route template.", |c| c.not_stored.load(Ordering::Relaxed) as i64),
    ("polygate_cache_evictions_total", "counter", "Entries evicted to keep the cache under max_size, by route template.", |c| c.evictions.load(Ordering::Relaxed) as i64),
    ("polygate_cache_entry_bytes", "gauge", "Bytes the route's stored answers weigh (keys, bodies, headers), by route template.", |c| c.bytes.load(Ordering::Relaxed)),
];

/// Renders every route's counters, then the store's totals.
pub fn render(
    out: &mut String,
    routes: &[std::sync::Arc<RouteCounters>],
    weighted: u64,
    max: u64,
    entries: u64,
) {
    for (name, kind, help, pick) in FAMILIES {
        header(out, name, kind, help);
        for route in routes {
            out.push_str(name);
            route.labels(out);
            let _ = writeln!(out, " {}", pick(route).max(0));
        }
    }
    header(
        out,
        "polygate_cache_size_bytes",
        "gauge",
        "Bytes the response cache holds (its weighted size).",
    );
    let _ = writeln!(out, "polygate_cache_size_bytes {weighted}");
    header(
        out,
        "polygate_cache_max_size_bytes",
        "gauge",
        "The response cache's bound (cache.max_size).",
    );
    let _ = writeln!(out, "polygate_cache_max_size_bytes {max}");
    header(
        out,
        "polygate_cache_entries",
        "gauge",
        "Entries the response cache holds.",
    );
    let _ = writeln!(out, "polygate_cache_entries {entries}");
}
