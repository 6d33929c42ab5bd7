//! The cost of the response cache's hook on a hit: building the key from bound values (path
//! variables, a query, a listed header) and looking it up in the moka store, as the pipeline
//! does before binding. Target: key plus lookup under 2 µs. Figures: BENCHMARKS.md.
//!
//! `cargo bench --bench cache`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use polygate::cache::{
    CacheSettings, KeyParts, Lookup, Outcome, Request, ResponseCache, RouteCacheConfig,
};
use polygate::config::units::ConfigDuration;
use polygate::model::{GatewayResponse, Payload, ResponseBody};

const ROUTE: &str = "GET /v1/shops/{shop}/items/{sku}";
const CAPTURES: [&str; 2] = ["north", "CUP-1001"];
const QUERY: &str = "view=full&lang=en&fields=price&fields=stock";

fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("accept-language", HeaderValue::from_static("en-GB"));
    headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    headers.insert("x-request-id", HeaderValue::from_static("r-1"));
    headers
}

fn bench_cache(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = Arc::new(ResponseCache::new(CacheSettings::default()));
    let counters = cache.route_counters("GET", "/v1/shops/{shop}/items/{sku}");
    let policy = RouteCacheConfig {
        ttl: Some(ConfigDuration(Duration::from_secs(3600))),
        vary_headers: vec!["accept-language".into()],
        ..RouteCacheConfig::default()
    }
    .resolve()
    .unwrap();
    let vary = [HeaderName::from_static("accept-language")];
    let headers = headers();
    let parts = KeyParts {
        route: ROUTE,
        method: "GET",
        captures: &CAPTURES,
        query: Some(QUERY),
        headers: &headers,
        vary_headers: &vary,
        principal: None,
    };
    let request = Request {
        policy: &policy,
        parts,
        headers: &headers,
    };
    // Fill the entry (and 10,000 others) as a miss would.
    runtime.block_on(async {
        for sku in 0..10_001 {
            let sku = if sku == 10_000 {
                "CUP-1001".to_owned()
            } else {
                format!("SKU-{sku}")
            };
            let captures = ["north", sku.as_str()];
            let filler = Request {
                parts: KeyParts {
                    captures: &captures,
                    ..parts
                },
                ..request
            };
            let Lookup::Lead(leader) = cache.lookup(&filler, &counters).await else {
                panic!("a fresh key is a miss");
            };
            let answer = GatewayResponse {
                metadata: HeaderMap::new(),
                body: ResponseBody::Unary {
                    message: Payload::Json(Bytes::from_static(
                        br#"{"sku":"CUP-1001","price":450}"#,
                    )),
                    trailers: HeaderMap::new(),
                },
                upstream: None,
                cache: None,
            };
            let prepared = cache.prepare(
                &leader,
                Outcome {
                    backend_headers: &HeaderMap::new(),
                    answer: Ok(&answer),
                    route: ROUTE,
                    values: Vec::new(),
                },
                &policy,
                &counters,
            );
            cache.finish(leader, prepared, &counters).await;
        }
    });

    c.bench_function("cache/key", |b| {
        b.iter(|| black_box(black_box(&parts).key()))
    });
    c.bench_function("cache/key_and_hit", |b| {
        b.iter(|| {
            let found = cache
                .lookup(black_box(&request), &counters)
                .now_or_never()
                .expect("a hit completes at once");
            assert!(matches!(found, Lookup::Fresh(_)));
            black_box(found)
        })
    });
}

criterion_group!(benches, bench_cache);
criterion_main!(benches);
